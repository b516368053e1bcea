import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import {
  StreamableHTTPClientTransport,
  type Client, type Implementation, type Notification, type ProtocolEra, type Request, type Result, type ServerCapabilities, type Transport
} from '@modelcontextprotocol/client'
import type { ServerConfig } from '../schemas/config.js'
import { StdioTransport } from './stdio-transport.js'
import { restartDelay, restartPolicy } from './restart.js'
import { redactError } from './errors.js'
import { pipeInbound } from './inbound-pipeline.js'
import { startPinging } from './heartbeat.js'
import { Calls, type CallOptions, type DirectRequests } from './calls.js'
import { createTransport, transportKind, type TransportKind } from './transports.js'
import { Connector, type ServerRequestExtra } from './connector.js'
import { Subscriptions } from './subscriptions.js'
import { StderrLog } from './stderr-log.js'
import { DEFAULTS } from '../schemas/config.js'
import { linkAuth, type BackendAuth } from './upstream-auth/upstream-auth.js'
import { ClientCredentialsAuth } from './upstream-auth/client-credentials.js'

export { connectionFingerprint, transportKind, type TransportKind } from './transports.js'
export { GATEWAY_INFO, type ServerRequestExtra } from './connector.js'
export { redactError } from './errors.js'
export type { CallOptions } from './calls.js'

export type BackendState = 'starting' | 'ready' | 'restarting' | 'stopped' | 'crash-loop' | 'needs-auth'

/** What a backend's server→client requests and notifications are handed to. */
export interface BackendHooks {
  onServerRequest?: (backend: Backend, request: Request, extra: ServerRequestExtra) => Promise<Result>
  onNotification?: (backend: Backend, notification: Notification) => void
  /** whether any client would receive a log message (`notifications/message`) from the backend now */
  hearsLogs?: (backend: Backend) => boolean
  auth?: BackendAuth | ClientCredentialsAuth // the OAuth login to a remote server (its loss parks the backend as needs-auth), or its client credentials
}

interface BackendEvents {
  state: [BackendState]
}

/**
 * One backend connection: a small state machine `starting → ready → (restarting → ready)* → stopped`,
 * parked as `crash-loop` after too many failures in a row. Its parts: connector.ts opens the client
 * over a transport from transports.ts, inbound-pipeline.ts carries the messages in, calls.ts bounds
 * and retries the calls, subscriptions.ts keeps the resource subscriptions, heartbeat.ts pings.
 */
export class Backend extends EventEmitter<BackendEvents> {
  readonly kind: TransportKind
  state: BackendState = 'stopped'
  stateSince = Date.now()
  restarts = 0
  lastError?: string
  lastErrorAt?: string
  client?: Client
  private transport?: Transport
  private failures = 0
  private restartTimer?: NodeJS.Timeout
  private stableTimer?: NodeJS.Timeout
  private pingTimer?: NodeJS.Timeout
  private stopping = false
  private connecting: Promise<void> = Promise.resolve()
  /** the calls in flight, bounded and retried; a server's replicas send theirs here (ReplicaSet) */
  readonly calls: Calls
  private readonly connector: Connector
  /** the protocol generation of the current connection: `modern` is 2026-07-28 and later */
  era: ProtocolEra = 'legacy'
  private readonly subscriptions = new Subscriptions(this)
  /** the relayed requests of a 2025 stdio connection, sent beside the SDK client (see DirectRequests) */
  direct?: DirectRequests
  /** notifications dropped because no client would receive them (see pipeInbound) */
  droppedNotifications = 0

  constructor (readonly name: string, public config: ServerConfig, readonly log: Logger, baseDir: string, private readonly hooks: BackendHooks = {}) {
    super()
    this.kind = transportKind(config)
    if (hooks.auth && !(hooks.auth instanceof ClientCredentialsAuth)) linkAuth(hooks.auth, this)
    this.calls = new Calls(this)
    const stderr = new StderrLog(log)
    const makeTransport = (kind: TransportKind) => createTransport(kind, () => this.config, baseDir, { onStderr: stderr.line, onOversized: (limit) => this.calls.oversized(limit) }, hooks.auth)
    this.connector = new Connector(this.kind, () => this.config, makeTransport, {
      onNotification: (notification) => this.hooks.onNotification?.(this, notification),
      onServerRequest: hooks.onServerRequest && ((request, extra) => hooks.onServerRequest!(this, request, extra))
    }, log)
  }

  /** Calls in flight now. */
  get active (): number { return this.calls.active }

  get capabilities (): ServerCapabilities { return this.client?.getServerCapabilities() ?? {} }
  get instructions (): string | undefined { return this.client?.getInstructions() }
  get serverInfo (): Implementation | undefined { return this.client?.getServerVersion() }
  get transportName (): TransportKind { return this.connector.connectedKind ?? this.kind }
  get protocolVersion (): string | undefined { return this.client?.getNegotiatedProtocolVersion() }
  get pid (): number | undefined { return this.transport instanceof StdioTransport ? this.transport.pid : undefined }

  private setState (state: BackendState): void {
    if (this.state === state) return
    this.state = state
    this.stateSince = Date.now()
    this.emit('state', state)
  }

  /** Connects; resolves when the first attempt has succeeded or failed (it never rejects). */
  async start (): Promise<void> {
    this.stopping = false
    this.setState('starting')
    await this.connect()
  }

  private connect (): Promise<void> { return (this.connecting = this.doConnect()) }

  private async doConnect (): Promise<void> {
    try {
      await this.openClient()
    } catch (err) {
      this.fail(err)
      return
    }
    if (this.stopping) {
      // stopped while connecting: release what the attempt opened
      await this.release()
      return
    }
    await this.subscriptions.listen()
    this.setState('ready')
    this.log.info({ transport: this.transportName, server: this.serverInfo, backendPid: this.pid }, 'backend ready')
    this.subscriptions.resubscribe()
    const policy = restartPolicy(this.config.restart)
    this.stableTimer = setTimeout(() => { this.failures = 0 }, policy.stableAfterMs)
    this.stableTimer.unref()
    this.pingTimer = startPinging(this)
  }

  /**
   * Drops a connection that is ready but no longer works (missed ping, transport failure):
   * calls in flight fail at once, and the backend is restarted with backoff.
   */
  recycle (reason: string): void {
    if (this.state !== 'ready' || this.stopping) return
    const client = this.client
    const transport = this.transport
    this.client = undefined
    clearTimeout(this.stableTimer)
    clearInterval(this.pingTimer)
    this.fail(new Error(reason))
    if (transport instanceof StdioTransport) {
      transport.exitReason = reason
      transport.signal('SIGKILL')
    }
    void client?.close().catch(() => {})
  }

  private async openClient (): Promise<void> {
    const timeout = this.config.connectionTimeout ?? DEFAULTS.server.connectionTimeout
    const { client, transport } = await this.connector.open(timeout)
    this.era = client.getProtocolEra() ?? 'legacy'
    this.direct = pipeInbound(transport, this.era, {
      maxQueued: this.config.maxQueuedMessages,
      hearsLogs: () => this.hooks.hearsLogs?.(this) ?? true,
      onDropped: () => this.droppedNotifications++
    })
    this.client = client
    this.transport = transport
    client.onclose = () => this.onClosed(client)
    client.onerror = (err) => this.log.debug({ err }, 'backend transport error')
  }

  private onClosed (client: Client): void {
    if (client !== this.client) return
    this.client = undefined
    clearTimeout(this.stableTimer)
    clearInterval(this.pingTimer)
    if (this.stopping) return
    const reason = this.transport instanceof StdioTransport ? this.transport.exitReason : undefined
    this.fail(new Error(reason ?? 'connection closed'))
  }

  private fail (err: unknown): void {
    const message = redactError((err as Error).message ?? String(err))
    this.lastError = message
    this.lastErrorAt = new Date().toISOString()
    if (this.stopping) return
    if (this.hooks.auth?.needsAuth) { this.setState('needs-auth'); return this.log.warn(this.unavailableReason()) }
    this.failures++
    const policy = restartPolicy(this.config.restart)
    // a child that keeps dying is parked; a remote server that is down is retried at the slowest pace
    if (this.kind === 'stdio' && this.failures > policy.maxRetries) {
      this.log.error({ error: message, failures: this.failures }, 'backend keeps failing; parked as crash-loop')
      this.setState('crash-loop')
      return
    }
    const delay = restartDelay(this.failures, policy)
    this.log.warn({ error: message, attempt: this.failures, delayMs: delay }, 'backend failed; restarting')
    this.setState('restarting')
    this.restartTimer = setTimeout(() => {
      this.restarts++
      void this.connect()
    }, delay)
    this.restartTimer.unref()
  }

  /** Why calls cannot be served now. */
  unavailableReason (): string {
    if (this.state === 'crash-loop') return `parked after repeated failures (last: ${this.lastError})`
    if (this.state === 'needs-auth') return this.config.credentials === 'per-user' ? 'no user has authorized the gateway for it yet: each user does on their first call' : `the server needs a login: run \`1mcp auth login ${this.name}\``
    const exit = this.transport instanceof StdioTransport ? this.transport.exitReason : undefined
    return exit ?? this.lastError ?? this.state
  }

  /**
   * Counts a subscription to one of the backend's resources (+1) or its end (-1); see Subscriptions.
   */
  watch (uri: string, delta: 1 | -1): Promise<void> {
    return this.subscriptions.watch(uri, delta)
  }

  /** Resolves once the backend is ready again or parked (`needs-auth`, `crash-loop`), or after `timeoutMs` (the next send then reports why). */
  whenReady (timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.state !== 'restarting' && this.state !== 'starting') return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.off('state', onState)
        signal?.removeEventListener('abort', done)
        resolve()
      }
      const onState = (state: BackendState) => { if (state !== 'restarting' && state !== 'starting') done() }
      const timer = setTimeout(done, timeoutMs)
      timer.unref()
      this.on('state', onState)
      signal?.addEventListener('abort', done, { once: true })
    })
  }

  /** Sends a request to the backend; rejects with an RpcError naming this backend (see Calls). */
  request (method: string, params: Record<string, unknown> | undefined, options: CallOptions = {}): Promise<Result> {
    return this.calls.request(method, params, options)
  }

  /** Waits until no call is in flight, or `timeoutMs` has passed. */
  drain (timeoutMs: number): Promise<void> {
    return this.calls.drain(timeoutMs)
  }

  async notify (method: string, params?: Record<string, unknown>): Promise<void> { await this.client?.notification({ method, params } as Notification) }

  /** Stops the backend and releases its process or connection, also one still being opened. */
  async stop (): Promise<void> {
    this.stopping = true
    clearTimeout(this.restartTimer)
    clearTimeout(this.stableTimer)
    clearInterval(this.pingTimer)
    this.setState('stopped')
    await this.release()
    await this.connecting
  }

  private async release (): Promise<void> {
    const client = this.client
    const transport = this.transport
    await this.subscriptions.close()
    this.client = undefined
    this.transport = undefined
    if (transport instanceof StreamableHTTPClientTransport) await transport.terminateSession().catch(() => {})
    await client?.close().catch(() => {})
    await transport?.close().catch(() => {})
  }

  /** Kills a stdio backend's process group at once (tests, and the watchdog for a hung child). */
  kill (signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.transport instanceof StdioTransport) this.transport.signal(signal)
  }
}
