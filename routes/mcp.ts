import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/client'
import { redactError, RpcCode, RpcError } from '../backends/errors.js'
import type { JsonRpcRequest } from '../schemas/jsonrpc.js'
import type { Channel, Session } from '../mcp/session.js'
import { SessionLimitError } from '../mcp/errors.js'
import type { Scope } from '../mcp/scope.js'
import type { Dispatcher } from '../mcp/dispatch.js'
import { negotiateVersion, SESSION_VERSIONS, STATELESS_VERSION, supportsPriming } from '../mcp/versions.js'
import { hostGuard } from './host-guard.js'
import { debugOn } from '../plugins/request-logger.js'
import { forwardAnswer } from './answer-forward.js'
import { StatelessEndpoint } from './stateless.js'
import { isStatelessHeader, isStatelessPost } from './generation.js'
import { SseStream, parseEventId } from './sse-stream.js'
import { buildScope, sessionClient, sessionOwner } from './scope.js'
import { httpRpcError, rpcError, sendHttpError } from './errors.js'
import { accepts, isNotification, isRequest, isResponse, parseJsonLeniently, refusePost, type ClientAnswer } from './jsonrpc-body.js'
import { registerLoadProtection } from './load-protection.js'

/**
 * The response channel of one POST: a JSON body when the result comes first, upgraded to an SSE
 * stream as soon as anything must reach the client before the result (progress, a log message,
 * a server→client request). Nothing is written before that, so the choice can wait.
 */
class CallChannel implements Channel {
  private stream?: SseStream
  private done = false
  aborted = false
  backend?: string

  constructor (private readonly reply: FastifyReply, private readonly session: Session, onAbort: () => void, private readonly onDropped: () => void) {
    reply.raw.once('close', () => {
      if (!this.done) { this.aborted = true; onAbort() }
    })
  }

  get closed (): boolean { return this.done || this.aborted }

  send (message: JSONRPCMessage): void {
    if (this.closed) return
    if (!this.stream) {
      this.reply.hijack()
      this.stream = new SseStream(this.reply.raw, this.session.newStreamId(), this.session.replay, {
        headers: { 'mcp-session-id': this.session.id },
        keepAliveMs: 0,
        onDropped: this.onDropped
      })
      if (supportsPriming(this.session.protocolVersion)) this.stream.prime()
    }
    this.stream.send(message)
  }

  finish (message: JSONRPCMessage): void {
    if (this.closed) return
    this.done = true
    if (this.stream) {
      this.stream.send(message)
      this.stream.end()
    } else {
      void this.reply.header('mcp-session-id', this.session.id).type('application/json').send(serialize(message))
    }
  }
}

/**
 * List results are served from the capability index, whose arrays are replaced (never changed) when
 * it is rebuilt: each array is serialized once, and every later answer with it is a string splice.
 */
const serializedLists = new WeakMap<unknown[], string>()
const LIST_KEYS = ['tools', 'prompts', 'resources', 'resourceTemplates']

function serialize (message: JSONRPCMessage): string {
  const result = (message as { result?: Record<string, unknown> }).result
  const keys = result ? Object.keys(result) : []
  const list = keys.length === 1 && LIST_KEYS.includes(keys[0]) ? result![keys[0]] : undefined
  if (!Array.isArray(list) || list.length < 32) return JSON.stringify(message)
  let json = serializedLists.get(list)
  if (json === undefined) {
    json = JSON.stringify(list)
    serializedLists.set(list, json)
  }
  return `{"jsonrpc":"2.0","id":${JSON.stringify((message as { id: RequestId }).id)},"result":{${JSON.stringify(keys[0])}:${json}}}`
}

export interface McpRouteOptions { dispatcher: Dispatcher }

/** Streamable HTTP (2025-11-25, also serving 2025-06-18 and 2025-03-26 clients) at `/mcp` and `/mcp/:server`. */
const mcpRoutes: FastifyPluginAsync<McpRouteOptions> = async (app, { dispatcher }) => {
  parseJsonLeniently(app)
  app.addHook('onRequest', hostGuard(app))
  // with auth off there is nothing to check: no hook at all on the path of a call
  if (app.auth.enabled) app.addHook('onRequest', app.auth.protect)
  await registerLoadProtection(app)
  app.setErrorHandler((err: Error & { statusCode?: number, code?: string }, request, reply) => {
    const status = err.statusCode ?? 500
    if (status >= 500) request.log.error({ err }, 'MCP request failed')
    const message = status >= 500 ? 'internal error' : err.message
    const code = status === 429 ? RpcCode.Overloaded : status < 500 ? RpcCode.InvalidRequest : RpcCode.InternalError
    return httpRpcError(reply, status, code, message)
  })

  const stateless = new StatelessEndpoint(app, dispatcher)
  app.capabilities.on('changed', (kinds, backends) => stateless.listsChanged(kinds, backends))
  app.backends.on('notification', (backend, notification) => {
    const uri = (notification.params as { uri?: unknown } | undefined)?.uri
    if (notification.method === 'notifications/resources/updated' && typeof uri === 'string') stateless.resourceUpdated(backend.name, uri)
  })
  app.addHook('onClose', async () => { await stateless.close() })

  async function post (request: FastifyRequest<{ Params: { server?: string } }>, reply: FastifyReply) {
    if (refusePost(request, reply)) return reply
    const body = request.body
    if (isStatelessPost(request.headers, body)) return serveStateless(request, reply)
    if (isRequest.Check(body) && body.method === 'initialize') return initialize(request, reply, body)
    const session = findSession(request, reply)
    if (!session) return reply
    return receive(reply, session, body)
  }

  /** One message of a session: a request to answer, a notification, or the client's answer to our request. */
  async function receive (reply: FastifyReply, session: Session, body: unknown) {
    if (isRequest.Check(body)) return call(reply, session, body)
    if (isNotification.Check(body)) {
      dispatcher.notification(session, body.method, body.params ?? {})
      return reply.code(202).send()
    }
    if (isResponse.Check(body)) {
      const answer = body as ClientAnswer
      if (session.answer(answer.id, answer.result, answer.error)) return reply.code(202).send()
      // the call waiting for it is on another instance (round robin): passed on there
      const owner = app.sessions.answerOwner(answer.id)
      if (owner !== undefined) await forwardAnswer(reply.request, owner, body)
      return reply.code(202).send()
    }
    return httpRpcError(reply, 400, RpcCode.InvalidRequest, 'Invalid Request: not a JSON-RPC 2.0 request, notification or response')
  }

  function initialize (request: FastifyRequest<{ Params: { server?: string } }>, reply: FastifyReply, body: JsonRpcRequest) {
    let scope: Scope
    try {
      scope = buildScope(app, request)
    } catch (err) {
      return sendScopeError(reply, err as Error & { statusCode?: number })
    }
    const params = body.params ?? {}
    let session: Session
    try {
      session = app.sessions.create({
        protocolVersion: negotiateVersion(params.protocolVersion),
        clientInfo: params.clientInfo as Session['clientInfo'],
        clientCapabilities: (params.capabilities ?? {}) as Session['clientCapabilities'],
        scope,
        owner: sessionOwner(request),
        client: sessionClient(request)
      })
    } catch (err) {
      if (err instanceof SessionLimitError) return reply.code(err.httpStatus).header('retry-after', '5').send(rpcError(body.id, err))
      throw err
    }
    request.log.info({ session: session.id.slice(0, 8), client: session.clientInfo, version: session.protocolVersion, server: scope.single }, 'session started')
    return reply.header('mcp-session-id', session.id).send({ jsonrpc: '2.0', id: body.id, result: dispatcher.initializeResult(session) })
  }

  /** A 2026-07-28 request: no session; its scope comes from the path, the query and the token, every time. */
  function serveStateless (request: FastifyRequest<{ Params: { server?: string } }>, reply: FastifyReply) {
    let scope: Scope
    try {
      scope = buildScope(app, request)
    } catch (err) {
      return sendScopeError(reply, err as Error & { statusCode?: number })
    }
    return stateless.serve(request, reply, scope, sessionOwner(request), sessionClient(request))
  }

  /** The 2026-07-28 generation has no sessions: nothing to open with GET or end with DELETE. */
  function refuseStateless (request: FastifyRequest, reply: FastifyReply): boolean {
    if (request.headers['mcp-session-id'] !== undefined || !isStatelessHeader(request.headers)) return false
    httpRpcError(reply.header('allow', 'POST'), 405, RpcCode.MethodNotFound, `Method Not Allowed: protocol ${STATELESS_VERSION} has no sessions; send each request with POST`)
    return true
  }

  function sendScopeError (reply: FastifyReply, err: Error & { statusCode?: number }) {
    return sendHttpError(reply, err.statusCode ?? 400, err.message)
  }

  function findSession (request: FastifyRequest<{ Params: { server?: string } }>, reply: FastifyReply): Session | undefined {
    const id = request.headers['mcp-session-id']
    if (typeof id !== 'string' || id === '') {
      httpRpcError(reply, 400, RpcCode.InvalidRequest, 'Bad Request: Mcp-Session-Id header is required (send initialize first)')
      return undefined
    }
    const server = request.params.server
    const session = app.sessions.get(id) ?? revive(request, reply, id)
    if (reply.sent) return undefined
    if (!session || session.owner !== sessionOwner(request) || session.scope.single !== server) {
      httpRpcError(reply, 404, RpcCode.InvalidRequest, 'Session not found: it ended or expired; start a new one with initialize')
      return undefined
    }
    const version = request.headers['mcp-protocol-version']
    if (typeof version === 'string' && !SESSION_VERSIONS.includes(version)) {
      httpRpcError(reply, 400, RpcCode.InvalidRequest, `Bad Request: unsupported MCP-Protocol-Version ${version} (supported: ${SESSION_VERSIONS.join(', ')})`)
      return undefined
    }
    return session
  }

  /** A session another instance started (its id is sealed with the shared key): rebuilt here, its scope built again from this request. */
  function revive (request: FastifyRequest<{ Params: { server?: string } }>, reply: FastifyReply, id: string): Session | undefined {
    let scope: Scope
    let session: Session | undefined
    try {
      scope = buildScope(app, request)
    } catch {
      return undefined
    }
    try {
      session = app.sessions.revive(id, scope, sessionOwner(request))
    } catch (err) {
      if (!(err instanceof SessionLimitError)) throw err
      void reply.code(err.httpStatus).header('retry-after', '5').send(rpcError(null, err))
      return undefined
    }
    if (session) request.log.info({ session: id.slice(0, 8), client: session.clientInfo, version: session.protocolVersion }, 'session rebuilt from its sealed id')
    return session
  }

  async function call (reply: FastifyReply, session: Session, body: JsonRpcRequest) {
    const started = performance.now()
    const channel = new CallChannel(reply, session, () => session.inflight.get(body.id)?.cancellation.abort('the client closed the connection'), () => app.metrics.clientNotificationsDropped.inc())
    let response: JSONRPCMessage
    let failure: RpcError | undefined
    try {
      const traceparent = reply.request.headers.traceparent
      const result = await dispatcher.request(session, body.id, body.method, body.params ?? {}, channel, typeof traceparent === 'string' ? { traceparent } : {})
      response = { jsonrpc: '2.0', id: body.id, result }
    } catch (err) {
      failure = err instanceof RpcError ? err : new RpcError(RpcCode.InternalError, (err as Error).message)
      if (!(err instanceof RpcError)) reply.log.error({ err, method: body.method }, 'request failed')
      response = rpcError(body.id, failure)
    }
    channel.finish(response)
    const ms = performance.now() - started
    app.metrics.observeRequest(body.method, channel.backend, ms / 1000, failure?.code)
    if (failure) reply.log.warn({ session: session.id.slice(0, 8), backend: channel.backend, method: body.method, durationMs: ms, code: failure.code, error: redactError(failure.message) }, 'call failed')
    else if (debugOn(reply.log)) reply.log.debug({ session: session.id.slice(0, 8), backend: channel.backend, method: body.method, durationMs: ms }, 'call')
    return reply
  }

  async function listen (request: FastifyRequest<{ Params: { server?: string } }>, reply: FastifyReply) {
    if (refuseStateless(request, reply)) return reply
    if (!accepts(request, 'text/event-stream')) return httpRpcError(reply, 406, RpcCode.InvalidRequest, 'Not Acceptable: the client must accept text/event-stream')
    const session = findSession(request, reply)
    if (!session) return reply
    const lastEventId = request.headers['last-event-id']
    const resumed = typeof lastEventId === 'string' ? parseEventId(lastEventId) : undefined
    if (!resumed && session.standalone && !session.standalone.closed) {
      return httpRpcError(reply, 409, RpcCode.InvalidRequest, 'Conflict: this session already has a GET stream open')
    }
    return openStream(reply, session, resumed)
  }

  /** The session's standalone GET stream: a new one, or the one the client lost, replayed after its last event. */
  function openStream (reply: FastifyReply, session: Session, resumed: { stream: string, seq: number } | undefined) {
    reply.hijack()
    const missed = resumed ? session.replay.after(resumed.stream, resumed.seq) : []
    const streamId = resumed?.stream ?? session.newStreamId()
    const startSeq = missed.length ? missed[missed.length - 1].seq : resumed?.seq
    const stream = new SseStream(reply.raw, streamId, session.replay, { headers: { 'mcp-session-id': session.id }, startSeq, onDropped: () => app.metrics.clientNotificationsDropped.inc() })
    for (const event of missed) stream.resend(event.seq, event.message)
    if (!resumed && supportsPriming(session.protocolVersion)) stream.prime()
    session.standalone = stream
    return reply
  }

  async function end (request: FastifyRequest<{ Params: { server?: string } }>, reply: FastifyReply) {
    if (refuseStateless(request, reply)) return reply
    const session = findSession(request, reply)
    if (!session) return reply
    app.sessions.end(session.id, 'session ended by the client')
    request.log.info({ session: session.id.slice(0, 8) }, 'session ended by the client')
    return reply.code(200).send()
  }

  for (const url of ['/mcp', '/mcp/:server']) {
    app.post(url, post)
    app.get(url, listen)
    app.delete(url, end)
  }
}

export default mcpRoutes
