import { randomBytes } from 'node:crypto'
import type { AccessTokens } from './access-tokens.js'
import { ClientLookup } from './client-lookup.js'
import type { FetchPolicy } from './client-metadata.js'
import { checkCodeRedemption, gatewayScopes, pkceProblem, type CodeRecord, type TokenOutcome } from './grant-checks.js'
import { OAuthError } from './errors.js'
import { matchRedirectUri } from './redirect-uris.js'
import { registeredMetadata } from './registration.js'
import { parseScope } from './scopes.js'
import type { AuthStore, ClientAuthMethod, ClientRecord } from './store.js'

export interface AuthorizationServerOptions {
  /** the issuer URL, known once the gateway listens */
  issuer: () => string
  /** whether a URL is an RFC 8707 resource this gateway serves (auth/resources.ts) */
  isResource: (resource: string) => boolean
  /** whether a token for `asked` stays within the grant for `granted` (the same resource, or a part of a general one) */
  narrows: (granted: string, asked: string) => boolean
  /** the audience when a client names no resource */
  defaultResource: () => string
  accessTokenTtlSeconds: number
  refreshTokenTtlSeconds: number
  codeTtlSeconds: number
  allowRegistration: boolean
  allowMetadataDocuments: boolean
  metadataFetchPolicy: () => FetchPolicy
  maxClients?: number
  now?: () => number
}

/** A checked /authorize request, waiting for the owner's login and consent. */
export interface PendingAuthorization {
  id: string
  /** the login form's CSRF token; the consent form's is bound to the owner session (OwnerSessions.consentToken) */
  csrf: string
  client: ClientRecord
  redirectUri: string
  state?: string
  codeChallenge: string
  scopes: string[]
  resource: string
  expiresAt: number
}

/** An error to send back to the client's redirect URI, or (before it is trusted) to show. */
export type AuthorizeCheck =
  | { ok: true, pending: PendingAuthorization }
  | { ok: false, error: OAuthError, redirect?: { uri: string, state?: string } }

const MAX_PENDING = 10_000
const PENDING_TTL_MS = 10 * 60 * 1000
const NOT_A_RESOURCE = 'resource is not one this gateway serves: the base URL, /mcp or /mcp/<server>'

function random (bytes = 32): string {
  return randomBytes(bytes).toString('base64url')
}

/**
 * The OAuth 2.1 authorization server, without HTTP: authorization requests, codes with PKCE,
 * token exchange and refresh with rotation, revocation, registration, and Client ID Metadata
 * Documents. The routes in routes/oauth.ts speak HTTP for it.
 */
export class AuthorizationServer {
  private readonly pending = new Map<string, PendingAuthorization>()
  private readonly codes = new Map<string, CodeRecord>()
  private readonly now: () => number
  private readonly clients: ClientLookup

  constructor (private readonly tokens: AccessTokens, private readonly store: AuthStore, private readonly options: AuthorizationServerOptions) {
    this.now = options.now ?? Date.now
    this.clients = new ClientLookup(store, options, this.now)
  }

  /** Finds a client: registered here, or its metadata document fetched (and cached briefly). */
  async findClient (clientId: string): Promise<ClientRecord> {
    return await this.clients.findClient(clientId)
  }

  /** Checks an /authorize request (RFC 6749 §4.1.1, OAuth 2.1 PKCE, RFC 8707 resource). */
  async checkAuthorizeRequest (query: Record<string, unknown>): Promise<AuthorizeCheck> {
    const str = (name: string) => typeof query[name] === 'string' ? query[name] as string : undefined
    const clientId = str('client_id')
    if (!clientId) return { ok: false, error: new OAuthError('invalid_request', 'client_id is required') }
    const client = await this.findClient(clientId).catch((err: unknown) => {
      if (err instanceof OAuthError) return err
      throw err
    })
    if (client instanceof OAuthError) return { ok: false, error: client }
    const askedUri = str('redirect_uri') ?? (client.redirect_uris.length === 1 ? client.redirect_uris[0] : undefined)
    if (!askedUri) return { ok: false, error: new OAuthError('invalid_request', 'redirect_uri is required: the client registered several') }
    // compared, and used, in the stored (normalised) form: the code goes where the client registered
    const redirectUri = matchRedirectUri(client.redirect_uris, askedUri)
    if (!redirectUri) return { ok: false, error: new OAuthError('invalid_request', 'redirect_uri is not one the client registered (exact match of the normalised URI required)') }
    // From here on the redirect URI is trusted: errors go back to the client.
    const state = str('state')
    const redirect = { uri: redirectUri, state }
    const fail = (error: string, description: string): AuthorizeCheck => ({ ok: false, error: new OAuthError(error, description), redirect })
    const asked = this.checkAuthorizeParams(query, str, client)
    if ('error' in asked) return fail(asked.error, asked.description)
    const { challenge, resource, scopes } = asked
    if (this.pending.size >= MAX_PENDING) this.prune()
    if (this.pending.size >= MAX_PENDING) return fail('temporarily_unavailable', 'too many authorizations in progress')
    const pending: PendingAuthorization = {
      id: random(18),
      csrf: random(),
      client,
      redirectUri,
      state,
      codeChallenge: challenge,
      scopes,
      resource,
      expiresAt: this.now() + PENDING_TTL_MS
    }
    this.pending.set(pending.id, pending)
    return { ok: true, pending }
  }

  /** The grant an /authorize request asks for (PKCE challenge, resource, scopes), or the error to redirect with. */
  private checkAuthorizeParams (query: Record<string, unknown>, str: (name: string) => string | undefined, client: ClientRecord): { challenge: string, resource: string, scopes: string[] } | { error: string, description: string } {
    const fail = (error: string, description: string) => ({ error, description })
    if (str('response_type') !== 'code') return fail('unsupported_response_type', 'only response_type=code is supported')
    if (!client.response_types.includes('code') || !client.grant_types.includes('authorization_code')) return fail('unauthorized_client', 'the client is not registered for the authorization code grant')
    const challenge = str('code_challenge')
    const pkce = pkceProblem(challenge, str('code_challenge_method'))
    if (pkce || !challenge) return fail('invalid_request', pkce ?? '')
    const resource = this.askedResource(query.resource)
    if (resource === undefined) return fail('invalid_target', Array.isArray(query.resource) ? 'one resource per authorization request' : NOT_A_RESOURCE)
    const scopes = gatewayScopes(str('scope'))
    if (!scopes) return fail('invalid_scope', 'scope is malformed')
    return { challenge, resource, scopes }
  }

  /** The RFC 8707 resource an /authorize request names (this gateway's /mcp when none), or undefined when it is not one of ours. */
  private askedResource (asked: unknown): string | undefined {
    if (asked === undefined) return this.options.defaultResource()
    return typeof asked === 'string' && this.options.isResource(asked) ? asked : undefined
  }

  getPending (id: unknown): PendingAuthorization | undefined {
    if (typeof id !== 'string') return undefined
    const pending = this.pending.get(id)
    if (!pending) return undefined
    if (pending.expiresAt <= this.now()) {
      this.pending.delete(id)
      return undefined
    }
    return pending
  }

  /** Ends a pending authorization (consent given or refused): it can be used once only. */
  takePending (id: string): PendingAuthorization | undefined {
    const pending = this.getPending(id)
    this.pending.delete(id)
    return pending
  }

  /** The owner approved `scopes` (a subset of those asked) for this request: a single-use code. */
  issueCode (pending: PendingAuthorization, subject: string, scopes: string[]): string {
    const code = random()
    this.codes.set(code, {
      clientId: pending.client.client_id,
      redirectUri: pending.redirectUri,
      codeChallenge: pending.codeChallenge,
      subject,
      scope: scopes.join(' '),
      resource: pending.resource,
      expiresAt: this.now() + this.options.codeTtlSeconds * 1000,
      used: false
    })
    return code
  }

  /** Authenticates the client at the token or revocation endpoint. */
  async authenticateClient (credentials: { clientId?: string, secret?: string, method: ClientAuthMethod }): Promise<ClientRecord> {
    if (!credentials.clientId) throw new OAuthError('invalid_client', 'client authentication failed: no client_id', 401)
    const client = await this.findClient(credentials.clientId)
    if (client.token_endpoint_auth_method !== 'none') {
      if (credentials.method === 'none' || !this.store.checkClientSecret(client, credentials.secret)) {
        throw new OAuthError('invalid_client', 'client authentication failed', 401)
      }
    }
    return client
  }

  async exchangeCode (client: ClientRecord, params: Record<string, unknown>): Promise<TokenOutcome> {
    const code = typeof params.code === 'string' ? params.code : ''
    const record = this.codes.get(code)
    if (!record || record.expiresAt <= this.now()) throw new OAuthError('invalid_grant', 'the authorization code is invalid or expired')
    if (record.used) {
      // A replayed code: whatever it bought is revoked (OAuth 2.1 §4.1.3).
      if (record.familyId) await this.store.revokeFamily(record.familyId, 'authorization code replayed')
      throw new OAuthError('invalid_grant', 'the authorization code was already used')
    }
    record.used = true
    checkCodeRedemption(record, client, params)
    const audience = this.audienceFor(params.resource, record.resource)
    const { family, refreshToken } = await this.store.createFamily({ clientId: client.client_id, subject: record.subject, scope: record.scope, audience }, this.options.refreshTokenTtlSeconds)
    record.familyId = family.id
    const access = await this.tokens.issue(this.options.issuer(), { sub: record.subject, clientId: client.client_id, scope: record.scope, audience, family: family.id }, this.options.accessTokenTtlSeconds)
    return {
      response: { access_token: access.token, token_type: 'Bearer', expires_in: access.expiresIn, refresh_token: refreshToken, scope: record.scope },
      clientId: client.client_id,
      subject: record.subject,
      familyId: family.id
    }
  }

  async refresh (client: ClientRecord, params: Record<string, unknown>): Promise<TokenOutcome> {
    if (!client.grant_types.includes('refresh_token')) throw new OAuthError('unauthorized_client', 'the client is not registered for the refresh_token grant')
    const presented = typeof params.refresh_token === 'string' ? params.refresh_token : ''
    const result = await this.store.rotate(presented, client.client_id)
    if (result.outcome === 'reused') throw new OAuthError('invalid_grant', 'the refresh token was already used; its whole grant is revoked')
    if (result.outcome === 'invalid') throw new OAuthError('invalid_grant', result.reason)
    const family = result.family
    const granted = parseScope(family.scope)
    let scope = family.scope
    if (typeof params.scope === 'string') {
      const asked = parseScope(params.scope)
      if (asked.length === 0 || asked.some((s) => !granted.includes(s))) throw new OAuthError('invalid_scope', 'a refresh can only narrow the granted scope')
      scope = asked.join(' ')
    }
    if (params.resource !== undefined && params.resource !== family.audience) throw new OAuthError('invalid_target', 'resource differs from the one granted')
    const ttl = Math.max(1, Math.min(this.options.accessTokenTtlSeconds, Math.floor((family.expiresAt - this.now()) / 1000)))
    const access = await this.tokens.issue(this.options.issuer(), { sub: family.subject, clientId: client.client_id, scope, audience: family.audience, family: family.id }, ttl)
    return {
      response: { access_token: access.token, token_type: 'Bearer', expires_in: access.expiresIn, refresh_token: result.refreshToken, scope },
      clientId: client.client_id,
      subject: family.subject,
      familyId: family.id
    }
  }

  /**
   * RFC 7009: revoking a refresh token, or an access token, revokes its whole grant (the family),
   * which also ends the access tokens issued from it. Unknown tokens are not an error.
   */
  async revoke (client: ClientRecord, token: string): Promise<string | undefined> {
    let familyId = this.store.familyOfRefreshToken(token)?.id
    if (!familyId) {
      try {
        const claims = await this.tokens.verify(token, this.options.issuer())
        familyId = claims.fam
      } catch {}
    }
    const family = familyId ? this.store.getFamily(familyId) : undefined
    if (!family || family.clientId !== client.client_id) return undefined
    await this.store.revokeFamily(family.id, 'revoked by the client')
    return family.id
  }

  /** RFC 7591 Dynamic Client Registration. */
  async register (body: unknown): Promise<Record<string, unknown>> {
    if (!this.options.allowRegistration) throw new OAuthError('access_denied', 'dynamic client registration is turned off', 403)
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new OAuthError('invalid_client_metadata', 'the body must be a JSON object')
    if (this.store.clientCount >= (this.options.maxClients ?? 10_000)) throw new OAuthError('temporarily_unavailable', 'too many registered clients', 503)
    const metadata = registeredMetadata(body as Record<string, unknown>)
    const { client, secret } = await this.store.registerClient(metadata)
    const { client_secret_sha256: _hash, source: _source, ...published } = client
    return {
      ...Object.fromEntries(Object.entries(published).filter(([, v]) => v !== undefined)),
      ...(secret ? { client_secret: secret, client_secret_expires_at: 0 } : {})
    }
  }

  /** Drops expired pending requests and codes. */
  prune (): void {
    const now = this.now()
    for (const [id, p] of this.pending) if (p.expiresAt <= now) this.pending.delete(id)
    for (const [code, c] of this.codes) if (c.expiresAt + 60_000 <= now) this.codes.delete(code)
  }

  private audienceFor (asked: unknown, granted: string): string {
    if (asked === undefined) return granted
    if (typeof asked !== 'string' || !this.options.isResource(asked)) throw new OAuthError('invalid_target', NOT_A_RESOURCE)
    if (!this.options.narrows(granted, asked)) throw new OAuthError('invalid_target', 'resource is not within the one the owner approved')
    return asked
  }
}
