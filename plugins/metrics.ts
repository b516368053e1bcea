import fp from 'fastify-plugin'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { BackendState } from '../backends/backend.js'
import { CallWindow } from '../mcp/call-window.js'

declare module 'fastify' {
  interface FastifyInstance { metrics: GatewayMetrics }
}

/**
 * Why an authentication was refused, the `reason` label of `onemcp_auth_failures_total`: the OAuth
 * error code the client got (RFC 6750 for the MCP endpoints, RFC 6749 for /token), or `missing_token`.
 */
export type AuthFailureReason = 'missing_token' | 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'invalid_client' | 'invalid_grant' | 'other'

export interface GatewayMetrics {
  /** every metric of this gateway instance (one registry per app, never prom-client's global one) */
  readonly registry: Registry
  /**
   * Records one finished client request: its MCP method, the backend it went to (undefined when the
   * gateway answered itself: lists, ping), its duration, and its JSON-RPC error code when it failed.
   */
  observeRequest: (method: string, backend: string | undefined, seconds: number, errorCode?: number) => void
  /** For the auth plugin: `app.metrics.authFailures.inc({ reason: 'invalid_token' })` on every refusal. */
  readonly authFailures: Counter<'reason'>
  /** Notifications not written to a client stream because the client is too far behind in reading it */
  readonly clientNotificationsDropped: Counter
  /** the last minutes of calls per backend (rate, errors, latency percentiles), for the status page */
  readonly recent: CallWindow
}

/** Label for requests the gateway answers without a backend. */
export const NO_BACKEND = '(gateway)'

/** The methods that get their own label value; anything else a client sends is counted as `other`. */
const KNOWN_METHODS = new Set([
  'initialize', 'ping', 'tools/list', 'tools/call', 'prompts/list', 'prompts/get', 'resources/list', 'resources/read',
  'resources/templates/list', 'resources/subscribe', 'resources/unsubscribe', 'completion/complete', 'logging/setLevel',
  'tasks/get', 'tasks/result', 'tasks/list', 'tasks/cancel', 'tasks/update'
])

const STATES: BackendState[] = ['starting', 'ready', 'restarting', 'stopped', 'crash-loop', 'needs-auth']

/** Seconds: from sub-millisecond list answers to tool calls at the 60 s default timeout. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

/**
 * Prometheus metrics of the gateway (served by `routes/metrics.ts` at `/metrics`). The request path
 * only does a map lookup and a histogram observation per call; everything about backends and sessions
 * is read when Prometheus scrapes, not kept up to date on the hot path. Registered right after
 * `config`, so every later plugin can count into it; backends, capabilities and sessions are read
 * only at scrape time.
 */
export default fp(async (app) => {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })

  const duration = new Histogram({
    name: 'onemcp_request_duration_seconds',
    help: 'Client requests by MCP method and backend: latency (the _count is the number of requests)',
    labelNames: ['method', 'backend'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry]
  })
  const errors = new Counter({
    name: 'onemcp_request_errors_total',
    help: 'Client requests answered with a JSON-RPC error, by method, backend and error code',
    labelNames: ['method', 'backend', 'code'] as const,
    registers: [registry]
  })
  const authFailures = new Counter({
    name: 'onemcp_auth_failures_total',
    help: 'Refused authentications and authorizations, by reason',
    labelNames: ['reason'] as const,
    registers: [registry]
  })

  const clientNotificationsDropped = new Counter({
    name: 'onemcp_client_notifications_dropped_total',
    help: 'Notifications not written to a client\'s event stream because the client had not read the last 1 MiB sent to it (answers are always written)',
    registers: [registry]
  })

  new Gauge({ // eslint-disable-line no-new
    name: 'onemcp_backend_state',
    help: 'Backend state: 1 for the state each backend is in, 0 for the others',
    labelNames: ['backend', 'state'] as const,
    registers: [registry],
    collect () {
      this.reset()
      for (const backend of app.backends.all()) {
        for (const state of STATES) this.set({ backend: backend.name, state }, backend.state === state ? 1 : 0)
      }
    }
  })
  new Counter({ // eslint-disable-line no-new
    name: 'onemcp_backend_restarts_total',
    help: 'Restarts of each backend since it was configured',
    labelNames: ['backend'] as const,
    registers: [registry],
    collect () {
      this.reset()
      for (const backend of app.backends.all()) this.inc({ backend: backend.name }, backend.restarts)
    }
  })
  new Counter({ // eslint-disable-line no-new
    name: 'onemcp_backend_notifications_dropped_total',
    help: 'Notifications from each backend dropped on arrival because no client would receive them (log messages nobody listens to, progress of calls that ended)',
    labelNames: ['backend'] as const,
    registers: [registry],
    collect () {
      this.reset()
      for (const backend of app.backends.all()) this.inc({ backend: backend.name }, backend.droppedNotifications)
    }
  })
  new Gauge({ // eslint-disable-line no-new
    name: 'onemcp_backend_tools',
    help: 'Tools each backend exposes through the gateway',
    labelNames: ['backend'] as const,
    registers: [registry],
    collect () {
      this.reset()
      for (const backend of app.backends.all()) this.set({ backend: backend.name }, app.capabilities.toolCount(backend.name))
    }
  })
  new Gauge({ // eslint-disable-line no-new
    name: 'onemcp_backend_replica_state',
    help: 'State of each replica of a backend (replicas: N): 1 for the state it is in (and breaker="open" while its circuit breaker is)',
    labelNames: ['backend', 'replica', 'state'] as const,
    registers: [registry],
    collect () {
      this.reset()
      for (const backend of app.backends.all()) {
        for (const r of backend.health()) {
          for (const state of STATES) this.set({ backend: backend.name, replica: r.replica, state }, r.state === state ? 1 : 0)
          if (r.breaker) this.set({ backend: backend.name, replica: r.replica, state: 'breaker-open' }, r.breaker === 'open' ? 1 : 0)
        }
      }
    }
  })
  new Gauge({ // eslint-disable-line no-new
    name: 'onemcp_backend_replica_in_flight',
    help: 'Calls in flight on each replica of a backend',
    labelNames: ['backend', 'replica'] as const,
    registers: [registry],
    collect () {
      this.reset()
      for (const backend of app.backends.all()) for (const r of backend.health()) this.set({ backend: backend.name, replica: r.replica }, r.active)
    }
  })
  new Gauge({ // eslint-disable-line no-new
    name: 'onemcp_sessions',
    help: 'Client sessions open',
    registers: [registry],
    collect () { this.set(app.sessions.size) }
  })
  const sessionsClosed = new Counter({
    name: 'onemcp_sessions_closed_total',
    help: 'Client sessions ended (by the client, by idle expiry or at shutdown)',
    registers: [registry]
  })
  new Counter({ // eslint-disable-line no-new
    name: 'onemcp_stateless_requests_total',
    help: 'Requests of the stateless 2026-07-28 generation (each served without a session)',
    registers: [registry],
    collect () {
      this.reset()
      this.inc(app.sessions.statelessRequests)
    }
  })
  new Gauge({ // eslint-disable-line no-new
    name: 'onemcp_config_valid',
    help: '1 when the config file last read was valid, 0 while a bad edit is being ignored',
    registers: [registry],
    collect () { this.set(app.gatewayConfig.status.valid ? 1 : 0) }
  })

  // one histogram child per (method, backend): the per-call cost is one Map lookup
  const children = new Map<string, { observe: (v: number) => void }>()
  const recent = new CallWindow()
  function observeRequest (method: string, backend: string | undefined, seconds: number, errorCode?: number): void {
    const m = KNOWN_METHODS.has(method) ? method : 'other'
    const b = backend ?? NO_BACKEND
    const key = `${m}\n${b}`
    let child = children.get(key)
    if (!child) {
      child = duration.labels(m, b)
      children.set(key, child)
    }
    child.observe(seconds)
    if (errorCode !== undefined) errors.inc({ method: m, backend: b, code: String(errorCode) })
    if (backend !== undefined) recent.observe(backend, seconds * 1000, errorCode !== undefined)
  }
  /** A removed backend's series go away with it, so label values do not pile up across reloads. */
  function forget (backend: string): void {
    recent.forget(backend)
    for (const key of [...children.keys()]) {
      const [method, b] = key.split('\n')
      if (b !== backend) continue
      children.delete(key)
      duration.remove(method, b)
    }
  }

  // registered right after config (so that auth can count its refusals): the other plugins' events
  // are subscribed once they all exist
  app.addHook('onReady', async () => {
    app.sessions.on('closed', () => sessionsClosed.inc())
    app.backends.on('state', (backend, state) => {
      if (state === 'stopped' && !app.backends.get(backend.name)) forget(backend.name)
    })
  })

  app.decorate('metrics', { registry, observeRequest, authFailures, clientNotificationsDropped, recent } satisfies GatewayMetrics)
  app.addHook('onClose', async () => registry.clear())
}, { name: 'metrics', dependencies: ['config'], fastify: '5.x' })
