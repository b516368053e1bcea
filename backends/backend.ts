import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import {
  StreamableHTTPClientTransport,
  type Client, type Implementation, type Notification, type Progress, type ProtocolEra, type Request, type RequestOptions, type Result,
  type ServerCapabilities, type StandardSchemaV1, type Transport
} from '@modelcontextprotocol/client'
import type { ServerConfig } from '../schemas/config.js'
import { StdioTransport } from './stdio-transport.js'
import { restartDelay, restartPolicy } from './restart.js'
import { backendError, isConnectionFailure, redactError, RpcCode, RpcError } from './errors.js'
import { InFlightLimit } from './limit.js'
import { uncarried } from './task-results.js'
import { DirectRequests } from './direct-requests.js'
import { InboundQueue } from './inbound-queue.js'
import { installInboundPipeline } from './inbound-pipeline.js'
import { Cancellation } from './cancellation.js'
import { createTransport, transportKind, type TransportKind } from './transports.js'
import { Connector, type ServerRequestExtra } from './connector.js'
import { Subscriptions } from './subscriptions.js'
import { StderrLog } from './stderr-log.js'

export { connectionFingerprint, transportKind, type TransportKind } from './transports.js'
export { GATEWAY_INFO, type ServerRequestExtra } from './connector.js'
export { redactError } from './errors.js'

export type BackendState = 'starting' | 'ready' | 'restarting' | 'stopped' | 'crash-loop'

export const DEFAULT_CONNECTION_TIMEOUT_MS = 30_000
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000
export const DEFAULT_PING_INTERVAL_MS = 30_000
export const DEFAULT_MAX_IN_FLIGHT = 100
/** Accepts any result: the gateway passes results through untouched instead of re-validating them. */
const AnyResult: StandardSchemaV1<unknown, Result> = {
  '~standard': { version: 1, vendor: '1mcp', validate: (value: unknown) => ({ value: value as Result }) }
}

/** What a backend's server→client requests and notifications are handed to. */
export interface BackendHooks {
  onServerRequest?: (backend: Backend, request: Request, extra: ServerRequestExtra) => Promise<Result>
  onNotification?: (backend: Backend, notification: Notification) => void
  /** whether any client would receive a log message (`notifications/message`) from the backend now */
  hearsLogs?: (backend: Backend) => boolean
}

export interface CallOptions {
  cancellation?: Cancellation
  onprogress?: (progress: Progress) => void
  timeout?: number
  /** safe to send again after a reconnect (lists, reads, read-only or idempotent tools) */
  retryable?: boolean
}

interface BackendEvents {
  state: [BackendState]
}

/**
 * One backend connection: a small state machine `starting → ready → (restarting → ready)* → stopped`,
 * parked as `crash-loop` after too many failures in a row.
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
  private readonly limit: InFlightLimit
  private readonly connector: Connector
  /** the protocol generation of the current connection: `modern` is 2026-07-28 and later */
  era: ProtocolEra = 'legacy'
  private readonly subscriptions = new Subscriptions(this)
  /** the relayed requests of a 2025 stdio connection, sent beside the SDK client (see DirectRequests) */
  private direct?: DirectRequests
  /** notifications dropped because no client would receive them (see dropUnheardLog) */
  droppedNotifications = 0
  /** whether a client listens to this backend's log messages, known for the current turn */
  private heard?: boolean
  /** the cancellation of each call on the wire, so that a broken stream can fail them all at once */
  private readonly calls = new Set<Cancellation>()

  constructor (readonly name: string, public config: ServerConfig, readonly log: Logger, baseDir: string, private readonly hooks: BackendHooks = {}) {
    super()
    this.kind = transportKind(config)
    this.limit = new InFlightLimit(config.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT, name)
    const stderr = new StderrLog(log)
    const makeTransport = (kind: TransportKind) => createTransport(kind, () => this.config, baseDir, { onStderr: stderr.line, onOversized: (limit) => this.oversized(limit) })
    this.connector = new Connector(this.kind, () => this.config, makeTransport, {
      onNotification: (notification) => this.hooks.onNotification?.(this, notification),
      onServerRequest: hooks.onServerRequest && ((request, extra) => hooks.onServerRequest!(this, request, extra))
    }, log)
  }

  /** Calls in flight now. */
  get active (): number { return this.limit.active }

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

  private connect (): Promise<void> {
    this.connecting = this.doConnect()
    return this.connecting
  }

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
    this.startPinging()
  }

  /** Pings the backend periodically; one that does not answer is recycled. */
  private startPinging (): void {
    const interval = this.config.pingInterval ?? DEFAULT_PING_INTERVAL_MS
    if (interval === 0) return
    const client = this.client
    this.pingTimer = setInterval(() => {
      if (this.client !== client || this.state !== 'ready') return
      const timeout = Math.min(10_000, interval)
      // 2026-07-28 has no ping: a 2026 backend is asked server/discover, which it must always answer
      const check = this.era === 'modern' ? client?.discover({ timeout }) : client?.ping({ timeout })
      check?.catch((err: Error) => {
        if (this.client === client) this.recycle(`did not answer ${this.era === 'modern' ? 'server/discover' : 'ping'} within ${timeout} ms (${err.message})`)
      })
    }, interval)
    this.pingTimer.unref()
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
    const timeout = this.config.connectionTimeout ?? DEFAULT_CONNECTION_TIMEOUT_MS
    const { client, transport } = await this.connector.open(timeout)
    this.era = client.getProtocolEra() ?? 'legacy'
    // a 2025 stdio backend gets the gateway's relayed requests directly; a 2026 backend's requests
    // need the SDK's era codec (`_meta`, input_required), and a remote backend's the SDK's HTTP session
    this.direct = transport instanceof StdioTransport && this.era === 'legacy' ? new DirectRequests(transport, () => this.droppedNotifications++) : undefined
    const pausable = transport instanceof StdioTransport ? { pause: () => transport.pause(), resume: () => transport.resume() } : {}
    const queue = new InboundQueue({ maxQueued: this.config.maxQueuedMessages, ...pausable })
    installInboundPipeline(transport, { dropLog: () => this.dropUnheardLog(), direct: this.direct, queue })
    this.client = client
    this.transport = transport
    client.onclose = () => this.onClosed(client)
    client.onerror = (err) => this.log.debug({ err }, 'backend transport error')
  }

  /**
   * Whether a log message is dropped because no client would receive it, before it costs more than
   * its parsing: no session listens to this backend's logs and no call to it is in flight (the hook
   * decides, once per turn of the event loop: a flood costs one look at the sessions per chunk).
   * Counted in `droppedNotifications`.
   */
  private dropUnheardLog (): boolean {
    if (this.logsHeard()) return false
    this.droppedNotifications++
    return true
  }

  private logsHeard (): boolean {
    if (this.heard === undefined) {
      this.heard = this.hooks.hearsLogs?.(this) ?? true
      setImmediate(() => { this.heard = undefined })
    }
    return this.heard
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
    const exit = this.transport instanceof StdioTransport ? this.transport.exitReason : undefined
    return exit ?? this.lastError ?? this.state
  }

  /**
   * Sends a request to the backend; rejects with an RpcError naming this backend. A remote
   * backend whose connection broke is reconnected, and a retryable request is sent once more.
   */
  async request (method: string, params: Record<string, unknown> | undefined, options: CallOptions = {}): Promise<Result> {
    if (!this.limit.tryAcquire()) await this.limit.acquire(options.cancellation?.signal)
    if (!options.cancellation) options = { ...options, cancellation: new Cancellation() }
    const cancellation = options.cancellation!
    this.calls.add(cancellation)
    try {
      return await this.send(method, params, options)
    } catch (err) {
      // failed by the backend itself (failCallsInFlight): that reason, not the cancellation it caused
      if (cancellation.reason instanceof RpcError) throw cancellation.reason
      return await this.retry(err, method, params, options)
    } finally {
      this.calls.delete(cancellation)
      this.limit.release()
    }
  }

  /** Fails every call on the wire now with `err` (each backend request is cancelled); the connection stays. */
  private failCallsInFlight (err: RpcError): number {
    const calls = [...this.calls]
    for (const call of calls) call.abort(err)
    return calls.length
  }

  /**
   * The backend wrote a line longer than maxMessageBytes: it is skipped up to its newline and the
   * connection goes on. Which call it answered cannot be read from a message cut short (a response's
   * id is often its last member), so every call in flight on this backend fails at once rather than
   * waiting out its timeout; the process is not restarted (calls after it, and its state, are fine).
   */
  private oversized (limit: number): void {
    const err = new RpcError(RpcCode.InternalError, `backend '${this.name}' sent a message larger than ${formatBytes(limit)} (maxMessageBytes); it was discarded and the calls in flight on this backend failed`, { backend: this.name, limit })
    const failedCalls = this.failCallsInFlight(err)
    this.log.warn({ limit, failedCalls }, 'backend sent a message over maxMessageBytes; skipped up to the next newline, calls in flight failed')
  }

  /** After a failed send: a remote connection that broke is reconnected and a retryable request sent once more; else the error. */
  private async retry (err: unknown, method: string, params: Record<string, unknown> | undefined, options: CallOptions): Promise<Result> {
    if (this.kind === 'stdio' || !isConnectionFailure(err)) throw backendError(this.name, err, this.unavailableReason())
    this.recycle(`connection lost: ${(err as Error).message}`)
    if (!options.retryable || options.cancellation?.aborted) throw backendError(this.name, err, this.unavailableReason())
    await this.whenReady(this.config.connectionTimeout ?? DEFAULT_CONNECTION_TIMEOUT_MS, options.cancellation?.signal)
    try {
      return await this.send(method, params, options)
    } catch (again) {
      throw backendError(this.name, again, this.unavailableReason())
    }
  }

  private async send (method: string, params: Record<string, unknown> | undefined, options: CallOptions): Promise<Result> {
    const client = this.client
    if (!client || this.state !== 'ready') {
      throw new RpcError(RpcCode.BackendUnavailable, `backend '${this.name}' is unavailable: ${this.unavailableReason()}`, { backend: this.name, state: this.state })
    }
    const timeout = options.timeout ?? this.config.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT_MS
    if (this.direct) return await this.direct.request(method, params, { timeout, cancellation: options.cancellation, onprogress: options.onprogress })
    const requestOptions: RequestOptions = {
      signal: options.cancellation?.signal,
      timeout,
      onprogress: options.onprogress,
      resetTimeoutOnProgress: true,
      // a 2026 backend's input_required answer goes back to the dispatcher, which knows whom to ask
      allowInputRequired: true
    }
    return uncarried(await client.request({ method, params } as Request, AnyResult as never, requestOptions) as Result)
  }

  /**
   * Counts a subscription to one of the backend's resources (+1) or its end (-1); see Subscriptions.
   */
  watch (uri: string, delta: 1 | -1): Promise<void> {
    return this.subscriptions.watch(uri, delta)
  }

  /** Resolves once the backend is ready again, or after `timeoutMs` (the next send then reports why). */
  whenReady (timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.state === 'ready') return Promise.resolve()
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

  /** Waits until no call is in flight, or `timeoutMs` has passed. */
  async drain (timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (this.limit.active > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20).unref())
  }

  async notify (method: string, params?: Record<string, unknown>): Promise<void> {
    await this.client?.notification({ method, params } as Notification)
  }

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

/** 10 MB, 512 KB, 1500 bytes: a size limit as an operator wrote it. */
function formatBytes (bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MB`
  if (bytes % 1024 === 0) return `${bytes / 1024} KB`
  return `${bytes} bytes`
}
