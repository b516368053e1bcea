import type { FastifyInstance } from 'fastify'
import type { Notification, Progress, Request, RequestId, Result } from '@modelcontextprotocol/client'
import type { Backend, CallOptions, ServerRequestExtra } from '../backends/backend.js'
import { RpcCode, RpcError } from '../backends/errors.js'
import { Cancellation } from '../backends/cancellation.js'
import { LIST_CHANGED_NOTIFICATION, type Kind } from '../plugins/capabilities.js'
import { admits, type Scope } from '../mcp/scope.js'
import { wrapUri, type UriTarget } from '../plugins/resource-uris.js'
import { LOG_LEVELS, type Channel, type Session, type Subscription } from '../plugins/sessions.js'
import { GATEWAY_INFO } from '../backends/backend.js'
import { exposeEntries, exposePromptResult, exposeToolResult, type ExposeUri } from './result-uris.js'
import { checkTaskParam, createdTask, isStateless, MAX_TASK_LIST_PAGES, TASK_STATUS_NOTIFICATION, TASKS_EXTENSION, TaskRegistry } from './tasks.js'
import { DEFAULTS } from '../schemas/config.js'

type Params = Record<string, unknown>
/** How the caller of a request wants it answered. */
export interface RequestOptions {
  /** the caller hands a 2026 backend's `input_required` answer to its client itself (a 2026-07-28 client) */
  allowInputRequired?: boolean
  /** how long the backend may take, when not the server's requestTimeout */
  timeoutMs?: number
}
type Handler = (session: Session, id: RequestId, params: Params, channel: Channel, options: RequestOptions) => Promise<Result>

/** rounds of `input_required` the gateway fulfils for a 2025 client before it gives up */
export const MAX_INPUT_ROUNDS = 8

/** An `input_required` answer (protocol 2026-07-28): the backend needs the client's input before it can finish. */
export function isInputRequired (result: Result): result is Result & { resultType: 'input_required', inputRequests?: Record<string, { method: string, params?: Params }>, requestState?: string } {
  return (result as { resultType?: unknown }).resultType === 'input_required'
}

const LISTS: Record<string, Kind> = {
  'tools/list': 'tools',
  'prompts/list': 'prompts',
  'resources/list': 'resources',
  'resources/templates/list': 'resourceTemplates'
}

function encodeCursor (offset: number): string {
  return Buffer.from(JSON.stringify({ o: offset })).toString('base64url')
}

function decodeCursor (cursor: unknown): number {
  if (cursor === undefined) return 0
  try {
    const { o } = JSON.parse(Buffer.from(String(cursor), 'base64url').toString('utf8')) as { o: unknown }
    if (Number.isSafeInteger(o) && (o as number) >= 0) return o as number
  } catch {}
  throw new RpcError(RpcCode.InvalidParams, 'invalid cursor')
}

function requireString (params: Params, key: string): string {
  const value = Object.hasOwn(params, key) ? params[key] : undefined
  if (typeof value !== 'string' || value === '') throw new RpcError(RpcCode.InvalidParams, `params.${key} must be a non-empty string`)
  return value
}

/**
 * The MCP methods of a client session, independent of how the messages arrive (Streamable HTTP,
 * the legacy SSE transport, the stdio proxy). Answers lists from the capability index and sends
 * every other request to the backend that owns the name.
 */
export class Dispatcher {
  constructor (private readonly app: FastifyInstance) {}

  /** The InitializeResult for a new session. */
  initializeResult (session: Session): Result {
    const scope = session.scope
    const instructions = this.app.capabilities.instructions(scope)
    const single = scope.single ? this.app.backends.get(scope.single) : undefined
    const capabilities = single?.state === 'ready'
      ? single.capabilities
      : {
          tools: { listChanged: true },
          prompts: { listChanged: true },
          resources: { subscribe: true, listChanged: true },
          logging: {},
          completions: {},
          ...this.tasksCapability(scope)
        }
    return {
      protocolVersion: session.protocolVersion,
      capabilities,
      serverInfo: single?.serverInfo ? { ...single.serverInfo } : GATEWAY_INFO,
      ...(instructions ? { instructions } : {})
    }
  }

  /** The methods answered by a backend or by the gateway itself (lists aside). */
  private readonly methods = new Map<string, Handler>([
    ['ping', async () => ({})],
    ['tools/call', (session, id, params, channel, options) => this.callTool(session, id, params, channel, options)],
    ['tasks/get', (session, id, params, channel) => this.taskRequest(session, id, 'tasks/get', params, channel)],
    ['tasks/result', (session, id, params, channel) => this.taskRequest(session, id, 'tasks/result', params, channel)],
    ['tasks/cancel', (session, id, params, channel) => this.taskRequest(session, id, 'tasks/cancel', params, channel)],
    ['tasks/update', (session, id, params, channel) => this.taskRequest(session, id, 'tasks/update', params, channel)],
    ['tasks/list', (session, id, params, channel) => this.listTasks(session, id, params, channel)],
    ['prompts/get', (session, id, params, channel, options) => this.getPrompt(session, id, params, channel, options)],
    ['resources/read', (session, id, params, channel, options) => this.read(session, id, params, channel, options)],
    ['resources/subscribe', (session, _id, params, channel) => this.subscription(session, 'resources/subscribe', params, channel)],
    ['resources/unsubscribe', (session, _id, params, channel) => this.subscription(session, 'resources/unsubscribe', params, channel)],
    ['completion/complete', (session, id, params, channel) => this.complete(session, id, params, channel)],
    ['skills/list', (session, id, params, channel) => this.skills(session, id, 'skills/list', params, channel)],
    ['skills/get', (session, id, params, channel) => this.skills(session, id, 'skills/get', params, channel)],
    ['resources/directory/read', (session, id, params, channel) => this.directory(session, id, params, channel)],
    ['logging/setLevel', (session, _id, params) => this.setLevel(session, params)],
    ['initialize', async () => { throw new RpcError(RpcCode.InvalidRequest, 'the session is already initialized') }]
  ])

  /** Answers one request; throws an RpcError for the client. */
  async request (session: Session, id: RequestId, method: string, params: Params, channel: Channel, options: RequestOptions = {}): Promise<Result> {
    const kind = Object.hasOwn(LISTS, method) ? LISTS[method] : undefined
    if (kind) return this.list(session, kind, params)
    const handler = this.methods.get(method)
    if (!handler) throw new RpcError(RpcCode.MethodNotFound, `method not found: ${method}`)
    return handler(session, id, params, channel, options)
  }

  private list (session: Session, kind: Kind, params: Params): Result {
    const items = this.app.capabilities.list(kind, session.scope)
    const pageSize = this.app.gatewayConfig.current.pageSize ?? DEFAULTS.pageSize
    const offset = decodeCursor(params.cursor)
    if (offset > items.length) throw new RpcError(RpcCode.InvalidParams, 'invalid cursor')
    const end = offset + pageSize
    const page = offset === 0 && end >= items.length ? items : items.slice(offset, end)
    return end < items.length ? { [kind]: page, nextCursor: encodeCursor(end) } : { [kind]: page }
  }

  private forwardByName (session: Session, id: RequestId, kind: 'tools' | 'prompts', method: string, params: Params, channel: Channel, options: RequestOptions): Promise<Result> {
    const name = requireString(params, 'name')
    const target = this.app.capabilities.resolveName(kind, name, session.scope)
    if (!target) throw new RpcError(RpcCode.InvalidParams, `unknown ${kind === 'tools' ? 'tool' : 'prompt'}: ${name}`, { name })
    const annotations = target.item.annotations as { readOnlyHint?: boolean, idempotentHint?: boolean } | undefined
    const retryable = kind === 'prompts' || annotations?.readOnlyHint === true || annotations?.idempotentHint === true
    return this.forward(session, id, target.backend, method, { ...params, name: target.original }, channel, retryable, options)
  }

  private async getPrompt (session: Session, id: RequestId, params: Params, channel: Channel, options: RequestOptions): Promise<Result> {
    const result = await this.forwardByName(session, id, 'prompts', 'prompts/get', params, channel, options)
    const expose = this.exposer(session, channel.backend)
    return expose ? exposePromptResult(result, expose) : result
  }

  /**
   * How a backend's resource URIs in a result reach this session: on `/mcp` under the URIs that read
   * back through `/mcp` (docs/naming.md); undefined on `/mcp/<server>`, which keeps the backend's own.
   */
  private exposer (session: Session, backend: string | undefined, asked?: { uri: string, original: string }): ExposeUri | undefined {
    if (session.scope.single || backend === undefined) return undefined
    // the resource the client asked for keeps the URI it asked by
    return (original) => original === asked?.original ? asked.uri : this.app.capabilities.exposeUri(backend, original)
  }

  private async read (session: Session, id: RequestId, params: Params, channel: Channel, options: RequestOptions): Promise<Result> {
    const uri = requireString(params, 'uri')
    const target = this.resolveUri(session, uri)
    const result = await this.forward(session, id, target.backend, 'resources/read', { ...params, uri: target.original }, channel, true, options)
    const expose = this.exposer(session, target.backend, { uri, original: target.original })
    return expose ? exposeEntries(result, 'contents', expose) : result
  }

  /** The skills extension (SEP-2640): a backend's own catalog, on `/mcp/<server>` (skill URIs are the backend's). */
  private async skills (session: Session, id: RequestId, method: string, params: Params, channel: Channel): Promise<Result> {
    const single = session.scope.single
    if (!single) throw new RpcError(RpcCode.MethodNotFound, `${method} is served per server: use /mcp/<server>`)
    return this.forward(session, id, single, method, params, channel, true)
  }

  /** `resources/directory/read` (SEP-2640): routed by URI like `resources/read`, its entries namespaced on `/mcp`. */
  private async directory (session: Session, id: RequestId, params: Params, channel: Channel): Promise<Result> {
    const uri = requireString(params, 'uri')
    const target = this.resolveUri(session, uri)
    const result = await this.forward(session, id, target.backend, 'resources/directory/read', { ...params, uri: target.original }, channel, true)
    const expose = this.exposer(session, target.backend, { uri, original: target.original })
    return expose ? exposeEntries(result, 'resources', expose) : result
  }

  private resolveUri (session: Session, uri: string): UriTarget {
    const target = this.app.capabilities.resolveUri(uri, session.scope)
    if (target) return target
    const owners = this.app.capabilities.uriOwners(uri).filter((b) => admits(session.scope, b))
    if (owners.length < 2) throw new RpcError(RpcCode.InvalidParams, `unknown resource: ${uri}`, { uri })
    const exposed = owners.map((b) => wrapUri(b, uri))
    throw new RpcError(RpcCode.InvalidParams, `ambiguous resource: ${uri} belongs to ${owners.join(' and ')}; read ${exposed.join(' or ')}`, { uri, candidates: exposed })
  }

  private async subscription (session: Session, method: string, params: Params, channel: Channel): Promise<Result> {
    const uri = requireString(params, 'uri')
    const subscribe = method === 'resources/subscribe'
    const target = (subscribe ? undefined : subscribedBy(session, uri)) ?? this.resolveUri(session, uri)
    const backend = await this.app.backends.forSession(target.backend, session.id)
    if (!backend) throw new RpcError(RpcCode.BackendUnavailable, `backend '${target.backend}' is not configured`, { backend: target.backend })
    channel.backend = target.backend
    // the backend watches a resource once for all its subscribers (2025 sessions and 2026 listen
    // streams alike): a 2025 backend gets resources/subscribe, a 2026 backend a listen stream
    const key = subscriptionKey(target.backend, target.original)
    if (subscribe !== session.subscriptions.has(key)) await backend.watch(target.original, subscribe ? 1 : -1)
    if (subscribe) session.subscriptions.set(key, { uri, backend: target.backend, original: target.original })
    else session.subscriptions.delete(key)
    return {}
  }

  /** A session ended: the resources it subscribed to are watched for it no more, its running tasks are cancelled. */
  sessionClosed (session: Session): void {
    this.cancelTasksOf(session)
    for (const { backend: name, original } of session.subscriptions.values()) {
      void this.app.backends.get(name)?.watch(original, -1).catch(() => {})
    }
  }

  private async complete (session: Session, id: RequestId, params: Params, channel: Channel): Promise<Result> {
    const ref = (params.ref ?? {}) as Params
    if (ref.type === 'ref/prompt') {
      const name = requireString(ref, 'name')
      const target = this.app.capabilities.resolveName('prompts', name, session.scope)
      if (!target) throw new RpcError(RpcCode.InvalidParams, `unknown prompt: ${name}`, { name })
      return this.forward(session, id, target.backend, 'completion/complete', { ...params, ref: { ...ref, name: target.original } }, channel)
    }
    if (ref.type === 'ref/resource') {
      const target = this.resolveUri(session, requireString(ref, 'uri'))
      return this.forward(session, id, target.backend, 'completion/complete', { ...params, ref: { ...ref, uri: target.original } }, channel)
    }
    throw new RpcError(RpcCode.InvalidParams, 'params.ref.type must be "ref/prompt" or "ref/resource"')
  }

  /**
   * Records the session's level and sets each backend it sees to the most verbose level any of
   * that backend's sessions asked for (a shared backend has one level); each session's messages
   * are then filtered to its own level.
   */
  private async setLevel (session: Session, params: Params): Promise<Result> {
    const level = requireString(params, 'level')
    if (!LOG_LEVELS.includes(level)) throw new RpcError(RpcCode.InvalidParams, `unknown log level: ${level}`)
    session.logLevel = level
    // a 2026 backend has no logging/setLevel: each request carries the session's level instead
    const targets = [...this.app.backends.all()].filter((b) => b.state === 'ready' && b.era === 'legacy' && b.capabilities.logging && admits(session.scope, b.name))
    await Promise.allSettled(targets.map((b) => b.request('logging/setLevel', { level: this.mostVerboseLevel(b.name) })))
    return {}
  }

  private mostVerboseLevel (backend: string): string {
    let most = LOG_LEVELS.length - 1
    for (const s of this.app.sessions.all()) {
      if (s.logLevel && admits(s.scope, backend)) most = Math.min(most, LOG_LEVELS.indexOf(s.logLevel))
    }
    return LOG_LEVELS[most]
  }

  /**
   * Sends a request to a backend on behalf of a session, relaying progress and cancellation. A 2026
   * backend's `input_required` answer is fulfilled here for a 2025 client (as server→client requests
   * on the call's stream, then a retry with `inputResponses`), or handed back when the caller asks.
   */
  async forward (session: Session, id: RequestId, backendName: string, method: string, params: Params, channel: Channel, retryable = false, options: RequestOptions = {}): Promise<Result> {
    const backend = await this.app.backends.forSession(backendName, session.id)
    if (!backend) throw new RpcError(RpcCode.BackendUnavailable, `backend '${backendName}' is not configured`, { backend: backendName })
    const meta = params._meta as Params | undefined
    const progressToken = meta?.progressToken as string | number | undefined
    const cancellation = new Cancellation()
    channel.backend = backendName
    session.inflight.set(id, { backend: backendName, cancellation, channel })
    session.backendsTouched.add(backendName)
    const callOptions = {
      cancellation,
      retryable,
      timeout: options.timeoutMs,
      onprogress: progressToken === undefined
        ? undefined
        : (progress: Progress) => channel.send({ jsonrpc: '2.0', method: 'notifications/progress', params: { ...progress, progressToken } })
    }
    try {
      const result = await backend.request(method, backend.era === 'modern' ? withClientCapabilities(params, session) : params, callOptions)
      return options.allowInputRequired ? result : await this.untilComplete(session, backend, channel, method, params, result, callOptions)
    } finally {
      session.inflight.delete(id)
    }
  }

  /** Fulfils a 2026 backend's `input_required` answers for a 2025 client until the backend answers for good. */
  private async untilComplete (session: Session, backend: Backend, channel: Channel, method: string, params: Params, first: Result, callOptions: CallOptions & { cancellation: Cancellation }): Promise<Result> {
    let result = first
    for (let round = 1; isInputRequired(result); round++) {
      if (round > MAX_INPUT_ROUNDS) throw new RpcError(RpcCode.InternalError, `backend '${backend.name}' asked for client input more than ${MAX_INPUT_ROUNDS} times`, { backend: backend.name })
      const inputResponses = await this.fulfil(session, channel, result.inputRequests ?? {}, callOptions.cancellation.signal)
      const retry = { ...withClientCapabilities(params, session), inputResponses, ...(result.requestState === undefined ? {} : { requestState: result.requestState }) }
      result = await backend.request(method, retry, callOptions)
    }
    return result
  }

  /** Asks a 2025 client for what a 2026 backend's `input_required` answer needs, all at once. */
  private async fulfil (session: Session, channel: Channel, requests: Record<string, { method: string, params?: Params }>, signal: AbortSignal): Promise<Record<string, Result>> {
    const answers = await Promise.all(Object.entries(requests).map(async ([key, request]) => {
      this.checkClientCapability(session, request.method, channel)
      return [key, await session.requestClient(channel, request.method, request.params, signal)] as const
    }))
    return Object.fromEntries(answers)
  }

  /** Refuses a server→client request the client did not declare it can answer (the call's channel learns why too). */
  private checkClientCapability (session: Session, method: string, channel?: Channel): void {
    const needed = Object.hasOwn(CLIENT_CAPABILITY, method) ? CLIENT_CAPABILITY[method] : undefined
    if (!needed || session.clientCapabilities[needed]) return
    const err = new RpcError(RpcCode.MethodNotFound, `the client did not declare the ${needed} capability needed for ${method}`)
    channel?.refuse?.(new RpcError(RpcCode.MissingClientCapability, err.message, { requiredCapabilities: { [needed]: {} } }))
    throw err
  }

  /** A notification from the client. */
  notification (session: Session, method: string, params: Params): void {
    switch (method) {
      case 'notifications/initialized':
        session.initialized = true
        break
      case 'notifications/cancelled': {
        const call = session.inflight.get(params.requestId as RequestId)
        call?.cancellation.abort(typeof params.reason === 'string' ? params.reason : 'cancelled by the client')
        break
      }
      case 'notifications/roots/list_changed':
        for (const name of session.backendsTouched) void this.app.backends.get(name)?.notify(method).catch(() => {})
        break
      default:
        break
    }
  }

  /** A server→client request raised by a backend: to the one session whose call can have caused it. */
  async serverRequest (backend: Backend, request: Request, extra: ServerRequestExtra): Promise<Result> {
    const owner = this.app.backends.ownerOf(backend)
    const callers = owner === undefined
      ? this.sessionsCalling(backend.name)
      : this.sessionsCalling(backend.name).filter(([s]) => s.id === owner)
    if (callers.length === 0) {
      // a backend asking for roots on its own (at start, most do) is told there are none, rather
      // than failed: no client is there to ask, and roots are the client's to give
      if (request.method === 'roots/list') {
        this.app.log.debug({ backend: backend.name }, 'roots/list with no client call in flight: answered with no roots')
        return { roots: [] }
      }
      throw new RpcError(RpcCode.InvalidRequest, `${request.method} from backend '${backend.name}' cannot be routed: no client call is in flight to it`)
    }
    if (callers.length > 1) {
      throw new RpcError(RpcCode.InvalidRequest, `${request.method} from backend '${backend.name}' cannot be routed: several client sessions have calls in flight to it (set "sessionMode": "per-client" for this server)`)
    }
    const [session, call] = callers[0]
    this.checkClientCapability(session, request.method, call.channel)
    return session.requestClient(call.channel, request.method, request.params, extra.signal)
  }

  /** Sessions with a call in flight to `backend`, each with its latest such call. */
  private sessionsCalling (backend: string): Array<[Session, { channel: Channel }]> {
    const found: Array<[Session, { channel: Channel }]> = []
    for (const session of this.app.sessions.all()) {
      let latest: { channel: Channel } | undefined
      for (const call of session.inflight.values()) if (call.backend === backend && !call.channel.closed) latest = call
      if (latest) found.push([session, latest])
    }
    return found
  }

  /**
   * Whether a log message from `backend` would reach any client now: a per-client connection's
   * session is open, or a session listens to the backend's logs, or a call to it is in flight (its
   * caller may get the backend's messages on the call's stream). The backend drops the others.
   */
  hearsLogs (backend: Backend): boolean {
    const owner = this.app.backends.ownerOf(backend)
    if (owner !== undefined) return this.app.sessions.context(owner) !== undefined
    for (const session of this.app.sessions.all()) {
      if (session.logLevel && session.standalone && admits(session.scope, backend.name)) return true
      for (const call of session.inflight.values()) if (call.backend === backend.name) return true
    }
    return false
  }

  /** A notification from a backend: to the sessions it concerns, and only those. */
  backendNotification (backend: Backend, notification: Notification): void {
    const params = (notification.params ?? {}) as Params
    const owner = this.app.backends.ownerOf(backend)
    if (notification.method === TASK_STATUS_NOTIFICATION) {
      this.taskStatus(backend, owner, notification)
      return
    }
    if (owner !== undefined) {
      this.toOwner(owner, backend.name, notification)
      return
    }
    switch (notification.method) {
      case 'notifications/resources/updated':
        this.resourceUpdated(backend.name, params)
        return
      case 'notifications/message':
        this.logMessage(backend.name, notification, params)
        return
      default:
        if (notification.method.endsWith('/list_changed')) return
        this.toSoleCaller(backend.name, notification)
    }
  }

  /** To each session subscribed to the resource, under the URI it subscribed with. */
  private resourceUpdated (backend: string, params: Params): void {
    const key = subscriptionKey(backend, String(params.uri))
    for (const session of this.app.sessions.all()) {
      const subscribed = session.subscriptions.get(key)
      if (subscribed) session.notify({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { ...params, uri: subscribed.uri } })
    }
  }

  private logMessage (backend: string, notification: Notification, params: Params): void {
    if (this.toSoleCaller(backend, notification)) return
    const severity = LOG_LEVELS.indexOf(String(params.level))
    for (const session of this.app.sessions.all()) {
      if (!session.logLevel || !admits(session.scope, backend)) continue
      if (severity >= LOG_LEVELS.indexOf(session.logLevel)) session.notify({ jsonrpc: '2.0', method: notification.method, params })
    }
  }

  /** A per-client connection's notification: to its session only (its call's stream, else its GET stream). */
  private toOwner (sessionId: string, backend: string, notification: Notification): void {
    const session = this.app.sessions.context(sessionId)
    if (!session || notification.method.endsWith('/list_changed')) return
    let params = notification.params as Params | undefined
    if (notification.method === 'notifications/resources/updated' && !session.scope.single) {
      const original = String(params?.uri)
      params = { ...params, uri: session.subscriptions.get(subscriptionKey(backend, original))?.uri ?? this.app.capabilities.exposeUri(backend, original) }
    }
    const message = { jsonrpc: '2.0' as const, method: notification.method, params }
    const call = [...session.inflight.values()].reverse().find((c) => c.backend === backend && !c.channel.closed)
    if (call) call.channel.send(message)
    else session.notify(message)
  }

  /** Sends to the stream of the only session calling `backend`; false when there is not exactly one. */
  private toSoleCaller (backend: string, notification: Notification): boolean {
    const callers = this.sessionsCalling(backend)
    if (callers.length !== 1) return false
    const [session, call] = callers[0]
    if (notification.method === 'notifications/message' && session.logLevel) {
      const level = String((notification.params as Params | undefined)?.level)
      if (LOG_LEVELS.indexOf(level) < LOG_LEVELS.indexOf(session.logLevel)) return true
    }
    call.channel.send({ jsonrpc: '2.0', method: notification.method, params: notification.params as Params })
    return true
  }

  /** Where each task lives and who may reach it. */
  private readonly tasks = new TaskRegistry()

  /** A tool call; a task-augmented one (2025-11-25 `params.task`, or a 2026 backend's task) is remembered with its backend. */
  private async callTool (session: Session, id: RequestId, params: Params, channel: Channel, options: RequestOptions): Promise<Result> {
    checkTaskParam(params)
    const result = await this.forwardByName(session, id, 'tools', 'tools/call', params, channel, options)
    const task = createdTask(result)
    const backend = channel.backend
    if (task && backend) this.tasks.track(session, backend, this.app.backends.get(backend)?.config.sessionMode !== 'per-client', task)
    const expose = this.exposer(session, backend)
    return expose ? exposeToolResult(result, expose) : result
  }

  /** `tasks/get`, `tasks/result`, `tasks/cancel` (and the 2026 extension's `tasks/update`): to the backend that holds the task. */
  private async taskRequest (session: Session, id: RequestId, method: string, params: Params, channel: Channel): Promise<Result> {
    // tasks/update is the 2026 extension's; the 2025 generation has no such method
    if (method === 'tasks/update' && !isStateless(session)) throw new RpcError(RpcCode.MethodNotFound, `method not found: ${method}`)
    checkTasksNegotiated(session)
    const taskId = requireString(params, 'taskId')
    const entry = this.tasks.resolve(session, taskId, this.visibleBackends(session.scope))
    // tasks/result waits for the task to finish: as long as the task may live, not one request's timeout
    const options = method === 'tasks/result' ? { timeoutMs: Math.max(1, entry.expiresAt - Date.now()) } : {}
    const result = await this.forward(session, id, entry.backend, method, params, channel, false, options)
    if (method !== 'tasks/update') this.tasks.status(entry, method === 'tasks/get' ? result.status : 'completed')
    // a task's result is the tool's result
    const expose = method === 'tasks/result' ? this.exposer(session, entry.backend) : undefined
    return expose ? exposeToolResult(result, expose) : result
  }

  /**
   * The session's own tasks: on `/mcp/<server>` the backend's page (its cursor passed through); on
   * `/mcp` one merged page of the backends the session has tasks on (up to MAX_TASK_LIST_PAGES each).
   * A connection shared by all sessions lists every session's tasks: each sees only its own.
   */
  private async listTasks (session: Session, id: RequestId, params: Params, channel: Channel): Promise<Result> {
    checkTasksNegotiated(session)
    const single = session.scope.single
    if (single) {
      const page = await this.forward(session, id, single, 'tasks/list', params, channel)
      return { ...page, tasks: this.ownTasks(session, single, page.tasks) }
    }
    if (params.cursor !== undefined) throw new RpcError(RpcCode.InvalidParams, 'invalid cursor: tasks/list on the aggregated endpoint answers in one page')
    const tasks: unknown[] = []
    for (const backend of this.tasks.backendsOf(session)) {
      if (admits(session.scope, backend) && this.app.backends.get(backend)?.capabilities.tasks?.list) tasks.push(...await this.backendTasks(session, id, backend, channel))
    }
    return { tasks }
  }

  /** The session's tasks on one backend, from up to MAX_TASK_LIST_PAGES pages of its list. */
  private async backendTasks (session: Session, id: RequestId, backend: string, channel: Channel): Promise<unknown[]> {
    const tasks: unknown[] = []
    let cursor: unknown
    for (let page = 0; page < MAX_TASK_LIST_PAGES && (page === 0 || cursor !== undefined); page++) {
      const result = await this.forward(session, id, backend, 'tasks/list', cursor === undefined ? {} : { cursor }, channel)
      tasks.push(...this.ownTasks(session, backend, result.tasks))
      cursor = result.nextCursor
    }
    return tasks
  }

  private ownTasks (session: Session, backend: string, tasks: unknown): unknown[] {
    if (!Array.isArray(tasks)) return []
    return tasks.filter((task: { taskId?: unknown }) => typeof task?.taskId === 'string' && this.tasks.owns(session, backend, task.taskId))
  }

  /** A backend's `notifications/tasks/status`: to the session that created the task, and only to it. */
  private taskStatus (backend: Backend, owner: string | undefined, notification: Notification): void {
    const taskOwner = this.tasks.notified(backend.name, (notification.params ?? {}) as Params, owner)
    if (taskOwner?.startsWith('s:')) this.toOwner(taskOwner.slice(2), backend.name, notification)
  }

  /** The tasks a closed session left running on shared connections are cancelled: nobody can reach them any more. */
  private cancelTasksOf (session: Session): void {
    for (const task of this.tasks.sessionClosed(session)) {
      const backend = this.app.backends.get(task.backend)
      if (backend?.state === 'ready' && backend.capabilities.tasks?.cancel) void backend.request('tasks/cancel', { taskId: task.taskId }).catch(() => {})
    }
  }

  /** The backends a scope sees. */
  private visibleBackends (scope: Scope): string[] {
    if (scope.single) return [scope.single]
    return [...this.app.backends.all()].map((b) => b.name).filter((name) => admits(scope, name))
  }

  /** The aggregated endpoint declares tasks when a backend it shows does: the union of what they declare. */
  private tasksCapability (scope: Scope): { tasks?: Params } {
    let merged: Params | undefined
    for (const backend of this.app.backends.all()) {
      const tasks = backend.state === 'ready' && admits(scope, backend.name) ? backend.capabilities.tasks as Params | undefined : undefined
      if (tasks) merged = mergeObjects(merged ?? {}, tasks)
    }
    return merged ? { tasks: merged } : {}
  }

  private readonly pendingListChanges = new Map<Session, Set<string>>()
  private flushScheduled = false

  /**
   * Tells each session whose view changed that its lists changed: once per kind, after the backend
   * set and the index have settled, so a reload that starts several servers sends one notification.
   */
  listsChanged (kinds: Kind[], backends: string[]): void {
    const methods = kinds.map((k) => LIST_CHANGED_NOTIFICATION[k])
    for (const session of this.app.sessions.all()) {
      if (!session.initialized || !backends.some((b) => admits(session.scope, b))) continue
      const pending = this.pendingListChanges.get(session) ?? new Set()
      for (const method of methods) pending.add(method)
      this.pendingListChanges.set(session, pending)
    }
    if (this.pendingListChanges.size === 0 || this.flushScheduled) return
    this.flushScheduled = true
    void this.flushListChanges()
  }

  private async flushListChanges (): Promise<void> {
    await this.app.backends.settled().catch(() => {})
    await this.app.capabilities.settled()
    this.flushScheduled = false
    for (const [session, methods] of this.pendingListChanges) {
      for (const method of methods) session.notify({ jsonrpc: '2.0', method })
    }
    this.pendingListChanges.clear()
  }
}

/**
 * A request for a 2026 backend carries the capabilities of the client behind the gateway, so the
 * backend asks only for the input that client can give (the gateway relays each kind it declares),
 * and the log level the client set, as 2026 has no logging/setLevel.
 */
function withClientCapabilities (params: Params, session: Session): Params {
  const meta: Params = { ...(params._meta as Params | undefined), 'io.modelcontextprotocol/clientCapabilities': session.clientCapabilities }
  if (session.logLevel) meta['io.modelcontextprotocol/logLevel'] = session.logLevel
  return { ...params, _meta: meta }
}

const CLIENT_CAPABILITY: Record<string, 'sampling' | 'elicitation' | 'roots'> = {
  'sampling/createMessage': 'sampling',
  'elicitation/create': 'elicitation',
  'roots/list': 'roots'
}

/** Where a session's subscriptions are kept: by the backend's own URI, whatever URI the client used. */
function subscriptionKey (backend: string, original: string): string {
  return `${backend}\n${original}`
}

/** The resource a session subscribed to under `uri` (it stays reachable by that URI even if the index changed since). */
function subscribedBy (session: Session, uri: string): Subscription | undefined {
  for (const subscription of session.subscriptions.values()) if (subscription.uri === uri) return subscription
  return undefined
}

/** A 2026 client reaches tasks only when it declared the tasks extension (SEP-2663); a 2025 session always may. */
function checkTasksNegotiated (session: Session): void {
  if (!isStateless(session)) return
  const extensions = (session.clientCapabilities as { extensions?: Record<string, unknown> }).extensions
  if (extensions?.[TASKS_EXTENSION]) return
  throw new RpcError(RpcCode.MissingClientCapability, `the client did not declare the ${TASKS_EXTENSION} extension`, { requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } } })
}

/** A deep union of two capability objects. */
function mergeObjects (a: Params, b: Params): Params {
  const merged: Params = { ...a }
  for (const [key, value] of Object.entries(b)) {
    const mine = merged[key]
    merged[key] = isPlainObject(mine) && isPlainObject(value) ? mergeObjects(mine, value) : value
  }
  return merged
}

function isPlainObject (value: unknown): value is Params {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
