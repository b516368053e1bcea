import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { createMcpHandler, Server, type AuthInfo, type McpHttpHandler, type ServerCapabilities, type ServerContext } from '@modelcontextprotocol/server'
import type { ClientCapabilities, RequestId, Result } from '@modelcontextprotocol/client'
import { GATEWAY_INFO } from '../backends/backend.js'
import type { Server as Backend } from '../backends/server.js'
import { RpcCode, RpcError } from '../backends/errors.js'
import type { Kind } from '../mcp/capability-names.js'
import { admits, type Scope } from '../mcp/scope.js'
import { wrapUri } from '../mcp/resource-uris.js'
import type { Session } from '../mcp/session.js'
import type { Dispatcher } from '../mcp/dispatch.js'
import { checkParamHeaders } from './param-headers.js'
import { TASKS_EXTENSION } from '../mcp/tasks.js'
import { STATELESS_VERSION } from '../mcp/versions.js'
import { InputChannel, type Outcome } from './stateless-channel.js'
import { InputRounds } from './stateless-rounds.js'
import {
  ANY_PARAMS, CORE_METHODS, extensionsOf, gatewayCapabilities, SKILL_METHODS, SKILLS_EXTENSION, TASK_METHODS,
  webHeaders, withInput, type Params, type StatePayload
} from './generation.js'

/** A 2026 request may have client input rounds; the client's W3C trace context comes from the HTTP header (params._meta.traceparent is read by the tracer itself). */
function requestOptions (ctx: ServerContext): { allowInputRequired: true, traceparent?: string } {
  const traceparent = ctx.http?.req?.headers.get('traceparent')
  return traceparent ? { allowInputRequired: true, traceparent } : { allowInputRequired: true }
}

/**
 * The 2026-07-28 generation on `/mcp` and `/mcp/<server>`: the SDK's stateless handler does the
 * protocol (per-request `_meta`, header rules, `server/discover`, `subscriptions/listen`, cache hints,
 * the integrity of `requestState`); its request handlers call the same Dispatcher as the 2025 route,
 * through a request context (a Session object that is not a session: see SessionRegistry). Server→client requests are bridged both ways.
 */
export class StatelessEndpoint {
  private readonly handlers = new Map<string, McpHttpHandler>()
  private readonly rounds: InputRounds
  private requestCount = 0

  constructor (private readonly app: FastifyInstance, private readonly dispatcher: Dispatcher) {
    this.rounds = new InputRounds(app)
  }

  /** Serves one 2026-07-28 POST. */
  async serve (request: FastifyRequest, reply: FastifyReply, scope: Scope, owner: string | undefined, client?: string): Promise<FastifyReply> {
    const refused = this.checkHeaders(request, scope)
    if (refused) return reply.code(400).send({ jsonrpc: '2.0', id: (request.body as { id?: RequestId }).id ?? null, error: refused.toJSON() })
    const aborted = new AbortController()
    reply.raw.once('close', () => { if (!reply.raw.writableFinished) aborted.abort() })
    const unwatch = await this.watchResources(request.body, scope)
    if (unwatch) reply.raw.once('close', unwatch)
    const web = new Request(`http://${request.host}${request.url}`, { method: 'POST', headers: webHeaders(request.headers), body: JSON.stringify(request.body), signal: aborted.signal })
    const authInfo: AuthInfo = {
      token: '',
      clientId: request.auth?.clientId ?? 'anonymous',
      scopes: request.auth?.scopes ?? [],
      extra: { scope, owner, client }
    }
    const response = await this.handlerFor(scope).fetch(web, { parsedBody: request.body, authInfo })
    reply.code(response.status)
    response.headers.forEach((value, name) => { if (name !== 'content-length') void reply.header(name, value) })
    if (!response.body) return reply.send()
    return reply.send(Readable.fromWeb(response.body as WebReadableStream))
  }

  /** A `tools/call` whose `Mcp-Param-*` headers disagree with its arguments is refused before it reaches a backend. */
  private checkHeaders (request: FastifyRequest, scope: Scope): RpcError | undefined {
    const body = request.body as { method?: unknown, params?: { name?: unknown, arguments?: unknown } }
    if (body.method !== 'tools/call' || typeof body.params?.name !== 'string') return undefined
    const tool = this.app.capabilities.resolveName('tools', body.params.name, scope)
    if (!tool) return undefined
    try {
      checkParamHeaders(tool.item.inputSchema, body.params.arguments, (name) => {
        const value = request.headers[name]
        return Array.isArray(value) ? value.join(', ') : value
      })
      return undefined
    } catch (err) {
      if (err instanceof RpcError) return err
      throw err
    }
  }

  /**
   * A `subscriptions/listen` that names resources: their backends are asked to watch them while the
   * stream is open (the SDK filters the updates per stream; the backends must send them first).
   */
  private async watchResources (body: unknown, scope: Scope): Promise<(() => void) | undefined> {
    const { method, params } = body as { method?: unknown, params?: { notifications?: { resourceSubscriptions?: unknown } } }
    const uris = params?.notifications?.resourceSubscriptions
    if (method !== 'subscriptions/listen' || !Array.isArray(uris)) return undefined
    const watched: Array<{ backend: Backend, uri: string }> = []
    for (const uri of uris.slice(0, 100)) {
      const target = typeof uri === 'string' ? this.app.capabilities.resolveUri(uri, scope) : undefined
      const backend = target ? this.app.backends.get(target.backend) : undefined
      if (!target || !backend) continue
      await backend.watch(target.original, 1).catch(() => {})
      watched.push({ backend, uri: target.original })
    }
    return () => { for (const { backend, uri } of watched) void backend.watch(uri, -1).catch(() => {}) }
  }

  private handlerFor (scope: Scope): McpHttpHandler {
    const key = scope.single ?? ''
    let handler = this.handlers.get(key)
    if (!handler) {
      handler = createMcpHandler((ctx) => this.server(ctx.authInfo), { legacy: 'reject', keepAliveMs: 15_000 })
      this.handlers.set(key, handler)
    }
    return handler
  }

  /** Tells `subscriptions/listen` streams that lists changed. */
  listsChanged (kinds: Kind[], backends: string[]): void {
    const targets = [this.handlers.get(''), ...backends.map((b) => this.handlers.get(b))]
    for (const handler of targets) {
      if (!handler) continue
      for (const kind of kinds) {
        if (kind === 'tools') handler.notify.toolsChanged()
        else if (kind === 'prompts') handler.notify.promptsChanged()
        else handler.notify.resourcesChanged()
      }
    }
  }

  /**
   * Tells `subscriptions/listen` streams that a resource changed. The SDK picks the streams by the URI
   * each named: on `/mcp` that is the exposed URI, or the gateway's `onemcp://` form, which is always
   * accepted too (docs/naming.md).
   */
  resourceUpdated (backend: string, uri: string): void {
    const aggregated = this.handlers.get('')
    if (aggregated) {
      const exposed = this.app.capabilities.exposeUri(backend, uri)
      aggregated.notify.resourceUpdated(exposed)
      const wrapped = wrapUri(backend, uri)
      if (wrapped !== exposed) aggregated.notify.resourceUpdated(wrapped)
    }
    this.handlers.get(backend)?.notify.resourceUpdated(uri)
  }

  /** One request's server: the gateway's view for the request's scope, answered by the Dispatcher. */
  private server (authInfo: AuthInfo | undefined): Server {
    const { scope, owner } = (authInfo?.extra ?? { scope: {} }) as { scope: Scope, owner?: string }
    const single = scope.single ? this.app.backends.get(scope.single) : undefined
    const instructions = this.app.capabilities.instructions(scope)
    const tasks = this.offersTasks(scope)
    const server = new Server(single?.serverInfo ? { ...single.serverInfo } : GATEWAY_INFO, {
      capabilities: this.serverCapabilities(single, tasks),
      ...(instructions ? { instructions } : {}),
      requestState: { verify: (state, ctx) => this.rounds.verify(state, ctx) },
      inputRequired: { legacyShim: false }
    })
    const serve = (method: string) => (request: { params?: Params }, ctx: ServerContext) => this.observed(method, ctx, () => this.handle(scope, owner, method, request.params ?? {}, ctx))
    for (const method of CORE_METHODS) server.setRequestHandler(method as 'tools/call', serve(method) as never)
    if (tasks) this.serveExtension(server, scope, owner, TASK_METHODS)
    if (extensionsOf(single)[SKILLS_EXTENSION]) this.serveExtension(server, scope, owner, SKILL_METHODS)
    return server
  }

  /** Times a request for /metrics, under the same labels as the 2025 route's (the backend is the one resolved last). */
  private async observed (method: string, ctx: ServerContext, answer: () => Promise<Result>): Promise<Result> {
    const started = performance.now()
    let code: number | undefined
    try {
      return await answer()
    } catch (err) {
      code = err instanceof RpcError ? err.code : RpcCode.InternalError
      throw err
    } finally {
      this.app.metrics.observeRequest(method, this.rounds.channelOf(ctx)?.backend, (performance.now() - started) / 1000, code)
    }
  }

  private serverCapabilities (single: Backend | undefined, tasks: boolean): ServerCapabilities {
    const capabilities = gatewayCapabilities(single?.state === 'ready' ? single.capabilities : undefined)
    // the aggregated endpoint offers the tasks extension when a backend it shows does
    if (!single && tasks) capabilities.extensions = { ...capabilities.extensions, [TASKS_EXTENSION]: {} }
    return capabilities
  }

  /** Whether a backend the scope shows offers the tasks extension (SEP-2663). */
  private offersTasks (scope: Scope): boolean {
    for (const backend of this.app.backends.all()) {
      if (backend.state !== 'ready' || !admits(scope, backend.name)) continue
      if (extensionsOf(backend)[TASKS_EXTENSION]) return true
    }
    return false
  }

  /**
   * An extension's methods (tasks: to the backend that holds the task; skills: to the server), passed to
   * the dispatcher. The SDK serves methods outside the core protocol when they are registered with a schema.
   */
  private serveExtension (server: Server, scope: Scope, owner: string | undefined, methods: readonly string[]): void {
    for (const method of methods) {
      server.setRequestHandler(method, { params: ANY_PARAMS }, (params, ctx) => this.observed(method, ctx, () => this.handle(scope, owner, method, params, ctx)))
    }
  }

  /** Answers one request of a 2026 client through its request context, with the bridges for client input. */
  private async handle (scope: Scope, owner: string | undefined, method: string, params: Params, ctx: ServerContext): Promise<Result> {
    const state = ctx.mcpReq.requestState<StatePayload>() as StatePayload | string | undefined
    const payload = typeof state === 'object' ? state : undefined
    if (payload?.k !== undefined) return this.rounds.resume(payload.k, ctx)
    const envelope = (ctx.mcpReq.envelope ?? {}) as Record<string, unknown>
    const session = this.app.sessions.openRequest({
      id: `modern-${++this.requestCount}-${randomBytes(6).toString('base64url')}`,
      protocolVersion: STATELESS_VERSION,
      clientInfo: envelope['io.modelcontextprotocol/clientInfo'] as Session['clientInfo'],
      clientCapabilities: (envelope['io.modelcontextprotocol/clientCapabilities'] ?? {}) as ClientCapabilities,
      scope,
      owner
    })
    session.logLevel = envelope['io.modelcontextprotocol/logLevel'] as string | undefined
    const channel = new InputChannel(ctx, session.logLevel)
    const forwarded = withInput(params, ctx.mcpReq.inputResponses, payload?.s)
    const id: RequestId = `${session.id}-1`
    const onAbort = () => session.inflight.get(id)?.cancellation.abort('the client closed the request')
    ctx.mcpReq.signal.addEventListener('abort', onAbort, { once: true })
    const outcome: Promise<Outcome> = this.dispatcher.request(session, id, method, forwarded, channel, requestOptions(ctx))
      .then((result) => ({ result }), (error: unknown) => ({ error }))
    return this.rounds.settle({ session, channel, outcome }, ctx, onAbort)
  }

  /** Cancels every parked call and stops the handlers (gateway shutdown). */
  async close (): Promise<void> {
    this.rounds.close()
    await Promise.allSettled([...this.handlers.values()].map((h) => h.close()))
  }
}
