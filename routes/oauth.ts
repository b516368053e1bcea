import type { FastifyPluginAsync } from 'fastify'
import cookie from '@fastify/cookie'
import rateLimit from '@fastify/rate-limit'
import { hostGuard } from './host-guard.js'
import { authorizeRoutes } from './oauth/authorize.js'
import { browserPages } from './oauth/browser.js'
import { grantRoutes } from './oauth/grant.js'
import { parseForm } from './oauth/forms.js'
import { metadataRoutes, registerCors } from './oauth/metadata.js'
import { statusLoginRoutes } from './oauth/status-login.js'
import { tokenRoutes } from './oauth/tokens.js'
import { upstreamLogin } from './oauth/upstream.js'
import { AUTH_DEFAULTS } from '../schemas/auth.js'

/**
 * The OAuth 2.1 endpoints: RFC 9728 protected resource metadata (always, when auth is on), and
 * with the embedded issuer RFC 8414 metadata, /authorize with the owner's login and consent,
 * /token, /register (RFC 7591), /revoke (RFC 7009), the JWKS, the upstream login callback, and the
 * links users authorize per-user servers by.
 * Rate-limited here only: /health and the MCP endpoints are not counted.
 */
const oauthRoutes: FastifyPluginAsync = async (app) => {
  const auth = app.auth
  if (!auth.enabled) return
  const settings = auth.settings
  const limits = settings.rateLimit ?? {}
  const windowMs = (limits.windowSeconds ?? AUTH_DEFAULTS.rateLimit.windowSeconds) * 1000

  // DNS rebinding: the same Host check as /mcp. Origin is not checked here: browser-based clients
  // call /token, /register and /revoke cross-origin (CORS below), and the pages are navigations.
  app.addHook('onRequest', hostGuard(app, { checkOrigin: false }))

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_req, body, done) => {
    done(null, parseForm(body as string))
  })
  await app.register(cookie)
  await app.register(rateLimit, { global: true, max: limits.max ?? AUTH_DEFAULTS.rateLimit.max, timeWindow: windowMs })

  registerCors(app)

  metadataRoutes(app)

  const embedded = auth.embedded
  if (!embedded) return
  const pages = browserPages(app, embedded)
  const idp = await upstreamLogin(app, embedded, pages)
  const loginLimit = { max: limits.loginMax ?? AUTH_DEFAULTS.rateLimit.loginMax, timeWindow: windowMs }
  authorizeRoutes(app, embedded, pages, idp, loginLimit)
  statusLoginRoutes(app, embedded, pages, loginLimit)
  grantRoutes(app, pages)
  tokenRoutes(app, embedded)
}

export default oauthRoutes
