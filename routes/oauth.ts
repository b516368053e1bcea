import { createHash } from 'node:crypto'
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import cookie from '@fastify/cookie'
import oauth2, { type OAuth2Namespace } from '@fastify/oauth2'
import rateLimit from '@fastify/rate-limit'
import { OAuthError, type PendingAuthorization } from '../auth/authorization-server.js'
import { consentPage, errorPage, loginPage, PAGE_HEADERS, type ClientView } from '../auth/pages.js'
import { verifyPassphrase } from '../auth/passphrase.js'
import { safeEqual } from '../auth/safe-equal.js'
import { scopesSupported } from '../auth/scopes.js'
import type { ClientAuthMethod } from '../auth/store.js'
import type { UpstreamIdpSettings } from '../schemas/auth.js'
import { hostGuard } from './host-guard.js'

type Form = Record<string, string | string[]>

const PRM_SUFFIX = /^\/(mcp(\/[A-Za-z0-9_-]+)?|sse|messages|metrics)$/
const UPSTREAM = 'upstreamIdp'
const REGISTRATION_BODY_LIMIT = 64 * 1024

function parseForm (text: string): Form {
  // no prototype: a field named `__proto__` or `constructor` is a field like any other
  const out: Form = Object.create(null) as Form
  for (const [key, value] of new URLSearchParams(text)) {
    const existing = out[key]
    out[key] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value]
  }
  return out
}

/** One half of Basic credentials: form-encoded (RFC 6749 §2.3.1), so a bad `%` escape is a malformed request. */
function basicPart (text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '))
  } catch {
    throw new OAuthError('invalid_request', 'malformed Basic credentials: bad percent-encoding')
  }
}

/** A parameter that must appear at most once (RFC 6749 §3.1, §3.2). */
function single (form: Form, name: string): string | undefined {
  const value = form[name]
  if (Array.isArray(value)) throw new OAuthError('invalid_request', `${name} must not be repeated`)
  return value
}

function clientView (pending: PendingAuthorization): ClientView {
  return { clientId: pending.client.client_id, name: pending.client.client_name, redirectUri: pending.redirectUri, resource: pending.resource }
}

/** Who the upstream provider says logged in, and the names the allow list may use for them. */
function upstreamIdentity (info: Record<string, unknown>, viaDiscovery: boolean): { subject: string, names: string[] } | undefined {
  const sub = typeof info.sub === 'string' ? info.sub : (typeof info.id === 'number' || typeof info.id === 'string') ? String(info.id) : undefined
  if (!sub) return undefined
  const names = [sub]
  if (typeof info.email === 'string' && info.email_verified === true) names.push(info.email)
  if (!viaDiscovery && typeof info.login === 'string') names.push(info.login)
  return { subject: sub, names }
}

/**
 * Browser-based clients (the Inspector's UI) call these endpoints cross-origin. They take no
 * cookies, so any origin may read them; the login and consent pages are navigations, not listed.
 */
function registerCors (app: FastifyInstance): void {
  const CORS_PATHS = /^\/(\.well-known\/|token$|register$|revoke$)/
  app.addHook('onRequest', async (request, reply) => {
    if (CORS_PATHS.test(request.url.split('?')[0].slice(0, 64))) reply.header('access-control-allow-origin', '*')
  })
  // preflights on these paths only: an app embedding the gateway may answer OPTIONS elsewhere
  // (@fastify/cors declares `OPTIONS *`)
  const preflight = async (_request: FastifyRequest, reply: FastifyReply) => reply.code(204)
    .header('access-control-allow-methods', 'GET, POST, OPTIONS')
    .header('access-control-allow-headers', 'authorization, content-type, mcp-protocol-version')
    .header('access-control-max-age', '600')
    .send()
  for (const path of ['/.well-known/*', '/token', '/register', '/revoke']) app.options(path, { config: { rateLimit: false } }, preflight)
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

/** The scopes ticked on the consent form. */
function askedScopes (form: Form): unknown[] {
  if (form.scope === undefined) return []
  return Array.isArray(form.scope) ? form.scope : [form.scope]
}

/**
 * The OAuth 2.1 endpoints: RFC 9728 protected resource metadata (always, when auth is on), and
 * with the embedded issuer RFC 8414 metadata, /authorize with the owner's login and consent,
 * /token, /register (RFC 7591), /revoke (RFC 7009), the JWKS, and the upstream login callback.
 * Rate-limited here only: /health and the MCP endpoints are not counted.
 */
const oauthRoutes: FastifyPluginAsync = async (app) => {
  const auth = app.auth
  if (!auth.enabled) return
  const urls = auth.urls
  const settings = auth.settings
  const limits = settings.rateLimit ?? {}
  const windowMs = (limits.windowSeconds ?? 60) * 1000

  // DNS rebinding: the same Host check as /mcp. Origin is not checked here: browser-based clients
  // call /token, /register and /revoke cross-origin (CORS below), and the pages are navigations.
  app.addHook('onRequest', hostGuard(app, { checkOrigin: false }))

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_req, body, done) => {
    done(null, parseForm(body as string))
  })
  await app.register(cookie)
  await app.register(rateLimit, { global: true, max: limits.max ?? 60, timeWindow: windowMs })

  registerCors(app)

  const scopes = () => scopesSupported(app.gatewayConfig.current.mcpServers)

  function protectedResourceMetadata (path: string) {
    return {
      resource: urls.resource(path),
      authorization_servers: [urls.issuer()],
      scopes_supported: scopes(),
      bearer_methods_supported: ['header'],
      resource_name: '1MCP Gateway'
    }
  }

  app.get('/.well-known/oauth-protected-resource', async (_request, reply) =>
    reply.header('cache-control', 'max-age=60').send(protectedResourceMetadata('')))
  app.get('/.well-known/oauth-protected-resource/*', async (request, reply) => {
    const suffix = '/' + (request.params as { '*': string })['*']
    if (!PRM_SUFFIX.test(suffix) && !auth.isProtectedPath(suffix)) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'no protected resource at this path' })
    return reply.header('cache-control', 'max-age=60').send(protectedResourceMetadata(suffix))
  })

  const embedded = auth.embedded
  if (!embedded) return
  const { server, tokens, owners } = embedded
  const secure = () => urls.base().startsWith('https:')
  // Cookies are not kept apart by port: two gateways on one host would share a cookie named alike.
  // The name carries a short hash of this gateway's base URL (and `__Host-` under https).
  let tagged: { base: string, tag: string } | undefined
  const cookieName = (role: string) => {
    const base = urls.base()
    if (tagged?.base !== base) tagged = { base, tag: createHash('sha256').update(base).digest('base64url').slice(0, 10) }
    return `${secure() ? '__Host-' : ''}1mcp-${role}-${tagged.tag}`
  }
  const ownerCookie = () => cookieName('owner')
  // the pages' forms post under the public base URL's path (a proxy may serve the gateway at /gw)
  const basePath = () => new URL(urls.base()).pathname.replace(/\/+$/, '')
  const loginCookie = () => cookieName('login')
  // Lax for the upstream login's cookies: the identity provider's redirect back is a cross-site navigation.
  const cookieOptions = () => ({ path: '/', httpOnly: true, sameSite: 'lax' as const, secure: secure() })
  // Strict for the owner's session: no other site (nor another port of this host, which is the same
  // site) starts a request that carries it; Origin and Sec-Fetch-Site are checked on top (sameOriginForm).
  const ownerCookieOptions = () => ({ ...cookieOptions(), sameSite: 'strict' as const })

  /** The origins this gateway's pages are served from: the public base URL's, and the request's own. */
  function ownOrigins (request: FastifyRequest): string[] {
    return [new URL(urls.base()).origin, `${request.protocol}://${request.host}`.toLowerCase()]
  }

  /**
   * Why a login or consent form post is refused as coming from another page, or undefined: the
   * browser's Fetch Metadata says cross-site or same-site (another port of this host is same-site),
   * or the Origin is not this gateway's. `Origin: null` passes only when the browser vouches for
   * same-origin; no Origin at all (an old browser) leaves it to the CSRF token bound to the session.
   */
  function crossSiteForm (request: FastifyRequest): string | undefined {
    const site = request.headers['sec-fetch-site']
    if (site === 'cross-site' || site === 'same-site') return `Sec-Fetch-Site is ${site}`
    const origin = request.headers.origin
    if (origin === undefined) return undefined
    if (origin === 'null') return site === 'same-origin' ? undefined : 'Origin is null'
    return ownOrigins(request).includes(origin.toLowerCase()) ? undefined : 'Origin is not this gateway'
  }

  function refuseCrossSite (request: FastifyRequest, reply: FastifyReply, event: string): FastifyReply | undefined {
    const reason = crossSiteForm(request)
    if (!reason) return undefined
    auth.audit(request, event, 'refused', { reason: `cross-site form post: ${reason}`, origin: request.headers.origin })
    return sendPage(reply, 403, errorPage('Request refused', 'This form was not sent from a page of this gateway.'))
  }

  function authorizationServerMetadata () {
    const base = urls.base()
    return {
      issuer: urls.issuer(),
      authorization_endpoint: `${base}/authorize`,
      token_endpoint: `${base}/token`,
      ...(settings.allowDynamicRegistration ?? true ? { registration_endpoint: `${base}/register` } : {}),
      revocation_endpoint: `${base}/revoke`,
      jwks_uri: `${base}/.well-known/jwks.json`,
      scopes_supported: scopes(),
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
      revocation_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
      code_challenge_methods_supported: ['S256'],
      client_id_metadata_document_supported: settings.allowClientMetadataDocuments ?? true,
      authorization_response_iss_parameter_supported: true
    }
  }
  for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/oauth-authorization-server/*']) {
    app.get(path, async (_request, reply) => reply.header('cache-control', 'max-age=60').send(authorizationServerMetadata()))
  }
  app.get('/.well-known/jwks.json', async (_request, reply) => reply.header('cache-control', 'max-age=300').send({ keys: [tokens.publicJwk] }))

  function sendPage (reply: FastifyReply, status: number, html: string): FastifyReply {
    return reply.code(status).headers(PAGE_HEADERS).send(html)
  }

  function redirectToClient (reply: FastifyReply, redirectUri: string, params: Record<string, string | undefined>): FastifyReply {
    const target = new URL(redirectUri)
    for (const [k, v] of Object.entries({ ...params, iss: urls.issuer() })) if (v !== undefined) target.searchParams.set(k, v)
    return reply.code(303).header('cache-control', 'no-store').redirect(target.href, 303)
  }

  function owner (request: FastifyRequest): { id: string, subject: string } | undefined {
    const id = request.cookies[ownerCookie()]
    const session = owners.get(id)
    return session && id ? { id, subject: session.subject } : undefined
  }

  function showConsent (reply: FastifyReply, pending: PendingAuthorization, session: { id: string, subject: string }): FastifyReply {
    const csrf = owners.consentToken(session.id, pending.id)
    return sendPage(reply, 200, consentPage({ requestId: pending.id, csrf, client: clientView(pending), basePath: basePath(), scopes: pending.scopes, subject: session.subject }))
  }

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

  app.get('/authorize', async (request, reply) => {
    const check = await server.checkAuthorizeRequest(request.query as Record<string, unknown>)
    const clientId = (request.query as Record<string, unknown>).client_id
    if (!check.ok) {
      auth.audit(request, 'authorize', 'refused', { clientId, reason: check.error.description, ...(check.error.detail ? { detail: check.error.detail } : {}) })
      if (check.redirect) return redirectToClient(reply, check.redirect.uri, { error: check.error.error, error_description: check.error.description, state: check.redirect.state })
      return sendPage(reply, 400, errorPage('This authorization request cannot be served', check.error.description))
    }
    const pending = check.pending
    const session = owner(request)
    if (session) return showConsent(reply, pending, session)
    if (idp) {
      reply.setCookie(loginCookie(), pending.id, { ...cookieOptions(), maxAge: 600 })
      const uri = await idp.generateAuthorizationUri(request, reply)
      return reply.header('cache-control', 'no-store').redirect(uri, 302)
    }
    return sendPage(reply, 200, loginPage({ requestId: pending.id, csrf: pending.csrf, client: clientView(pending), basePath: basePath() }))
  })

  /** The pending request a form refers to, if its CSRF token matches. */
  function formPending (form: Form): PendingAuthorization | undefined {
    const id = form.request_id
    const csrf = form.csrf_token
    const pending = typeof id === 'string' ? server.getPending(id) : undefined
    if (!pending || typeof csrf !== 'string' || !safeEqual(csrf, pending.csrf)) return undefined
    return pending
  }

  app.post('/authorize/login', { config: { rateLimit: { max: limits.loginMax ?? 10, timeWindow: windowMs } } }, async (request, reply) => {
    const crossSite = refuseCrossSite(request, reply, 'login')
    if (crossSite) return crossSite
    if (!embedded.passphraseHash) return sendPage(reply, 400, errorPage('Login refused', 'Owners log in through the identity provider here.'))
    const form = (request.body ?? {}) as Form
    const pending = formPending(form)
    if (!pending) {
      auth.audit(request, 'login', 'refused', { reason: 'unknown request or bad CSRF token' })
      return sendPage(reply, 400, errorPage('Login refused', 'This login form expired or was not issued by this gateway.'))
    }
    const passphrase = typeof form.passphrase === 'string' ? form.passphrase : ''
    if (!await verifyPassphrase(passphrase, embedded.passphraseHash)) {
      auth.audit(request, 'login', 'failed', { clientId: pending.client.client_id, via: 'passphrase' })
      return sendPage(reply, 401, loginPage({ requestId: pending.id, csrf: pending.csrf, client: clientView(pending), basePath: basePath(), error: 'Wrong passphrase.' }))
    }
    loggedIn(request, reply, pending, 'owner', 'passphrase')
    return reply.header('cache-control', 'no-store').redirect(`${basePath()}/authorize/consent?request_id=${encodeURIComponent(pending.id)}`, 303)
  })

  /** The owner is logged in: a session, and its cookie on the reply. */
  function loggedIn (request: FastifyRequest, reply: FastifyReply, pending: PendingAuthorization, subject: string, via: string): { id: string, subject: string } {
    const id = owners.create(subject, via)
    auth.audit(request, 'login', 'succeeded', { clientId: pending.client.client_id, subject, via })
    reply.setCookie(ownerCookie(), id, { ...ownerCookieOptions(), maxAge: owners.ttlMs / 1000 })
    return { id, subject }
  }

  app.get('/oauth/callback', async (request, reply) => {
    if (!idp || !upstream) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'no upstream identity provider is configured' })
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

  app.get('/authorize/consent', async (request, reply) => {
    const pending = server.getPending((request.query as Record<string, unknown>).request_id)
    if (!pending) return sendPage(reply, 400, errorPage('Consent refused', 'This authorization request expired or does not exist.'))
    const session = owner(request)
    if (!session) {
      if (idp) return sendPage(reply, 401, errorPage('Not logged in', 'Start again from the client to log in.'))
      return sendPage(reply, 200, loginPage({ requestId: pending.id, csrf: pending.csrf, client: clientView(pending), basePath: basePath() }))
    }
    return showConsent(reply, pending, session)
  })

  app.post('/authorize/consent', async (request, reply) => {
    const crossSite = refuseCrossSite(request, reply, 'consent')
    if (crossSite) return crossSite
    const form = (request.body ?? {}) as Form
    const pending = server.getPending(form.request_id)
    const session = owner(request)
    if (!pending || !session || !owners.checkConsentToken(session.id, pending.id, form.csrf_token)) {
      auth.audit(request, 'consent', 'refused', { reason: !session ? 'not logged in' : 'unknown request or bad CSRF token', subject: session?.subject })
      return sendPage(reply, 400, errorPage('Consent refused', 'This consent form expired or was not issued to you by this gateway.'))
    }
    server.takePending(pending.id)
    const asked = askedScopes(form)
    const granted = pending.scopes.filter((s) => asked.includes(s))
    const who = { clientId: pending.client.client_id, subject: session.subject }
    if (form.decision !== 'approve' || granted.length === 0) {
      auth.audit(request, 'consent', 'denied', who)
      return redirectToClient(reply, pending.redirectUri, { error: 'access_denied', error_description: 'the owner denied access', state: pending.state })
    }
    const code = server.issueCode(pending, session.subject, granted)
    auth.audit(request, 'consent', 'issued', { ...who, scopes: granted })
    return redirectToClient(reply, pending.redirectUri, { code, state: pending.state })
  })

  function clientCredentials (request: FastifyRequest, form: Form): { clientId?: string, secret?: string, method: ClientAuthMethod } {
    const header = request.headers.authorization
    if (header && /^Basic /i.test(header)) {
      const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8')
      const colon = decoded.indexOf(':')
      if (colon < 0) throw new OAuthError('invalid_client', 'malformed Basic credentials', 401)
      const clientId = basicPart(decoded.slice(0, colon))
      const bodyId = single(form, 'client_id')
      if (bodyId !== undefined && bodyId !== clientId) throw new OAuthError('invalid_request', 'client_id differs from the Basic credentials')
      return { clientId, secret: basicPart(decoded.slice(colon + 1)), method: 'client_secret_basic' }
    }
    const secret = single(form, 'client_secret')
    return { clientId: single(form, 'client_id'), secret, method: secret === undefined ? 'none' : 'client_secret_post' }
  }

  function sendOAuthError (request: FastifyRequest, reply: FastifyReply, err: unknown, event: string): FastifyReply {
    if (!(err instanceof OAuthError)) throw err
    auth.audit(request, event, 'refused', { error: err.error, reason: err.description, ...(err.detail ? { detail: err.detail } : {}) })
    if (err.statusCode === 401 && /^Basic /i.test(request.headers.authorization ?? '')) reply.header('www-authenticate', 'Basic realm="1mcp"')
    return reply.code(err.statusCode).header('cache-control', 'no-store').header('pragma', 'no-cache').send(err.toJSON())
  }

  function formBody (request: FastifyRequest): Form {
    if (!/^application\/x-www-form-urlencoded\b/i.test(request.headers['content-type'] ?? '')) {
      throw new OAuthError('invalid_request', 'the body must be application/x-www-form-urlencoded')
    }
    return (request.body ?? {}) as Form
  }

  app.post('/token', async (request, reply) => {
    try {
      const form = formBody(request)
      const client = await server.authenticateClient(clientCredentials(request, form))
      const grantType = single(form, 'grant_type')
      const params = Object.fromEntries(['code', 'code_verifier', 'redirect_uri', 'refresh_token', 'scope', 'resource'].map((k) => [k, single(form, k)]))
      let outcome
      if (grantType === 'authorization_code') outcome = await server.exchangeCode(client, params)
      else if (grantType === 'refresh_token') outcome = await server.refresh(client, params)
      else throw new OAuthError('unsupported_grant_type', 'grant_type must be authorization_code or refresh_token')
      auth.audit(request, grantType === 'refresh_token' ? 'refresh' : 'token', 'issued', { clientId: outcome.clientId, subject: outcome.subject, family: outcome.familyId, scope: outcome.response.scope })
      return reply.header('cache-control', 'no-store').header('pragma', 'no-cache').send(outcome.response)
    } catch (err) {
      if (err instanceof OAuthError && /already used/.test(err.description)) {
        auth.audit(request, 'token', 'revoked', { reason: err.description })
      }
      return sendOAuthError(request, reply, err, 'token')
    }
  })

  app.post('/revoke', async (request, reply) => {
    try {
      const form = formBody(request)
      const client = await server.authenticateClient(clientCredentials(request, form))
      const token = single(form, 'token')
      if (!token) throw new OAuthError('invalid_request', 'token is required')
      const family = await server.revoke(client, token)
      auth.audit(request, 'revoke', 'revoked', { clientId: client.client_id, family, known: family !== undefined })
      return reply.header('cache-control', 'no-store').code(200).send()
    } catch (err) {
      return sendOAuthError(request, reply, err, 'revoke')
    }
  })

  // a registration is a few hundred bytes; the metadata itself is bounded in AuthorizationServer.register
  app.post('/register', { bodyLimit: REGISTRATION_BODY_LIMIT }, async (request, reply) => {
    try {
      const registered = await server.register(request.body)
      auth.audit(request, 'register', 'registered', { clientId: registered.client_id, clientName: registered.client_name })
      return reply.code(201).header('cache-control', 'no-store').header('pragma', 'no-cache').send(registered)
    } catch (err) {
      return sendOAuthError(request, reply, err, 'register')
    }
  })
}

export default oauthRoutes
