import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import type { Implementation, ProtocolEra, Result, ServerCapabilities } from '@modelcontextprotocol/client'
import type { CircuitBreakerPolicy } from 'cockatiel'
import { DEFAULTS, type ServerConfig } from '../schemas/config.js'
import { Backend, type BackendHooks, type BackendState } from './backend.js'
import type { CallOptions } from './calls.js'
import { backendError, redactError, RpcCode, RpcError } from './errors.js'
import { breakerState, isOutage, openCircuitError, remoteBreaker } from './breaker.js'
import type { Server } from './server.js'
import type { TransportKind } from './transports.js'

/** One replica's own config: its url when the server lists several. */
export function replicaConfig (config: ServerConfig, index: number): ServerConfig {
  const { urls, replicas: _replicas, ...rest } = config
  return urls ? { ...rest, url: urls[index % urls.length] } : rest
}

/** How many replicas a server entry asks for. */
export function replicaCount (config: ServerConfig): number {
  return config.replicas ?? config.urls?.length ?? DEFAULTS.server.replicas
}

/** The settings whose change means new replicas (beside the connection's own, connectionFingerprint). */
export function replicaFingerprint (config: ServerConfig): string {
  return JSON.stringify([replicaCount(config), config.urls, config.breaker])
}

/** What /health shows of each replica. */
export interface ReplicaHealth {
  replica: number
  state: BackendState
  active: number
  restarts: number
  pid?: number
  url?: string
  breaker?: 'closed' | 'open' | 'half-open'
  lastError?: string
}

// a Record, so a new BackendState does not compile until it has its place here
const PRECEDENCE: Record<BackendState, number> = { ready: 0, starting: 1, restarting: 2, 'needs-auth': 3, 'crash-loop': 4, stopped: 5 }
const AGGREGATE = (Object.keys(PRECEDENCE) as BackendState[]).sort((a, b) => PRECEDENCE[a] - PRECEDENCE[b])

/**
 * A server of `replicas: N`: N equivalent connections (stdio: N child processes) seen by the pool and
 * the dispatcher as the one server. A call goes to the least-loaded ready replica (ties in turn); lists
 * and subscriptions to the first ready one, so a list's pages come from one. A replica that dies or times
 * out with a call in flight: a call safe to repeat goes once more to a sibling, any other fails at once
 * naming the replica. Each remote replica's calls pass a circuit breaker (breaker.ts).
 */
export class ReplicaSet extends EventEmitter<{ state: [BackendState] }> implements Server {
  readonly replicas: Backend[]
  private readonly breakers = new Map<Backend, CircuitBreakerPolicy>()
  private readonly placed = new WeakMap<object, Backend>()
  readonly kind: TransportKind
  state: BackendState = 'stopped'
  stateSince = Date.now()
  private turn = 0

  constructor (readonly name: string, private current: ServerConfig, readonly log: Logger, baseDir: string, hooks: BackendHooks) {
    super()
    const count = replicaCount(current)
    this.replicas = Array.from({ length: count }, (_, i) => new Backend(name, replicaConfig(current, i), count > 1 ? log.child({ replica: i + 1 }) : log, baseDir, hooks))
    this.kind = this.replicas[0]!.kind
    for (const replica of this.replicas) {
      if (replica.kind !== 'stdio') this.breakers.set(replica, remoteBreaker(current.breaker))
      replica.on('state', () => this.update())
    }
  }

  get config (): ServerConfig { return this.current }
  /** A change that needs no new connection, applied to every replica in place. */
  set config (config: ServerConfig) {
    this.current = config
    this.replicas.forEach((replica, i) => { replica.config = replicaConfig(config, i) })
  }

  has (backend: Backend): boolean { return this.replicas.includes(backend) }

  private update (): void {
    const states = this.replicas.map((r) => r.state)
    const state = AGGREGATE.find((s) => states.includes(s)) ?? 'stopped'
    if (state === this.state) return
    this.state = state
    this.stateSince = Date.now()
    this.emit('state', state)
  }

  /** The replica lists, subscriptions and the server's description come from: the first ready one. */
  private get lead (): Backend { return this.replicas.find((r) => r.state === 'ready') ?? this.replicas[0]! }
  get era (): ProtocolEra { return this.lead.era }
  get capabilities (): ServerCapabilities { return this.lead.capabilities }
  get instructions (): string | undefined { return this.lead.instructions }
  get serverInfo (): Implementation | undefined { return this.lead.serverInfo }
  get transportName (): TransportKind { return this.lead.transportName }
  get protocolVersion (): string | undefined { return this.lead.protocolVersion }
  get pid (): number | undefined { return this.lead.pid }
  get active (): number { return this.sum((r) => r.active) }
  get restarts (): number { return this.sum((r) => r.restarts) }
  get droppedNotifications (): number { return this.sum((r) => r.droppedNotifications) }
  get lastError (): string | undefined { return this.latestFailed()?.lastError }
  get lastErrorAt (): string | undefined { return this.latestFailed()?.lastErrorAt }
  private sum (of: (r: Backend) => number): number { return this.replicas.reduce((n, r) => n + of(r), 0) }
  private latestFailed (): Backend | undefined {
    return this.replicas.filter((r) => r.lastErrorAt).sort((a, b) => b.lastErrorAt!.localeCompare(a.lastErrorAt!))[0]
  }

  /** `replica 2 of 3 (pid 4711)`: how errors and logs name a replica. */
  label (replica: Backend, pid = replica.pid): string {
    return `replica ${this.replicas.indexOf(replica) + 1} of ${this.replicas.length}${pid ? ` (pid ${pid})` : ''}`
  }

  health (): ReplicaHealth[] {
    return this.replicas.map((r, i) => ({
      replica: i + 1,
      state: r.state,
      active: r.active,
      restarts: r.restarts,
      ...(r.pid ? { pid: r.pid } : {}),
      ...(r.kind !== 'stdio' && r.config.url ? { url: new URL(r.config.url).origin + new URL(r.config.url).pathname } : {}),
      ...(this.breakers.has(r) ? { breaker: breakerState(this.breakers.get(r)) } : {}),
      ...(r.lastError ? { lastError: r.lastError } : {})
    }))
  }

  /** Whether a replica takes calls now: ready, and its breaker (if any) not open. */
  private usable (replica: Backend): boolean {
    return replica.state === 'ready' && breakerState(this.breakers.get(replica)) !== 'open'
  }

  /** The least-loaded usable replica other than `except`, ties taken in turn; without one, any (its call says why). */
  private pick (except?: Backend): Backend | undefined {
    const n = this.replicas.length
    const start = this.turn++ % n
    let best: Backend | undefined
    for (let i = 0; i < n; i++) {
      const replica = this.replicas[(start + i) % n]!
      if (replica === except || !this.usable(replica)) continue
      if (!best || replica.active < best.active) best = replica
    }
    return best ?? (except ? undefined : this.replicas[start])
  }

  async request (method: string, params: Record<string, unknown> | undefined, options: CallOptions = {}): Promise<Result> {
    const first = method.endsWith('/list') ? this.lead : this.pick()!
    const pid = first.pid
    try {
      // a broken connection fails over to a ready sibling at once, not after this replica's reconnect
      return await this.send(first, method, params, this.replicas.length > 1 ? { ...options, elsewhere: () => this.pick(first) !== undefined } : options)
    } catch (err) {
      const sibling = this.repeatable(method, err, options) ? this.pick(first) : undefined
      if (!sibling) throw this.named(first, err, pid)
      this.log.warn({ method, failed: this.label(first, pid), to: this.label(sibling), error: redactError(String((err as Error).message)) }, 'replica failed with a call in flight; retried on a sibling')
      const again = sibling.pid
      return await this.send(sibling, method, params, options).catch((e: unknown) => { throw this.named(sibling, e, again) })
    }
  }

  /** A call safe to send once more after its replica died or timed out (not one the client cancelled). */
  private repeatable (method: string, err: unknown, options: CallOptions): boolean {
    if (this.replicas.length < 2 || options.cancellation?.aborted || !isOutage(backendError(this.name, err))) return false
    if (method === 'tools/call' && this.current.retryTools !== undefined) return this.current.retryTools
    return options.retryable === true
  }

  /** The replica a call (by its cancellation) was last sent to: whom a server→client request belongs to. */
  carrier (cancellation: object): Backend | undefined { return this.placed.get(cancellation) }

  private async send (replica: Backend, method: string, params: Record<string, unknown> | undefined, options: CallOptions): Promise<Result> {
    if (options.cancellation) this.placed.set(options.cancellation, replica)
    const breaker = this.breakers.get(replica)
    if (!breaker) return await replica.calls.request(method, params, options)
    try {
      return await breaker.execute(() => replica.calls.request(method, params, options))
    } catch (err) {
      throw openCircuitError(err, this.name, this.label(replica), replica.lastError)
    }
  }

  /** An outage names the replica (when there are several); the backend's own answers pass as they are. */
  private named (replica: Backend, err: unknown, pid: number | undefined): RpcError {
    const e = backendError(this.name, err)
    if (this.replicas.length < 2 || (e.code !== RpcCode.BackendUnavailable && e.code !== RpcCode.RequestTimeout)) return e
    const data = (e.data ?? {}) as Record<string, unknown>
    return new RpcError(e.code, `${e.message} [${this.label(replica, pid)}]`, { ...data, backend: this.name, replica: this.replicas.indexOf(replica) + 1, ...(pid ? { pid } : {}) })
  }

  watch (uri: string, delta: 1 | -1): Promise<void> { return this.replicas[0]!.watch(uri, delta) }

  async notify (method: string, params?: Record<string, unknown>): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.notify(method, params)))
  }

  whenReady (timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return Promise.race(this.replicas.map((r) => r.whenReady(timeoutMs, signal)))
  }

  unavailableReason (): string {
    return this.replicas.map((r) => r.state === 'ready' ? undefined : `${this.label(r)}: ${r.unavailableReason()}`).filter(Boolean).join('; ') || 'ready'
  }

  async start (): Promise<void> { this.update(); await Promise.all(this.replicas.map((r) => r.start())) }
  async stop (): Promise<void> { await Promise.all(this.replicas.map((r) => r.stop())); this.update() }
  async drain (timeoutMs: number): Promise<void> { await Promise.all(this.replicas.map((r) => r.drain(timeoutMs))) }
  kill (signal?: NodeJS.Signals): void { for (const r of this.replicas) r.kill(signal) }
}
