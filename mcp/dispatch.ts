import type { Notification, Request, RequestId, Result } from '@modelcontextprotocol/client'
import type { ServerRequestExtra } from '../backends/backend.js'
import type { Server as Backend } from '../backends/server.js'
import { RpcCode, RpcError } from '../backends/errors.js'
import type { Kind } from './capability-names.js'
import { admits } from './scope.js'
import { LOG_LEVELS, type Channel, type Session } from './session.js'
import { GATEWAY_INFO } from '../backends/backend.js'
import { exposeEntries, exposePromptResult, exposeToolResult } from './result-uris.js'
import { checkTaskParam } from './tasks.js'
import { DEFAULTS } from '../schemas/config.js'
import type { DispatchDeps, Params } from './dispatch/deps.js'
import { FanOut } from './dispatch/fan-out.js'
import { Relay, requireString, subscribedBy, subscriptionKey, type RequestOptions } from './dispatch/relay.js'
import { TaskCalls } from './dispatch/task-calls.js'
import { Discovery } from './discovery/discovery.js'

type Handler = (session: Session, id: RequestId, params: Params, channel: Channel, options: RequestOptions) => Promise<Result>

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

/**
 * The MCP methods of a client session, independent of how the messages arrive (Streamable HTTP,
 * the legacy SSE transport, the stdio proxy). Answers lists from the capability index and sends
 * every other request to the backend that owns the name.
 */
export class Dispatcher {
  private readonly relay: Relay
  private readonly taskCalls: TaskCalls
  private readonly fanOut: FanOut
  private readonly discovery: Discovery

  constructor (private readonly deps: DispatchDeps) {
    this.discovery = new Discovery(deps.capabilities)
    this.relay = new Relay(deps)
    this.taskCalls = new TaskCalls(deps, this.relay)
    this.fanOut = new FanOut(deps, this.relay, (backend, owner, notification) => {
      const session = this.taskCalls.statusOwner(backend, owner, notification)
      if (session !== undefined) this.fanOut.toOwner(session, backend.name, notification)
    })
  }

  /** The InitializeResult for a new session. */
  initializeResult (session: Session): Result {
    const scope = session.scope
    const instructions = this.deps.capabilities.instructions(scope)
    const single = scope.single ? this.deps.backends.get(scope.single) : undefined
    const capabilities = single?.state === 'ready'
      ? single.capabilities
      : {
          tools: { listChanged: true },
          prompts: { listChanged: true },
          resources: { subscribe: true, listChanged: true },
          logging: {},
          completions: {},
          ...this.taskCalls.capability(scope)
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
    ['tasks/get', (session, id, params, channel) => this.taskCalls.taskRequest(session, id, 'tasks/get', params, channel)],
    ['tasks/result', (session, id, params, channel) => this.taskCalls.taskRequest(session, id, 'tasks/result', params, channel)],
    ['tasks/cancel', (session, id, params, channel) => this.taskCalls.taskRequest(session, id, 'tasks/cancel', params, channel)],
    ['tasks/update', (session, id, params, channel) => this.taskCalls.taskRequest(session, id, 'tasks/update', params, channel)],
    ['tasks/list', (session, id, params, channel) => this.taskCalls.listTasks(session, id, params, channel)],
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
    const tracing = this.deps.tracing
    if (!tracing) return this.answer(session, id, method, params, channel, options)
    const info = { method, params, sessionId: session.id, protocolVersion: session.protocolVersion, requestId: id, traceparent: options.traceparent, channel, backend: () => channel.backend }
    return tracing.request(info, () => this.answer(session, id, method, params, channel, options))
  }

  private async answer (session: Session, id: RequestId, method: string, params: Params, channel: Channel, options: RequestOptions): Promise<Result> {
    const discovered = session.scope.discovery && this.discovery.request(session.scope, method, params, (call) => this.callTool(session, id, call, channel, options))
    if (discovered) return discovered
    const kind = Object.hasOwn(LISTS, method) ? LISTS[method] : undefined
    if (kind) return this.list(session, kind, params)
    const handler = this.methods.get(method)
    if (!handler) throw new RpcError(RpcCode.MethodNotFound, `method not found: ${method}`)
    return handler(session, id, params, channel, options)
  }

  private list (session: Session, kind: Kind, params: Params): Result {
    const items = this.deps.capabilities.list(kind, session.scope)
    const pageSize = this.deps.config().pageSize ?? DEFAULTS.pageSize
    const offset = decodeCursor(params.cursor)
    if (offset > items.length) throw new RpcError(RpcCode.InvalidParams, 'invalid cursor')
    const end = offset + pageSize
    const page = offset === 0 && end >= items.length ? items : items.slice(offset, end)
    return end < items.length ? { [kind]: page, nextCursor: encodeCursor(end) } : { [kind]: page }
  }

  /** A tool call, to the backend that owns the name; a task it starts is remembered with its backend (TaskCalls). */
  private async callTool (session: Session, id: RequestId, params: Params, channel: Channel, options: RequestOptions): Promise<Result> {
    checkTaskParam(params)
    const result = await this.relay.forwardByName(session, id, 'tools', 'tools/call', params, channel, options)
    this.taskCalls.created(session, channel.backend, result)
    const expose = this.relay.exposer(session, channel.backend)
    return expose ? exposeToolResult(result, expose) : result
  }

  private async getPrompt (session: Session, id: RequestId, params: Params, channel: Channel, options: RequestOptions): Promise<Result> {
    const result = await this.relay.forwardByName(session, id, 'prompts', 'prompts/get', params, channel, options)
    const expose = this.relay.exposer(session, channel.backend)
    return expose ? exposePromptResult(result, expose) : result
  }

  private async read (session: Session, id: RequestId, params: Params, channel: Channel, options: RequestOptions): Promise<Result> {
    const uri = requireString(params, 'uri')
    const target = this.relay.resolveUri(session, uri)
    const result = await this.relay.forward(session, id, target.backend, 'resources/read', { ...params, uri: target.original }, channel, true, options)
    const expose = this.relay.exposer(session, target.backend, { uri, original: target.original })
    return expose ? exposeEntries(result, 'contents', expose) : result
  }

  /** The skills extension (SEP-2640): a backend's own catalog, on `/mcp/<server>` (skill URIs are the backend's). */
  private async skills (session: Session, id: RequestId, method: string, params: Params, channel: Channel): Promise<Result> {
    const single = session.scope.single
    if (!single) throw new RpcError(RpcCode.MethodNotFound, `${method} is served per server: use /mcp/<server>`)
    return this.relay.forward(session, id, single, method, params, channel, true)
  }

  /** `resources/directory/read` (SEP-2640): routed by URI like `resources/read`, its entries namespaced on `/mcp`. */
  private async directory (session: Session, id: RequestId, params: Params, channel: Channel): Promise<Result> {
    const uri = requireString(params, 'uri')
    const target = this.relay.resolveUri(session, uri)
    const result = await this.relay.forward(session, id, target.backend, 'resources/directory/read', { ...params, uri: target.original }, channel, true)
    const expose = this.relay.exposer(session, target.backend, { uri, original: target.original })
    return expose ? exposeEntries(result, 'resources', expose) : result
  }

  private async subscription (session: Session, method: string, params: Params, channel: Channel): Promise<Result> {
    const uri = requireString(params, 'uri')
    const subscribe = method === 'resources/subscribe'
    const target = (subscribe ? undefined : subscribedBy(session, uri)) ?? this.relay.resolveUri(session, uri)
    const backend = await this.deps.backends.forSession(target.backend, session.id, session.user)
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
    this.taskCalls.cancelTasksOf(session)
    for (const { backend: name, original } of session.subscriptions.values()) {
      void this.deps.backends.get(name)?.watch(original, -1).catch(() => {})
    }
  }

  private async complete (session: Session, id: RequestId, params: Params, channel: Channel): Promise<Result> {
    const ref = (params.ref ?? {}) as Params
    if (ref.type === 'ref/prompt') {
      const name = requireString(ref, 'name')
      const target = this.deps.capabilities.resolveName('prompts', name, session.scope)
      if (!target) throw new RpcError(RpcCode.InvalidParams, `unknown prompt: ${name}`, { name })
      return this.relay.forward(session, id, target.backend, 'completion/complete', { ...params, ref: { ...ref, name: target.original } }, channel)
    }
    if (ref.type === 'ref/resource') {
      const target = this.relay.resolveUri(session, requireString(ref, 'uri'))
      return this.relay.forward(session, id, target.backend, 'completion/complete', { ...params, ref: { ...ref, uri: target.original } }, channel)
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
    this.deps.sessions.setLevel(session, level)
    // a 2026 backend has no logging/setLevel: each request carries the session's level instead
    const targets = [...this.deps.backends.all()].filter((b) => b.state === 'ready' && b.era === 'legacy' && b.capabilities.logging && admits(session.scope, b.name))
    await Promise.allSettled(targets.map((b) => b.request('logging/setLevel', { level: this.mostVerboseLevel(b.name) })))
    return {}
  }

  private mostVerboseLevel (backend: string): string {
    let most = LOG_LEVELS.length - 1
    for (const s of this.deps.sessions.all()) {
      if (s.logLevel && admits(s.scope, backend)) most = Math.min(most, LOG_LEVELS.indexOf(s.logLevel))
    }
    return LOG_LEVELS[most]
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
        for (const name of session.backendsTouched) void this.deps.backends.get(name)?.notify(method).catch(() => {})
        break
      default:
        break
    }
  }

  /** Sends a request to a backend on behalf of a session (Relay.forward). */
  forward (session: Session, id: RequestId, backendName: string, method: string, params: Params, channel: Channel, retryable = false, options: RequestOptions = {}): Promise<Result> {
    return this.relay.forward(session, id, backendName, method, params, channel, retryable, options)
  }

  /** A server→client request raised by a backend (Relay.serverRequest). */
  serverRequest (backend: Backend, request: Request, extra: ServerRequestExtra): Promise<Result> {
    return this.relay.serverRequest(backend, request, extra)
  }

  /** Whether a log message from `backend` would reach any client now (FanOut.hearsLogs). */
  hearsLogs (backend: Backend): boolean {
    return this.fanOut.hearsLogs(backend)
  }

  /** A notification from a backend (FanOut.backendNotification). */
  backendNotification (backend: Backend, notification: Notification): void {
    this.fanOut.backendNotification(backend, notification)
  }

  /** The lists of `backends` changed (FanOut.listsChanged). */
  listsChanged (kinds: Kind[], backends: string[]): void {
    this.fanOut.listsChanged(kinds, backends)
  }
}
