import { isAbsolute, join, resolve } from 'node:path'
import fp from 'fastify-plugin'
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose'
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AccessTokens } from '../auth/access-tokens.js'
import { AuthorizationServer } from '../auth/authorization-server.js'
import { dataFileError, JsonFile, prepareDataDir, type DataFileRole } from '../auth/files.js'
import { OwnerSessions } from '../auth/owner-sessions.js'
import { generatePassphrase, hashPassphrase, isPassphraseHash } from '../auth/passphrase.js'
import { admitsTags, ALL_SERVERS_SCOPE, grantOf, grantsAnything, parseScope, TAG_PREFIX } from '../auth/scopes.js'
import { AuthStore, DEFAULT_REGISTRATION_TTL_SECONDS } from '../auth/store.js'
import { audienceAdmits, isResourcePath, pathUnder } from '../auth/resources.js'
import { VerifiedTokens } from '../auth/verified-tokens.js'
import { debugOn } from './request-logger.js'
import type { AuthSettings } from '../schemas/auth.js'
import { ownEntry } from '../schemas/config.js'
import type { AuthFailureReason } from './metrics.js'

/** Who a request acts for, once its token is verified. */
export interface AuthContext {
  subject: string
  clientId: string
  scopes: string[]
  /** whether the token may see a server carrying these tags */
  admitsTags: (tags: string[]) => boolean
}

/** The URLs the gateway publishes: from `externalUrl` when set, else the listen address; never the Host header. */
export interface GatewayUrls {
  /** the public base URL, without a trailing slash */
  base: () => string
  /** the authorization server tokens come from (this gateway, or the external issuer) */
  issuer: () => string
  /** the RFC 8707 resource identifier of a path such as `/mcp` */
  resource: (path: string) => string
  /** where the RFC 9728 metadata of that resource is served */
  resourceMetadata: (path: string) => string
  /** the path under the base URL that a resource URL names (`''` for the base itself), or undefined when it is not this gateway's */
  pathOf: (url: string) => string | undefined
}

export type AuditOutcome = 'allowed' | 'denied' | 'issued' | 'refused' | 'revoked' | 'registered' | 'failed' | 'succeeded'

/** The embedded authorization server's parts, for routes/oauth.ts. */
export interface EmbeddedIssuer {
  server: AuthorizationServer
  tokens: AccessTokens
  store: AuthStore
  owners: OwnerSessions
  /** the owner passphrase hash, when the owner logs in with one (no upstream IdP) */
  passphraseHash?: string
}

export interface AuthService {
  enabled: boolean
  /** `embedded`: the gateway issues tokens; `external`: it trusts another issuer's; `off` */
  mode: 'embedded' | 'external' | 'off'
  /**
   * An onRequest hook for protected routes: answers 401/403 itself, or sets `request.auth`. A route of
   * your own is protected with `{ onRequest: app.auth.protect }` in its options: its 401 then names
   * protected resource metadata that is served for its path (see docs/security.md).
   */
  protect: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  /** whether a path (e.g. `/hello/42`) is a route of a plugin protected with `onRequest: app.auth.protect` */
  isProtectedPath: (path: string) => boolean
  urls: GatewayUrls
  settings: AuthSettings
  /** logs one auth decision (never a secret) */
  audit: (request: FastifyRequest, event: string, outcome: AuditOutcome, fields?: Record<string, unknown>) => void
  embedded?: EmbeddedIssuer
}

declare module 'fastify' {
  interface FastifyInstance { auth: AuthService }
  interface FastifyRequest { auth?: AuthContext }
}

export interface AuthPluginOptions {
  /** `--no-auth` */
  disabled?: boolean
  /** where a relative `auth.dataDir` is resolved from (the config file's folder) */
  baseDir?: string
  /** how the generated owner passphrase is shown, once; default: standard error */
  announce?: (text: string) => void
  now?: () => number
}

/** What the resource server needs from a verified access token. */
interface VerifiedClaims {
  subject: string
  clientId: string
  scopes: string[]
  audience: string[]
  family?: string
  /** expiry, seconds since the epoch */
  exp?: number
}

export const DEFAULTS = {
  accessTokenTtlSeconds: 900,
  refreshTokenTtlSeconds: 30 * 86400,
  authorizationCodeTtlSeconds: 60,
  ownerSessionTtlSeconds: 12 * 3600,
  registrationTtlSeconds: DEFAULT_REGISTRATION_TTL_SECONDS,
  dataDir: '.data'
} as const

const OWNER_FILE: DataFileRole = { what: 'owner passphrase file', fix: 'delete it to generate a new passphrase at the next start (shown once)' }

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost'])
const WELL_KNOWN_PRM = '/.well-known/oauth-protected-resource'

/** The URL of the listen address (or of the configured host and port, before listening). */
function listenUrl (app: FastifyInstance, address: ReturnType<FastifyInstance['server']['address']>): string {
  const config = app.gatewayConfig.current
  let host = config.host ?? '127.0.0.1'
  let port = config.port ?? 3050
  if (address && typeof address === 'object') {
    host = address.address
    port = address.port
  }
  if (host === '0.0.0.0' || host === '::') {
    app.log.warn('the gateway listens on every address but "externalUrl" is not set: OAuth URLs use localhost; set externalUrl to the address clients use')
    host = 'localhost'
  }
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`
}

function gatewayUrls (app: FastifyInstance, settings: AuthSettings): GatewayUrls {
  let cached: string | undefined
  function base (): string {
    if (cached) return cached
    const external = app.gatewayConfig.current.externalUrl
    if (external) return (cached = external.replace(/\/+$/, ''))
    const address = app.server.listening ? app.server.address() : null
    const url = listenUrl(app, address)
    if (address) cached = url
    return url
  }
  return {
    base,
    issuer: () => settings.external ? settings.external.issuer : base(),
    resource: (path) => base() + path,
    resourceMetadata: (path) => base() + WELL_KNOWN_PRM + path,
    pathOf: (url) => pathUnder(base(), url)
  }
}

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
function protectedRoutes (app: FastifyInstance, protect: AuthService['protect']): (path: string) => boolean {
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

/** Reads the owner passphrase hash: the config's, else the data dir's, else a new one (shown once). */
async function ownerPassphrase (app: FastifyInstance, settings: AuthSettings, dataDir: string, announce: (text: string) => void): Promise<string> {
  if (settings.passphraseHash !== undefined) {
    if (!isPassphraseHash(settings.passphraseHash)) throw new Error('auth.passphraseHash is not a hash made by hashPassphrase (scrypt$N$r$p$salt$hash): make one as the README shows, or remove it to have one generated')
    return settings.passphraseHash
  }
  const file = new JsonFile<{ passphraseHash: string, createdAt: string }>(join(dataDir, 'owner.json'), OWNER_FILE)
  const stored = await file.read()
  if (stored !== undefined) {
    if (!isPassphraseHash(stored?.passphraseHash)) throw dataFileError(OWNER_FILE, file.path, 'does not hold a passphrase hash ({ "passphraseHash": "scrypt$…" })')
    return stored.passphraseHash
  }
  const passphrase = generatePassphrase()
  const passphraseHash = await hashPassphrase(passphrase)
  await file.save({ passphraseHash, createdAt: new Date().toISOString() })
  app.log.warn({ file: file.path }, 'generated the owner passphrase; it is shown once on standard error and kept only as a hash')
  announce(`\n  1MCP owner passphrase (shown once; stored only as a hash in ${file.path}):\n\n      ${passphrase}\n\n  Enter it in the browser when an MCP client asks for access. To set your own, put "auth.passphraseHash" in the config.\n\n`)
  return passphraseHash
}

/** A verifier of another issuer's access tokens (external-issuer mode), with its keys fetched lazily. */
function externalVerifier (settings: NonNullable<AuthSettings['external']>): (token: string) => Promise<JWTPayload> {
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined
  async function keys (): Promise<ReturnType<typeof createRemoteJWKSet>> {
    if (jwks) return jwks
    let url = settings.jwksUrl
    if (!url) {
      const base = settings.issuer.replace(/\/+$/, '')
      for (const doc of [`${base}/.well-known/openid-configuration`, `${base}/.well-known/oauth-authorization-server`]) {
        const res = await fetch(doc, { signal: AbortSignal.timeout(5000) }).catch(() => undefined)
        if (res?.ok) {
          const meta = await res.json() as { jwks_uri?: string }
          if (typeof meta.jwks_uri === 'string') { url = meta.jwks_uri; break }
        }
      }
      if (!url) throw new Error(`cannot find the signing keys of ${settings.issuer}: set auth.external.jwksUrl`)
    }
    jwks = createRemoteJWKSet(new URL(url), { timeoutDuration: 5000, cooldownDuration: 30_000 })
    return jwks
  }
  return async (token) => {
    const { payload } = await jwtVerify(token, await keys(), {
      issuer: settings.issuer,
      algorithms: settings.algorithms ?? ['RS256', 'ES256', 'PS256', 'EdDSA'],
      requiredClaims: ['sub', 'exp', 'aud']
    })
    return payload
  }
}

/** `scope` (space-separated) or `scp` (an array, as Entra ID writes it). */
function scopesOf (payload: JWTPayload): string[] {
  if (typeof payload.scope === 'string') return parseScope(payload.scope)
  if (Array.isArray(payload.scp)) return payload.scp.filter((s): s is string => typeof s === 'string')
  if (typeof payload.scp === 'string') return parseScope(payload.scp)
  return []
}

interface Issuer {
  verifySignature: (token: string) => Promise<VerifiedClaims>
  embedded?: EmbeddedIssuer
}

/** External-issuer mode: tokens come from another authorization server and are checked against its keys. */
function externalIssuer (external: NonNullable<AuthSettings['external']>, log: FastifyBaseLogger): Issuer {
  const verifyExternal = externalVerifier(external)
  log.info({ issuer: external.issuer }, 'trusting access tokens from an external issuer')
  return {
    verifySignature: async (token) => {
      const payload = await verifyExternal(token)
      const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud ?? '']
      const clientId = [payload.client_id, payload.azp, payload.appid].find((v): v is string => typeof v === 'string') ?? ''
      return { subject: payload.sub ?? '', clientId, scopes: scopesOf(payload), audience: aud, exp: payload.exp }
    }
  }
}

/** The embedded authorization server: its keys, store and owner sessions, kept under the data dir. */
async function embeddedIssuer (app: FastifyInstance, settings: AuthSettings, opts: AuthPluginOptions, urls: GatewayUrls, resources: ResourceRules, log: FastifyBaseLogger, now: () => number): Promise<Issuer> {
  const dataDir = resolve(opts.baseDir ?? process.cwd(), settings.dataDir ?? DEFAULTS.dataDir)
  if (!isAbsolute(dataDir)) throw new Error(`auth.dataDir does not resolve to an absolute path: ${dataDir}`)
  await prepareDataDir(dataDir)
  const tokens = await AccessTokens.open(join(dataDir, 'signing-key.json'))
  const store = await AuthStore.open(dataDir, { now, registrationTtlSeconds: settings.registrationTtlSeconds ?? DEFAULTS.registrationTtlSeconds })
  const passphraseHash = settings.upstream ? undefined : await ownerPassphrase(app, settings, dataDir, opts.announce ?? ((text) => { process.stderr.write(text) }))
  const server = new AuthorizationServer(tokens, store, authorizationSettings(settings, urls, resources, now))
  const owners = new OwnerSessions((settings.ownerSessionTtlSeconds ?? DEFAULTS.ownerSessionTtlSeconds) * 1000, now)
  const pruner = setInterval(() => {
    server.prune()
    owners.prune()
    store.prune()
  }, 60_000)
  pruner.unref()
  app.addHook('onClose', async () => {
    clearInterval(pruner)
    await store.flushed()
  })
  log.info({ dataDir, owner: settings.upstream ? 'upstream identity provider' : 'passphrase' }, 'authorization server ready')
  return {
    embedded: { server, tokens, store, owners, passphraseHash },
    verifySignature: async (token) => {
      const claims = await tokens.verify(token, urls.issuer())
      return { subject: claims.sub, clientId: claims.client_id, scopes: parseScope(claims.scope), audience: [claims.aud], family: claims.fam, exp: claims.exp }
    }
  }
}

/** Which URLs are resources of this gateway, and which of them a token for another reaches (auth/resources.ts). */
interface ResourceRules {
  isResource: (url: string) => boolean
  narrows: (granted: string, asked: string) => boolean
  /** whether a token with these audiences may be used on this request path */
  admits: (audiences: string[], requestPath: string) => boolean
}

function resourceRules (app: FastifyInstance, urls: GatewayUrls, isProtectedPath: (path: string) => boolean): ResourceRules {
  const admits = (audience: string, requestPath: string) => {
    const path = urls.pathOf(audience)
    return path !== undefined && audienceAdmits(path, requestPath)
  }
  return {
    isResource: (url) => {
      const path = urls.pathOf(url)
      return path !== undefined && isResourcePath(path, app.gatewayConfig.current.mcpServers, isProtectedPath)
    },
    narrows: (granted, asked) => {
      const path = urls.pathOf(asked)
      return path !== undefined && admits(granted, path)
    },
    admits: (audiences, requestPath) => audiences.some((a) => admits(a, requestPath))
  }
}

function authorizationSettings (settings: AuthSettings, urls: GatewayUrls, resources: ResourceRules, now: () => number): ConstructorParameters<typeof AuthorizationServer>[2] {
  const loopbackGateway = () => LOOPBACK.has(new URL(urls.base()).hostname.replace(/^\[|\]$/g, ''))
  return {
    issuer: urls.issuer,
    isResource: resources.isResource,
    narrows: resources.narrows,
    defaultResource: () => urls.resource('/mcp'),
    accessTokenTtlSeconds: settings.accessTokenTtlSeconds ?? DEFAULTS.accessTokenTtlSeconds,
    refreshTokenTtlSeconds: settings.refreshTokenTtlSeconds ?? DEFAULTS.refreshTokenTtlSeconds,
    codeTtlSeconds: settings.authorizationCodeTtlSeconds ?? DEFAULTS.authorizationCodeTtlSeconds,
    allowRegistration: settings.allowDynamicRegistration ?? true,
    allowMetadataDocuments: settings.allowClientMetadataDocuments ?? true,
    metadataFetchPolicy: () => ({ allowLoopback: loopbackGateway() }),
    now
  }
}

/** Why a request is refused: the challenge to answer with, and what the audit log records. */
interface Denial { status: 401 | 403, error?: string, description: string, scope?: string, fields: Record<string, unknown> }

function deny (status: 401 | 403, error: string | undefined, description: string, fields: Record<string, unknown>, scope?: string): { denial: Denial } {
  return { denial: { status, error, description, fields, scope } }
}

/** Logs one auth decision (never a secret): refusals as warnings, the rest as info. */
function audit (request: FastifyRequest, event: string, outcome: AuditOutcome, fields: Record<string, unknown> = {}): void {
  // an allowed MCP request is the common case: one debug line, like the call itself (routes/mcp.ts),
  // and nothing gathered for it when debug is off
  const routine = event === 'access' && outcome === 'allowed'
  if (routine && !debugOn(request.log)) return
  const entry = { plugin: 'auth', audit: event, outcome, ip: request.ip, path: request.url.split('?')[0], ...fields }
  if (outcome === 'denied' || outcome === 'refused' || outcome === 'failed') request.log.warn(entry, `auth ${event}: ${outcome}`)
  else if (routine) request.log.debug(entry, `auth ${event}: ${outcome}`)
  else request.log.info(entry, `auth ${event}: ${outcome}`)
}

function rejectImpossible (settings: AuthSettings): void {
  if (settings.external && settings.upstream) throw new Error('auth.external and auth.upstream cannot both be set: with an external issuer the gateway does not log owners in')
  if (settings.external && settings.passphraseHash) throw new Error('auth.external and auth.passphraseHash cannot both be set')
}

/**
 * Authentication: the OAuth 2.1 resource server for every MCP endpoint and, unless an external
 * issuer is configured, the authorization server behind routes/oauth.ts. On by default; only
 * `--no-auth` or `"auth": {"enabled": false}` turns it off, with a warning.
 */
export default fp<AuthPluginOptions>(async (app, opts) => {
  const settings: AuthSettings = app.gatewayConfig.current.auth ?? {}
  const urls = gatewayUrls(app, settings)
  const log = app.log.child({ plugin: 'auth' })
  app.decorateRequest('auth', undefined)

  if (opts.disabled || settings.enabled === false) {
    app.decorate('auth', { enabled: false, mode: 'off', protect: async () => {}, isProtectedPath: () => false, urls, settings, audit } satisfies AuthService)
    log.warn({ reason: opts.disabled ? '--no-auth' : 'auth.enabled is false' }, 'authentication is OFF: every MCP endpoint is open to anyone who can reach it; keep the gateway on loopback')
    return
  }
  rejectImpossible(settings)

  const now = opts.now ?? Date.now
  // set once `protect` exists (below); plugin routes are added after this plugin, so in time
  let isProtectedPath: (path: string) => boolean = () => false
  const resources = resourceRules(app, urls, (path) => isProtectedPath(path))
  const { verifySignature, embedded } = settings.external
    ? externalIssuer(settings.external, log)
    : await embeddedIssuer(app, settings, opts, urls, resources, log, now)

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
      .send({ statusCode: status, error: status === 401 ? 'Unauthorized' : 'Forbidden', code: error ?? 'unauthorized', message: description })
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

  isProtectedPath = protectedRoutes(app, protect)
  app.decorate('auth', { enabled: true, mode: settings.external ? 'external' : 'embedded', protect, isProtectedPath, urls, settings, audit, embedded } satisfies AuthService)
}, { name: 'auth', dependencies: ['config', 'metrics'], fastify: '5.x' })
