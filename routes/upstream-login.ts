import type { FastifyInstance, FastifyPluginAsync, FastifyReply } from 'fastify'
import { errorPage, noticePage, PAGE_HEADERS } from '../auth/pages.js'
import { redactError } from '../backends/errors.js'
import { hostGuard } from './host-guard.js'

interface ServerParams { server: string }

function sendPage (reply: FastifyReply, status: number, html: string): FastifyReply {
  return reply.code(status).headers(PAGE_HEADERS).send(html)
}

/** The login of a configured server that may need one, or a 4xx answer. */
function loginOf (app: FastifyInstance, server: string, reply: FastifyReply) {
  const config = app.gatewayConfig.current.mcpServers[server]
  const login = config && Object.hasOwn(app.gatewayConfig.current.mcpServers, server) ? app.upstreamAuth.for(server, config) : undefined
  if (!config) reply.code(404).send({ error: 'not_found', message: `no server '${server}' is configured` })
  else if (!login) reply.code(400).send({ error: 'not_oauth', message: `'${server}' is not a remote server the gateway logs in to (a stdio server, one with its own Authorization header, or one with oauth.clientCredentials)` })
  return login
}

/**
 * The owner's login to a remote server that needs one (`1mcp auth login <server>` calls the first):
 * `POST /oauth/login/<server>` answers the authorization URL to open, and the authorization server
 * sends the browser back to `GET /oauth/callback/<server>`, which stores the tokens (encrypted) and
 * connects the server. With auth on, starting a login takes a token of this gateway that grants
 * the server; the callback is bound to the login begun by its `state`.
 */
const upstreamLoginRoutes: FastifyPluginAsync = async (app) => {
  app.addHook('onRequest', hostGuard(app, { checkOrigin: false }))

  app.post<{ Params: ServerParams }>('/oauth/login/:server', { onRequest: app.auth.protect }, async (request, reply) => {
    const { server } = request.params
    const login = loginOf(app, server, reply)
    if (!login) return reply
    const tags = app.gatewayConfig.current.mcpServers[server].tags ?? []
    if (request.auth && !request.auth.admitsTags(tags)) return reply.code(403).send({ error: 'insufficient_scope', message: `the token does not grant the server '${server}'` })
    const redirectUri = `${app.auth.urls.base()}/oauth/callback/${encodeURIComponent(server)}`
    try {
      const authorizationUrl = await login.beginLogin(redirectUri)
      return { server, authorizationUrl: authorizationUrl.href, redirectUri }
    } catch (err) {
      request.log.warn({ backend: server, error: redactError((err as Error).message) }, 'upstream login could not start')
      return reply.code(502).send({ error: 'upstream_unreachable', message: `the login to '${server}' could not start: ${redactError((err as Error).message)}` })
    }
  })

  app.get<{ Params: ServerParams, Querystring: Record<string, string> }>('/oauth/callback/:server', async (request, reply) => {
    const { server } = request.params
    const config = app.gatewayConfig.current.mcpServers[server]
    const login = config && Object.hasOwn(app.gatewayConfig.current.mcpServers, server) ? app.upstreamAuth.get(server) : undefined
    if (!login) return sendPage(reply, 404, errorPage('Unknown server', `No login to '${server}' is under way.`))
    try {
      await login.finishLogin(new URLSearchParams(request.query))
    } catch (err) {
      request.log.warn({ backend: server, error: redactError((err as Error).message) }, 'upstream login failed')
      return sendPage(reply, 400, errorPage('Login failed', `The login to '${server}' did not complete: ${(err as Error).message}`))
    }
    return sendPage(reply, 200, noticePage('Logged in', `The gateway is logged in to '${server}' and connects to it now.`))
  })
}

export default upstreamLoginRoutes
