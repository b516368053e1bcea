import { createHash } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { PendingAuthorization } from '../../auth/authorization-server.js'
import { consentPage, errorPage, PAGE_HEADERS, type ClientView } from '../../auth/pages.js'
import type { EmbeddedIssuer } from '../../plugins/auth/issuers.js'

// What the owner's browser meets: the cookies, the check that a form comes from this gateway's own
// pages, the pages themselves and the redirect back to the client.

export function clientView (pending: PendingAuthorization): ClientView {
  return { clientId: pending.client.client_id, name: pending.client.client_name, redirectUri: pending.redirectUri, resource: pending.resource }
}

export function sendPage (reply: FastifyReply, status: number, html: string): FastifyReply {
  return reply.code(status).headers(PAGE_HEADERS).send(html)
}

/** The cookies, form checks, pages and redirects the login and consent routes share. */
export function browserPages (app: FastifyInstance, embedded: EmbeddedIssuer) {
  const auth = app.auth
  const urls = auth.urls
  const { owners } = embedded
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

  /** The owner is logged in (for a client's authorization, or `pending` undefined: for the status page): a session, and its cookie on the reply. */
  function loggedIn (request: FastifyRequest, reply: FastifyReply, pending: PendingAuthorization | undefined, subject: string, via: string): { id: string, subject: string } {
    const id = owners.create(subject, via)
    auth.audit(request, 'login', 'succeeded', { clientId: pending?.client.client_id, subject, via, ...(pending ? {} : { page: 'status' }) })
    reply.setCookie(ownerCookie(), id, { ...ownerCookieOptions(), maxAge: owners.ttlMs / 1000 })
    return { id, subject }
  }

  return { secure, basePath, loginCookie, cookieOptions, refuseCrossSite, redirectToClient, owner, showConsent, loggedIn }
}

export type BrowserPages = ReturnType<typeof browserPages>
