import type { FastifyBaseLogger, FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { errorPage, noticePage } from '../auth/pages.js'
import { sendPage } from './oauth/browser.js'
import { redactError } from '../backends/errors.js'
import { hostGuard } from './host-guard.js'

interface ServerParams { server: string }

/** A login begun (the URL the owner opens), or why not: the HTTP status and error to answer. */
type LoginStart = { authorizationUrl: URL, redirectUri: string } | { status: 400 | 403 | 404 | 502, error: string, message: string }

/**
 * Begins the owner's login to a configured server that may need one (the routes below, and the
 * status page's Authorize button): the callback is this gateway's `/oauth/callback/<server>`.
 */
export async function beginUpstreamLogin (app: FastifyInstance, server: string, log: FastifyBaseLogger, grants: (tags: string[]) => boolean = () => true): Promise<LoginStart> {
  const servers = app.gatewayConfig.current.mcpServers
  const config = Object.hasOwn(servers, server) ? servers[server] : undefined
  if (!config) return { status: 404, error: 'not_found', message: `no server '${server}' is configured` }
  if (config.credentials === 'per-user') return { status: 400, error: 'per_user', message: `'${server}' has per-user credentials: each user authorizes it on their first call, not the owner once` }
  const login = app.upstreamAuth.for(server, config)
  if (!login) return { status: 400, error: 'not_oauth', message: `'${server}' is not a remote server the gateway logs in to (a stdio server, one with its own Authorization header, or one with oauth.clientCredentials)` }
  if (!grants(config.tags ?? [])) return { status: 403, error: 'insufficient_scope', message: `the token does not grant the server '${server}'` }
  const redirectUri = `${app.auth.urls.base()}/oauth/callback/${encodeURIComponent(server)}`
  try {
    return { authorizationUrl: await login.beginLogin(redirectUri), redirectUri }
  } catch (err) {
    log.warn({ backend: server, error: redactError((err as Error).message) }, 'upstream login could not start')
    return { status: 502, error: 'upstream_unreachable', message: `the login to '${server}' could not start: ${redactError((err as Error).message)}` }
  }
}

export interface GrantRequest { Params: ServerParams, Querystring: { token?: string } }

/**
 * A user's own authorization of a per-user server: the single-use link their client was given (URL
 * elicitation), opened in their browser. `sameUser` tells whether the browser is the user the link
 * was made for (else the link is left as it is); the link is then used up, the user's login starts,
 * and the browser goes on to the server's authorization server.
 */
export async function startUserGrant (app: FastifyInstance, request: FastifyRequest<GrantRequest>, reply: FastifyReply, sameUser: (user: string) => true | FastifyReply): Promise<FastifyReply> {
  const { server } = request.params
  let refused: FastifyReply | undefined
  const login = Object.hasOwn(app.gatewayConfig.current.mcpServers, server)
    ? app.upstreamAuth.takeLink(server, String(request.query.token ?? ''), (user) => { const same = sameUser(user); if (same !== true) refused = same; return same === true })
    : undefined
  if (refused) return refused
  if (!login) return sendPage(reply, 404, errorPage('Link not valid', 'This authorization link is unknown, used or expired. Call the tool again to get a new one.'))
  try {
    const authorizationUrl = await login.beginLogin(`${app.auth.urls.base()}/oauth/callback/${encodeURIComponent(server)}`)
    return reply.code(302).header('cache-control', 'no-store').redirect(authorizationUrl.href)
  } catch (err) {
    request.log.warn({ backend: server, error: redactError((err as Error).message) }, 'a user\'s upstream authorization could not start')
    return sendPage(reply, 502, errorPage('Authorization could not start', `The authorization server of '${server}' could not be reached: ${redactError((err as Error).message)}`))
  }
}

/**
 * The owner's login to a remote server that needs one (`1mcp auth login <server>` calls the first):
 * `POST /oauth/login/<server>` answers the authorization URL to open, and the authorization server
 * sends the browser back to `GET /oauth/callback/<server>`, which stores the tokens (encrypted) and
 * connects the server. With auth on, starting a login takes a token of this gateway that grants
 * the server; the callback is bound to the login begun by its `state`. A `credentials: "per-user"`
 * server has no owner login: each user opens `GET /oauth/grant/<server>?token=…` (the link their
 * client got by URL elicitation), and the same callback finishes that user's login.
 */
const upstreamLoginRoutes: FastifyPluginAsync = async (app) => {
  app.addHook('onRequest', hostGuard(app, { checkOrigin: false }))

  app.post<{ Params: ServerParams }>('/oauth/login/:server', { onRequest: app.auth.protect }, async (request, reply) => {
    const { server } = request.params
    const started = await beginUpstreamLogin(app, server, request.log, (tags) => request.auth?.admitsTags(tags) ?? true)
    if ('status' in started) return reply.code(started.status).send({ error: started.error, message: started.message })
    return { server, authorizationUrl: started.authorizationUrl.href, redirectUri: started.redirectUri }
  })

  app.get<{ Params: ServerParams, Querystring: Record<string, string> }>('/oauth/callback/:server', async (request, reply) => {
    const { server } = request.params
    const config = app.gatewayConfig.current.mcpServers[server]
    const state = typeof request.query.state === 'string' ? request.query.state : ''
    const login = config && Object.hasOwn(app.gatewayConfig.current.mcpServers, server) ? app.upstreamAuth.awaiting(server, state) : undefined
    if (!login) return sendPage(reply, 404, errorPage('Unknown server', `No login to '${server}' is under way.`))
    try {
      await login.finishLogin(new URLSearchParams(request.query))
    } catch (err) {
      request.log.warn({ backend: server, error: redactError((err as Error).message) }, 'upstream login failed')
      return sendPage(reply, 400, errorPage('Login failed', `The login to '${server}' did not complete: ${(err as Error).message}`))
    }
    const done = config.credentials === 'per-user' ? `You have authorized the gateway to use '${server}' for you; your call goes on now. You may close this page.` : `The gateway is logged in to '${server}' and connects to it now.`
    return sendPage(reply, 200, noticePage('Logged in', done))
  })

  // with the embedded issuer, routes/oauth/grant.ts serves the link, where the browser's session is known
  if (!app.auth.embedded) app.get<GrantRequest>('/oauth/grant/:server', (request, reply) => startUserGrant(app, request, reply, () => true))
}

export default upstreamLoginRoutes
