import { EventEmitter } from 'node:events'
import { resolve } from 'node:path'
import type { Logger } from 'pino'
import {
  Client, SdkError, SdkErrorCode, SdkHttpError, SSEClientTransport, STDIO_DEFAULT_MAX_BUFFER_SIZE, StreamableHTTPClientTransport,
  type Implementation, type Notification, type Progress, type ProtocolEra, type Request, type RequestOptions, type Result,
  type McpSubscription, type ServerCapabilities, type StandardSchemaV1, type Transport
} from '@modelcontextprotocol/client'
import type { ServerConfig } from '../schemas/config.js'
import { StdioTransport } from './stdio-transport.js'
import { restartDelay, restartPolicy } from './restart.js'
import { backendError, RpcCode, RpcError } from './errors.js'
import { InFlightLimit } from './limit.js'
import { uncarried } from './task-results.js'
import { DirectRequests } from './direct-requests.js'
import { InboundQueue } from './inbound-queue.js'
import { installInboundPipeline } from './inbound-pipeline.js'
import { Cancellation } from './cancellation.js'

export type BackendState = 'starting' | 'ready' | 'restarting' | 'stopped' | 'crash-loop'
export type TransportKind = 'stdio' | 'streamable-http' | 'sse'

export const GATEWAY_INFO: Implementation = { name: '1mcp-gateway', version: '0.1.0' }

export const DEFAULT_CONNECTION_TIMEOUT_MS = 30_000
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000
export const DEFAULT_PING_INTERVAL_MS = 30_000
export const DEFAULT_MAX_IN_FLIGHT = 100
/** stderr lines logged per backend per second; the rest are counted and summarized */
const STDERR_LINES_PER_SECOND = 20

/** Accepts any result: the gateway passes results through untouched instead of re-validating them. */
const AnyResult: StandardSchemaV1<unknown, Result> = {
  '~standard': { version: 1, vendor: '1mcp', validate: (value: unknown) => ({ value: value as Result }) }
}

export interface ServerRequestExtra { signal: AbortSignal }
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

export function transportKind (config: ServerConfig): TransportKind {
  switch (config.type) {
    case 'stdio': return 'stdio'
    case 'sse': return 'sse'
    case 'http': case 'streamable-http': case 'streamableHttp': return 'streamable-http'
    default: return config.command ? 'stdio' : 'streamable-http'
  }
}

/** The settings whose change means a new connection; anything else applies in place. */
export function connectionFingerprint (config: ServerConfig): string {
  const { type, command, args, env, cwd, url, headers, connectionTimeout, sessionMode, protocol } = config
  return JSON.stringify({ type: type ? transportKind(config) : undefined, command, args, env, cwd, url, headers, connectionTimeout, sessionMode, protocol })
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
  private stderrBudget = { second: 0, used: 0, dropped: 0 }
  /** for a url without an explicit type: the transport that worked */
  private connectedKind?: TransportKind
  /** the backend did not survive a `server/discover` probe: it is connected the 2025 way from then on */
  private probeFailed = false
  /** the protocol generation of the current connection: `modern` is 2026-07-28 and later */
  era: ProtocolEra = 'legacy'
  /** a 2026 backend's `subscriptions/listen` stream, and the resources it watches (with their subscriber counts) */
  private subscription?: McpSubscription
  private readonly watched = new Map<string, number>()
  /** the relayed requests of a 2025 stdio connection, sent beside the SDK client (see DirectRequests) */
  private direct?: DirectRequests
  /** notifications dropped because no client would receive them (see dropUnheardLog) */
  droppedNotifications = 0
  /** whether a client listens to this backend's log messages, known for the current turn */
  private heard?: boolean
  /** the cancellation of each call on the wire, so that a broken stream can fail them all at once */
  private readonly calls = new Set<Cancellation>()

  constructor (readonly name: string, public config: ServerConfig, readonly log: Logger, private readonly baseDir: string, private readonly hooks: BackendHooks = {}) {
    super()
    this.kind = transportKind(config)
    this.limit = new InFlightLimit(config.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT, name)
  }

  /** Calls in flight now. */
  get active (): number { return this.limit.active }

  get capabilities (): ServerCapabilities { return this.client?.getServerCapabilities() ?? {} }
  get instructions (): string | undefined { return this.client?.getInstructions() }
  get serverInfo (): Implementation | undefined { return this.client?.getServerVersion() }
  get transportName (): TransportKind { return this.connectedKind ?? this.kind }
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
    await this.listen()
    this.setState('ready')
    this.log.info({ transport: this.transportName, server: this.serverInfo, backendPid: this.pid }, 'backend ready')
    this.resubscribe()
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
    const { client, transport } = await this.connectTransport(timeout)
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

  private newClient (kind: TransportKind): Client {
    const client = new Client(GATEWAY_INFO, {
      capabilities: { roots: { listChanged: true }, sampling: {}, elicitation: { form: {}, url: {} } },
      versionNegotiation: { mode: this.negotiationMode(kind) },
      // an input_required answer goes back to the caller, which knows the client to ask
      inputRequired: { autoFulfill: false }
    })
    client.fallbackNotificationHandler = async (notification) => {
      this.hooks.onNotification?.(this, notification)
    }
    client.fallbackRequestHandler = async (request, ctx) => {
      if (!this.hooks.onServerRequest) throw new RpcError(RpcCode.MethodNotFound, `${request.method} is not supported by the gateway`)
      return this.hooks.onServerRequest(this, request as Request, { signal: ctx.mcpReq.signal })
    }
    return client
  }

  /**
   * How to learn the backend's protocol generation: a `server/discover` probe first (2026-07-28),
   * falling back to `initialize`; the legacy handshake alone over SSE, when the config says so, and
   * after a probe the backend did not survive (some 2025 servers exit on any request before `initialize`).
   */
  private negotiationMode (kind: TransportKind): 'auto' | 'legacy' {
    if (kind === 'sse' || this.probeFailed || this.config.protocol === 'legacy') return 'legacy'
    return 'auto'
  }

  private async connectTransport (timeout: number): Promise<{ client: Client, transport: Transport }> {
    if (this.kind !== 'streamable-http' || this.config.type || this.connectedKind) {
      const kind = this.connectedKind ?? this.kind
      return await this.connectWithTimeout(this.newClient(kind), this.makeTransport(kind), timeout)
    }
    let connected: { client: Client, transport: Transport }
    try {
      connected = await this.connectWithTimeout(this.newClient('streamable-http'), this.makeTransport('streamable-http'), timeout)
    } catch (err) {
      this.log.debug({ err }, 'Streamable HTTP failed, trying SSE')
      try {
        connected = await this.connectWithTimeout(this.newClient('sse'), this.makeTransport('sse'), timeout)
      } catch {
        throw err
      }
    }
    // once a transport has worked, reconnects use it without probing again
    this.connectedKind = connected.transport instanceof SSEClientTransport ? 'sse' : 'streamable-http'
    return connected
  }

  private async connectWithTimeout (client: Client, transport: Transport, timeout: number): Promise<{ client: Client, transport: Transport }> {
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`did not connect within ${timeout} ms`)), timeout)
      timer.unref()
    })
    try {
      await Promise.race([client.connect(transport, { timeout }), timedOut])
      return { client, transport }
    } catch (err) {
      await transport.close().catch(() => {})
      const exit = transport instanceof StdioTransport ? transport.exitReason : undefined
      // a child that went away while being probed is asked the 2025 way next time
      if (exit && client.getProtocolEra() === undefined && this.negotiationMode('stdio') === 'auto') this.probeFailed = true
      throw new Error(exit ?? (err as Error).message)
    } finally {
      clearTimeout(timer)
    }
  }

  private makeTransport (kind: TransportKind): Transport {
    const config = this.config
    if (kind === 'stdio') {
      if (!config.command) throw new Error('a stdio backend needs "command"')
      return new StdioTransport({
        command: config.command,
        args: config.args,
        env: config.env,
        cwd: resolve(this.baseDir, config.cwd ?? '.'),
        onStderr: (line) => this.logStderr(line),
        maxMessageBytes: () => this.config.maxMessageBytes ?? STDIO_DEFAULT_MAX_BUFFER_SIZE,
        onOversized: (limit) => this.oversized(limit)
      })
    }
    if (!config.url) throw new Error(`a ${kind} backend needs "url"`)
    const url = new URL(config.url)
    const requestInit = { headers: config.headers ?? {} }
    return kind === 'sse'
      ? new SSEClientTransport(url, { requestInit, eventSourceInit: { fetch: (u, init) => fetch(u, { ...init, headers: { ...init?.headers as Record<string, string>, ...config.headers } }) } })
      : new StreamableHTTPClientTransport(url, { requestInit })
  }

  /** A child's stderr, rate-limited so a chatty or looping child cannot flood the log. */
  private logStderr (line: string): void {
    const second = Math.floor(Date.now() / 1000)
    const budget = this.stderrBudget
    if (budget.second !== second) {
      if (budget.dropped > 0) this.log.warn({ dropped: budget.dropped }, 'backend stderr lines dropped (rate limit)')
      this.stderrBudget = { second, used: 0, dropped: 0 }
    }
    if (this.stderrBudget.used++ < STDERR_LINES_PER_SECOND) this.log.info({ stderr: line.slice(0, 2000) }, 'backend stderr')
    else this.stderrBudget.dropped++
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
   * A 2026 backend sends list changes and resource updates only on a `subscriptions/listen` stream:
   * one per connection, opened before the backend counts as ready and reopened when the watched
   * resources change (the new stream first, so no update falls between the two).
   */
  private async listen (): Promise<void> {
    const client = this.client
    if (!client || this.era !== 'modern') return
    const filter = listenFilter(this.capabilities, [...this.watched.keys()])
    const previous = this.subscription
    try {
      this.subscription = Object.keys(filter).length ? await client.listen(filter) : undefined
    } catch (err) {
      this.log.warn({ error: (err as Error).message }, 'backend refused subscriptions/listen; its list changes will not be seen')
      this.subscription = undefined
    }
    await previous?.close().catch(() => {})
  }

  /** A restarted 2025 backend forgot its subscriptions: it is asked again for every resource still watched. */
  private resubscribe (): void {
    if (this.era !== 'legacy') return
    for (const uri of this.watched.keys()) {
      this.request('resources/subscribe', { uri }).catch((err: Error) => this.log.warn({ uri, error: err.message }, 'could not renew a resource subscription'))
    }
  }

  /**
   * Counts a subscription to one of the backend's resources (+1) or its end (-1). The first and
   * the last change what the backend is asked: a 2026 backend's listen stream is reopened, a 2025
   * backend gets `resources/subscribe` or `resources/unsubscribe`.
   */
  async watch (uri: string, delta: 1 | -1): Promise<void> {
    const before = this.watched.get(uri) ?? 0
    const count = Math.max(0, before + delta)
    if (count > 0) this.watched.set(uri, count)
    else this.watched.delete(uri)
    if ((before > 0) === (count > 0) || this.state !== 'ready') return
    try {
      if (this.era === 'modern') await this.listen()
      else await this.request(count > 0 ? 'resources/subscribe' : 'resources/unsubscribe', { uri })
    } catch (err) {
      // a subscription the backend refused is not counted
      if (delta > 0) this.watched.delete(uri)
      throw err
    }
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
    await this.subscription?.close().catch(() => {})
    this.subscription = undefined
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

/** What a 2026 backend's listen stream asks for: the list changes it announces, and the watched resources. */
function listenFilter (caps: ServerCapabilities, resources: string[]): Record<string, unknown> {
  const filter: Record<string, unknown> = {}
  if (caps.tools?.listChanged) filter.toolsListChanged = true
  if (caps.prompts?.listChanged) filter.promptsListChanged = true
  if (caps.resources?.listChanged) filter.resourcesListChanged = true
  if (resources.length) filter.resourceSubscriptions = resources
  return filter
}

/** 10 MB, 512 KB, 1500 bytes: a size limit as an operator wrote it. */
function formatBytes (bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MB`
  if (bytes % 1024 === 0) return `${bytes / 1024} KB`
  return `${bytes} bytes`
}

/** A failure of the connection itself (as opposed to an answer from the backend). */
function isConnectionFailure (err: unknown): boolean {
  if (err instanceof RpcError) return false
  if (err instanceof SdkHttpError) return err.status === 404 || err.status >= 500
  if (err instanceof SdkError) return err.code === SdkErrorCode.ConnectionClosed || err.code === SdkErrorCode.SendFailed
  return isNetworkError(err)
}

/** fetch and socket failures: the remote end could not be reached at all. */
function isNetworkError (err: unknown): boolean {
  return err instanceof TypeError || (err as NodeJS.ErrnoException)?.code === 'ECONNREFUSED' || /fetch failed|ECONNREFUSED|socket|network/i.test(String((err as Error)?.message))
}

/** Error text for /health and logs: no absolute paths, no credentials in URLs. */
export function redactError (message: string): string {
  return message
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/\s:@]+(:[^@\s/]*)?@/gi, '$1***@')
    .replace(/(^|[\s'"(=])\/(?:[^\s'"():]+\/)+([^\s'"():/]+)/g, '$1…/$2')
}
