import type { FastifyInstance } from 'fastify'
import oauth2, { type OAuth2Namespace } from '@fastify/oauth2'
import { errorPage } from '../../auth/pages.js'
import type { EmbeddedIssuer } from '../../plugins/auth/issuers.js'
import type { UpstreamIdpSettings } from '../../schemas/auth.js'
import { sendPage, type BrowserPages } from './browser.js'
import { sendHttpError } from '../errors.js'

// Logging the owner in through an upstream identity provider (@fastify/oauth2), and its callback.

const UPSTREAM = 'upstreamIdp'

/** Who the upstream provider says logged in, and the names the allow list may use for them. */
function upstreamIdentity (info: Record<string, unknown>, viaDiscovery: boolean): { subject: string, names: string[] } | undefined {
  const sub = typeof info.sub === 'string' ? info.sub : (typeof info.id === 'number' || typeof info.id === 'string') ? String(info.id) : undefined
  if (!sub) return undefined
  const names = [sub]
  if (typeof info.email === 'string' && info.email_verified === true) names.push(info.email)
  if (!viaDiscovery && typeof info.login === 'string') names.push(info.login)
  return { subject: sub, names }
}

/** Logging the owner in through an upstream identity provider (@fastify/oauth2). */
async function registerUpstream (app: FastifyInstance, upstream: UpstreamIdpSettings, callbackUri: () => string, cookie: Record<string, unknown>, hostPrefixedCookies: boolean): Promise<OAuth2Namespace> {
  const split = (url: string) => { const u = new URL(url); return { host: u.origin, path: u.pathname + u.search } }
  if (!upstream.issuer && (!upstream.authorizationUrl || !upstream.tokenUrl || !upstream.userinfoUrl)) {
    throw new Error('auth.upstream needs either "issuer" (OpenID Connect discovery) or "authorizationUrl", "tokenUrl" and "userinfoUrl"')
  }
  await app.register(oauth2, {
    name: UPSTREAM,
    scope: upstream.scopes ?? (upstream.issuer ? ['openid', 'email', 'profile'] : []),
    credentials: {
      client: { id: upstream.clientId, secret: upstream.clientSecret },
      ...(upstream.issuer
        ? {}
        : {
            auth: {
              authorizeHost: split(upstream.authorizationUrl!).host,
              authorizePath: split(upstream.authorizationUrl!).path,
              tokenHost: split(upstream.tokenUrl!).host,
              tokenPath: split(upstream.tokenUrl!).path
            }
          })
    },
    ...(upstream.issuer ? { discovery: { issuer: upstream.issuer } } : {}),
    callbackUri,
    pkce: 'S256',
    cookie,
    hostPrefixedCookies
  })
  return (app as unknown as Record<string, OAuth2Namespace>)[UPSTREAM]
}

/** Whether an upstream identity may act as the owner: `allowedUsers` names it, or is `*`. */
function allowedOwner (upstream: UpstreamIdpSettings, identity: { names: string[] }): boolean {
  return upstream.allowedUsers.includes('*') || identity.names.some((n) => upstream.allowedUsers.includes(n))
}

/** Registers the upstream login when one is configured (returning it), and its callback route. */
export async function upstreamLogin (app: FastifyInstance, embedded: EmbeddedIssuer, pages: BrowserPages): Promise<OAuth2Namespace | undefined> {
  const { server } = embedded
  const auth = app.auth
  const urls = auth.urls
  const settings = auth.settings
  const { loginCookie, cookieOptions, secure, showConsent, loggedIn } = pages
  // Upstream login: @fastify/oauth2 against the configured identity provider.
  const upstream: UpstreamIdpSettings | undefined = settings.upstream
  const idp = upstream ? await registerUpstream(app, upstream, () => `${urls.base()}/oauth/callback`, cookieOptions(), secure()) : undefined

  async function readUpstreamUser (accessToken: string): Promise<Record<string, unknown>> {
    if (upstream?.issuer) return await idp!.userinfo(accessToken) as Record<string, unknown>
    const res = await fetch(upstream!.userinfoUrl!, {
      headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json', 'user-agent': '1mcp-gateway' },
      signal: AbortSignal.timeout(10_000)
    })
    if (!res.ok) throw new Error(`the identity provider's user endpoint answered ${res.status}`)
    return await res.json() as Record<string, unknown>
  }

  app.get('/oauth/callback', async (request, reply) => {
    if (!idp || !upstream) return sendHttpError(reply, 404, 'no upstream identity provider is configured')
    const via = upstream.name ?? 'upstream'
    const pendingId = request.cookies[loginCookie()]
    reply.clearCookie(loginCookie(), { path: '/' })
    const pending = server.getPending(pendingId)
    if (!pending) return sendPage(reply, 400, errorPage('Login refused', 'The authorization request expired; start again from the client.'))
    let identity: ReturnType<typeof upstreamIdentity>
    try {
      const token = await idp.getAccessTokenFromAuthorizationCodeFlow(request, reply)
      identity = upstreamIdentity(await readUpstreamUser(token.token.access_token), Boolean(upstream.issuer))
    } catch (err) {
      auth.audit(request, 'login', 'failed', { clientId: pending.client.client_id, via, reason: (err as Error).message })
      return sendPage(reply, 400, errorPage('Login failed', 'The identity provider did not confirm the login.'))
    }
    if (!identity || !allowedOwner(upstream, identity)) {
      auth.audit(request, 'login', 'refused', { clientId: pending.client.client_id, subject: identity?.subject, via, reason: 'not in allowedUsers' })
      return sendPage(reply, 403, errorPage('Login refused', 'This account may not approve access to this gateway.'))
    }
    // The consent page comes in this answer, not after a redirect: this navigation began at the
    // identity provider (cross-site), and a browser withholds the Strict owner cookie along it.
    return showConsent(reply, pending, loggedIn(request, reply, pending, identity.subject, via))
  })

  return idp
}
