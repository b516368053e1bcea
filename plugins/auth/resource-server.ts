import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { admitsTags, ALL_SERVERS_SCOPE, grantOf, grantsAnything, TAG_PREFIX } from '../../auth/scopes.js'
import { VerifiedTokens } from '../../auth/verified-tokens.js'
import type { AuthSettings } from '../../schemas/auth.js'
import { ownEntry } from '../../schemas/config.js'
import type { AuthFailureReason } from '../metrics.js'
import { audit } from './audit.js'
import type { Issuer, VerifiedClaims } from './issuers.js'
import type { GatewayUrls, ResourceRules } from './urls.js'
import { httpErrorBody } from '../../schemas/errors.js'

// The resource server: checks the Bearer token of every protected request (signature, audience,
// revocation, scopes) and answers 401/403 with an RFC 6750 challenge naming the RFC 9728 metadata.

/** Who a request acts for, once its token is verified. */
export interface AuthContext {
  subject: string
  clientId: string
  scopes: string[]
  /** whether the token may see a server carrying these tags */
  admitsTags: (tags: string[]) => boolean
}

type Protect = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

/** The path of a protected request in its resource identifier: `/mcp`, `/mcp/<server>`, `/sse`, a plugin's `/hello/42`… */
function resourcePath (request: FastifyRequest): string {
  const path = request.url.split('?')[0]
  return path === '' ? '/' : path
}

/** A route URL (`/things/:id`, `/files/*`) as a pattern its concrete paths match. */
function routePattern (url: string): RegExp {
  const segment = (s: string) => s.includes('*') ? '.*' : s.includes(':') ? '[^/]+' : s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  return new RegExp(`^${url.split('/').map(segment).join('/')}$`)
}

/**
 * Records the routes added with `app.auth.protect` among their own hooks (the documented way for
 * plugins and embedding apps), so their protected resource metadata can be served.
 */
export function protectedRoutes (app: FastifyInstance, protect: Protect): (path: string) => boolean {
  const patterns: RegExp[] = []
  app.addHook('onRoute', (route) => {
    const hooks = [route.onRequest ?? [], route.preHandler ?? []].flat()
    if (hooks.includes(protect)) patterns.push(routePattern(route.url))
  })
  return (path) => patterns.some((p) => p.test(path))
}

function quoted (value: string): string {
  return `"${value.replace(/["\\]/g, '')}"`
}

/** Why a request is refused: the challenge to answer with, and what the audit log records. */
interface Denial { status: 401 | 403, error?: string, description: string, scope?: string, fields: Record<string, unknown> }

function deny (status: 401 | 403, error: string | undefined, description: string, fields: Record<string, unknown>, scope?: string): { denial: Denial } {
  return { denial: { status, error, description, fields, scope } }
}

/** The onRequest hook that checks a protected request's token (`app.auth.protect`). */
export function resourceServer (app: FastifyInstance, settings: AuthSettings, urls: GatewayUrls, resources: ResourceRules, issuer: Issuer, now: () => number): Protect {
  const { verifySignature, embedded } = issuer
  const verified = new VerifiedTokens<VerifiedClaims>(10_000, now)
  async function verify (token: string): Promise<VerifiedClaims> {
    const hit = verified.get(token)
    if (hit) return hit
    const claims = await verifySignature(token)
    verified.set(token, claims, claims.exp)
    return claims
  }

  // RFC 8707: a token reaches the resource it was issued for (a general one: all its scopes grant).
  // An external issuer's configured audiences are general: that issuer decides what they mean.
  const audienceOk = settings.external?.audience
    ? (aud: string[]) => aud.some((a) => settings.external!.audience!.includes(a))
    : (aud: string[], requestPath: string) => resources.admits(aud, requestPath)

  function challenge (request: FastifyRequest, reply: FastifyReply, status: 401 | 403, error: string | undefined, description: string, scope?: string): FastifyReply {
    const parts = [`resource_metadata=${quoted(urls.resourceMetadata(resourcePath(request)))}`]
    if (error) parts.push(`error=${quoted(error)}`, `error_description=${quoted(description)}`)
    if (scope) parts.push(`scope=${quoted(scope)}`)
    app.metrics.authFailures.inc({ reason: (error ?? 'missing_token') as AuthFailureReason })
    return reply.code(status)
      .header('www-authenticate', `Bearer ${parts.join(', ')}`)
      .header('cache-control', 'no-store')
      .send(httpErrorBody(status, description, error ?? 'unauthorized'))
  }

  /** The verified claims of the request's Bearer token, or why there are none. */
  async function claimsOf (header: string | undefined): Promise<{ claims: VerifiedClaims } | { denial: Denial }> {
    if (!header) return deny(401, undefined, 'a Bearer token is required', { reason: 'no token' })
    const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header)
    if (!match) return deny(401, 'invalid_request', 'the Authorization header must be "Bearer <token>"', { reason: 'malformed Authorization header' })
    try {
      return { claims: await verify(match[1]) }
    } catch (err) {
      const reason = (err as { code?: string }).code === 'ERR_JWT_EXPIRED' ? 'the token expired' : 'the token is invalid'
      return deny(401, 'invalid_token', reason, { reason, detail: (err as Error).message })
    }
  }

  /** What valid claims grant on this request, or why they do not suffice. */
  function grantFor (request: FastifyRequest, claims: VerifiedClaims): { grant: ReturnType<typeof grantOf> } | { denial: Denial } {
    const who = { clientId: claims.clientId, subject: claims.subject }
    if (!audienceOk(claims.audience, resourcePath(request))) {
      return deny(401, 'invalid_token', 'the token was issued for another resource (audience)', { ...who, reason: 'wrong audience', audience: claims.audience })
    }
    if (claims.family && embedded?.store.isRevoked(claims.family)) {
      return deny(401, 'invalid_token', 'the token was revoked', { ...who, reason: 'grant revoked' })
    }
    const grant = grantOf(claims.scopes)
    if (!grantsAnything(grant)) {
      return deny(403, 'insufficient_scope', `the token grants no MCP server: it needs "${ALL_SERVERS_SCOPE}" or a "${TAG_PREFIX}<tag>" scope`, { ...who, reason: 'insufficient scope', scopes: claims.scopes }, [...claims.scopes, ALL_SERVERS_SCOPE].join(' '))
    }
    return serverDenial(request, claims, grant, who) ?? { grant }
  }

  /** On `/mcp/<server>`: refused when the grant does not cover that server's tags. */
  function serverDenial (request: FastifyRequest, claims: VerifiedClaims, grant: ReturnType<typeof grantOf>, who: Record<string, unknown>): { denial: Denial } | undefined {
    const server = (request.params as { server?: string } | undefined)?.server
    const config = server !== undefined ? ownEntry(app.gatewayConfig.current.mcpServers, server) : undefined
    if (!config || config.disabled || admitsTags(grant, config.tags ?? [])) return undefined
    const needed = (config.tags ?? []).length ? config.tags!.map((t) => TAG_PREFIX + t) : [ALL_SERVERS_SCOPE]
    return deny(403, 'insufficient_scope', `the token's scopes do not grant the server '${server}'`, { ...who, reason: 'insufficient scope', server, scopes: claims.scopes }, [...new Set([...claims.scopes, ...needed])].join(' '))
  }

  async function protect (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const verified = await claimsOf(request.headers.authorization)
    const granted = 'claims' in verified ? grantFor(request, verified.claims) : verified
    if ('denial' in granted) {
      const { status, error, description, scope, fields } = granted.denial
      audit(request, 'access', 'denied', fields)
      challenge(request, reply, status, error, description, scope)
      return
    }
    const { claims } = verified as { claims: VerifiedClaims }
    const grant = granted.grant
    request.auth = { subject: claims.subject, clientId: claims.clientId, scopes: claims.scopes, admitsTags: (tags) => admitsTags(grant, tags) }
    audit(request, 'access', 'allowed', { clientId: claims.clientId, subject: claims.subject })
  }

  return protect
}
