import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { FastifySSEPlugin } from 'fastify-sse-v2'
import type { JSONRPCMessage } from '@modelcontextprotocol/client'
import { RpcCode, RpcError } from '../backends/errors.js'
import { newSessionId, type Channel, type Session } from '../mcp/session.js'
import { SessionLimitError } from '../mcp/errors.js'
import type { Scope } from '../mcp/scope.js'
import type { JsonRpcRequest } from '../schemas/jsonrpc.js'
import type { Dispatcher } from '../mcp/dispatch.js'
import { negotiateVersion } from '../mcp/versions.js'
import { hostGuard } from './host-guard.js'
import { EVENT_STREAM_HEADERS, streamBehind } from './sse-stream.js'
import { buildScope, sessionClient, sessionOwner } from './scope.js'
import { httpRpcError, rpcError, ScopeError, sendHttpError } from './errors.js'
import { hasInvalidId, INVALID_ID_MESSAGE, isNotification, isRequest, isResponse, parseJsonLeniently, Unparsable, type ClientAnswer } from './jsonrpc-body.js'

const KEEP_ALIVE_MS = 15_000

/** The one SSE stream of a legacy session: every response and notification goes on it. */
class LegacyChannel implements Channel {
  closed = false
  private readonly keepAlive: NodeJS.Timeout

  constructor (private readonly reply: FastifyReply, private readonly onDropped: () => void) {
    this.keepAlive = setInterval(() => { if (!this.closed) reply.sse({ comment: 'keep-alive' }) }, KEEP_ALIVE_MS)
    this.keepAlive.unref()
  }

  send (message: JSONRPCMessage): void {
    if (this.closed) return
    if (streamBehind(this.reply.raw, message)) {
      this.onDropped()
      return
    }
    this.reply.sse({ event: 'message', data: JSON.stringify(message) })
  }

  end (): void {
    if (this.closed) return
    this.closed = true
    clearInterval(this.keepAlive)
    this.reply.sseContext?.source.end()
  }
}

interface Pending { channel: LegacyChannel, scope: Scope, owner?: string }

export interface SseRouteOptions { dispatcher: Dispatcher }

/**
 * The HTTP+SSE transport of protocol 2024-11-05 for old clients: `GET /sse` opens the stream and names the
 * endpoint, `POST /messages?sessionId=…` carries the client's messages (answered 202; replies travel on the
 * stream). The same filters (`?tags=`), auth and Host/Origin checks as `/mcp`.
 */
const sseRoutes: FastifyPluginAsync<SseRouteOptions> = async (app, { dispatcher }) => {
  await app.register(FastifySSEPlugin, { retryDelay: false })
  parseJsonLeniently(app)
  app.addHook('onRequest', hostGuard(app))
  // with auth off there is nothing to check: no hook at all on the path of a call
  if (app.auth.enabled) app.addHook('onRequest', app.auth.protect)
  const opened = new Map<string, Pending>()

  function endpointPath (id: string): string {
    const external = app.gatewayConfig.current.externalUrl
    const base = external ? new URL(external.endsWith('/') ? external : `${external}/`).pathname : '/'
    return `${base}messages?sessionId=${id}`
  }

  app.get('/sse', async (request: FastifyRequest<{ Params: { server?: string } }>, reply) => {
    let scope: Scope
    try {
      scope = buildScope(app, request)
    } catch (err) {
      return sendHttpError(reply, err instanceof ScopeError ? err.statusCode : 400, (err as Error).message)
    }
    const id = newSessionId()
    // a stream holds a session's place from the start: it counts against sessions.max and the client's share
    try {
      app.sessions.reserve(id, sessionClient(request))
    } catch (err) {
      if (!(err instanceof SessionLimitError)) throw err
      return sendHttpError(reply.header('retry-after', '5'), err.httpStatus, err.message)
    }
    const channel = new LegacyChannel(reply, () => app.metrics.clientNotificationsDropped.inc())
    opened.set(id, { channel, scope, owner: sessionOwner(request) })
    // fastify-sse-v2 sends the reply's headers with its own content type and cache control
    reply.headers(EVENT_STREAM_HEADERS)
    reply.sse({ event: 'endpoint', data: endpointPath(id) })
    request.raw.once('close', () => {
      channel.end()
      opened.delete(id)
      app.sessions.unreserve(id)
      app.sessions.delete(id, 'the SSE stream closed')
    })
    return reply
  })

  app.post('/messages', async (request: FastifyRequest<{ Querystring: { sessionId?: string } }>, reply) => {
    const id = request.query.sessionId ?? ''
    const pending = opened.get(id)
    if (!pending || pending.owner !== sessionOwner(request)) return httpRpcError(reply, 404, RpcCode.InvalidRequest, 'Session not found: open GET /sse first')
    const body = request.body
    if (body instanceof Unparsable) return httpRpcError(reply, 400, body.code, body.message)
    if (hasInvalidId(body)) return httpRpcError(reply, 400, RpcCode.InvalidRequest, INVALID_ID_MESSAGE)
    const session = app.sessions.get(id)
    if (isRequest.Check(body) && body.method === 'initialize') return initialize(reply, id, pending, body, session)
    if (!session) return httpRpcError(reply, 400, RpcCode.InvalidRequest, 'Bad Request: send initialize first')
    if (!deliver(session, pending.channel, body, request.headers.traceparent)) {
      return httpRpcError(reply, 400, RpcCode.InvalidRequest, 'Invalid Request: not a JSON-RPC 2.0 request, notification or response')
    }
    return reply.code(202).send('Accepted')
  })

  /** Hands one message to the session (a request is answered later, on the stream); false when it is none of the three kinds. */
  function deliver (session: Session, channel: Channel, body: unknown, traceparent: string | string[] | undefined): boolean {
    if (isRequest.Check(body)) {
      void answer(session, channel, body, traceparent)
    } else if (isNotification.Check(body)) {
      dispatcher.notification(session, body.method, body.params ?? {})
    } else if (isResponse.Check(body)) {
      const message = body as ClientAnswer
      session.answer(message.id, message.result, message.error)
    } else {
      return false
    }
    return true
  }

  function initialize (reply: FastifyReply, id: string, pending: Pending, body: JsonRpcRequest, existing: Session | undefined) {
    if (existing) return httpRpcError(reply, 400, RpcCode.InvalidRequest, 'Invalid Request: this session is initialized already')
    const params = body.params ?? {}
    let session: Session
    try {
      session = app.sessions.create({
        id,
        protocolVersion: negotiateVersion(params.protocolVersion),
        clientInfo: params.clientInfo as Session['clientInfo'],
        clientCapabilities: (params.capabilities ?? {}) as Session['clientCapabilities'],
        scope: pending.scope,
        owner: pending.owner
      })
    } catch (err) {
      if (err instanceof RpcError) pending.channel.send(rpcError(body.id, err))
      return reply.code(202).send('Accepted')
    }
    session.standalone = pending.channel
    pending.channel.send({ jsonrpc: '2.0', id: body.id, result: dispatcher.initializeResult(session) })
    return reply.code(202).send('Accepted')
  }

  async function answer (session: Session, channel: Channel, body: JsonRpcRequest, traceparent: string | string[] | undefined): Promise<void> {
    try {
      const result = await dispatcher.request(session, body.id, body.method, body.params ?? {}, channel, typeof traceparent === 'string' ? { traceparent } : {})
      channel.send({ jsonrpc: '2.0', id: body.id, result })
    } catch (err) {
      const rpc = err instanceof RpcError ? err : new RpcError(RpcCode.InternalError, (err as Error).message)
      channel.send(rpcError(body.id, rpc))
    }
  }

  app.addHook('preClose', async () => {
    for (const pending of opened.values()) pending.channel.end()
  })
}

export default sseRoutes
