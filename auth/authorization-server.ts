import { randomBytes } from 'node:crypto'
import type { AccessTokens } from './access-tokens.js'
import { ClientMetadataError, fetchClientMetadata, isMetadataDocumentUrl, type FetchPolicy } from './client-metadata.js'
import { isValidChallenge, verifyS256 } from './pkce.js'
import { checkRedirectUri, matchRedirectUri } from './redirect-uris.js'
import { ALL_SERVERS_SCOPE, isGatewayScope, isScopeToken, parseScope } from './scopes.js'
import type { AuthStore, ClientAuthMethod, ClientRecord } from './store.js'

/** An OAuth error response (RFC 6749 §5.2 and friends). */
export class OAuthError extends Error {
  /** for the audit log only, never sent: what really went wrong when the description is kept generic */
  detail?: string

  // eslint-disable-next-line n/handle-callback-err -- `error` is the OAuth error code of this class, not a callback's error
  constructor (readonly error: string, readonly description: string, readonly statusCode = 400) {
    super(description)
    this.name = 'OAuthError'
  }

  toJSON (): { error: string, error_description: string } {
    return { error: this.error, error_description: this.description }
  }
}

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

interface CodeRecord {
  clientId: string
  redirectUri: string
  codeChallenge: string
  subject: string
  scope: string
  resource: string
  expiresAt: number
  used: boolean
  /** the family the code was exchanged for, revoked if the code is replayed */
  familyId?: string
}

export interface TokenResponse {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  refresh_token: string
  scope: string
}

export interface TokenOutcome {
  response: TokenResponse
  clientId: string
  subject: string
  familyId: string
}

/** An error to send back to the client's redirect URI, or (before it is trusted) to show. */
export type AuthorizeCheck =
  | { ok: true, pending: PendingAuthorization }
  | { ok: false, error: OAuthError, redirect?: { uri: string, state?: string } }

const MAX_PENDING = 10_000
const PENDING_TTL_MS = 10 * 60 * 1000
const CIMD_CACHE_MS = 5 * 60 * 1000
/** What a registration may store: one small file per client (names, URIs and scope together). */
const MAX_CLIENT_METADATA_BYTES = 8 * 1024
const MAX_REDIRECT_URI_LENGTH = 2000
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
  private readonly documents = new Map<string, { client: ClientRecord, expiresAt: number }>()
  private readonly now: () => number

  constructor (private readonly tokens: AccessTokens, private readonly store: AuthStore, private readonly options: AuthorizationServerOptions) {
    this.now = options.now ?? Date.now
  }

  /** Finds a client: registered here, or its metadata document fetched (and cached briefly). */
  async findClient (clientId: string): Promise<ClientRecord> {
    const registered = await this.store.findClient(clientId)
    if (registered) {
      await this.store.clientUsed(registered)
      return registered
    }
    if (!isMetadataDocumentUrl(clientId)) throw new OAuthError('invalid_client', 'unknown client_id', 401)
    if (!this.options.allowMetadataDocuments) throw new OAuthError('invalid_client', 'Client ID Metadata Documents are not accepted here', 401)
    const cached = this.documents.get(clientId)
    if (cached && cached.expiresAt > this.now()) return cached.client
    try {
      const client = await this.clientFromDocument(clientId)
      if (this.documents.size > 1000) this.documents.clear()
      this.documents.set(clientId, { client, expiresAt: this.now() + CIMD_CACHE_MS })
      return client
    } catch (err) {
      if (!(err instanceof ClientMetadataError)) throw err
      const refused = new OAuthError('invalid_client', err.message, 401)
      refused.detail = err.detail
      throw refused
    }
  }

  /** A client described by its Client ID Metadata Document, fetched from its client_id URL. */
  private async clientFromDocument (clientId: string): Promise<ClientRecord> {
    const doc = await fetchClientMetadata(clientId, this.options.metadataFetchPolicy())
    const redirectUris = doc.redirect_uris.map((uri) => {
      const checked = checkRedirectUri(uri)
      if ('problem' in checked) throw new ClientMetadataError(`redirect URI ${uri} ${checked.problem}`)
      return checked.uri
    })
    return {
      client_id: clientId,
      client_name: doc.client_name,
      client_uri: doc.client_uri,
      logo_uri: doc.logo_uri,
      redirect_uris: redirectUris,
      grant_types: doc.grant_types ?? ['authorization_code', 'refresh_token'],
      response_types: doc.response_types ?? ['code'],
      token_endpoint_auth_method: 'none',
      scope: doc.scope,
      client_id_issued_at: Math.floor(this.now() / 1000),
      source: 'metadata-document'
    }
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

/** The checks a code's redemption must pass once the code is known and unused (RFC 6749 §4.1.3, PKCE). */
function checkCodeRedemption (record: { clientId: string, redirectUri: string, codeChallenge: string }, client: ClientRecord, params: Record<string, unknown>): void {
  if (record.clientId !== client.client_id) throw new OAuthError('invalid_grant', 'the authorization code was issued to another client')
  if (params.redirect_uri !== undefined && (typeof params.redirect_uri !== 'string' || matchRedirectUri([record.redirectUri], params.redirect_uri) === undefined)) throw new OAuthError('invalid_grant', 'redirect_uri does not match the authorization request')
  if (typeof params.code_verifier !== 'string' || !verifyS256(params.code_verifier, record.codeChallenge)) throw new OAuthError('invalid_grant', 'code_verifier does not match the code_challenge')
}

/** The metadata a registration asks to store, checked field by field and bounded as a whole. */
function registeredMetadata (m: Record<string, unknown>): Parameters<AuthStore['registerClient']>[0] {
  const text = (name: string, max: number) => metadataText(m, name, max)
  const scope = text('scope', 2000)
  if (scope !== undefined && parseScope(scope).some((s) => !isScopeToken(s))) throw new OAuthError('invalid_client_metadata', 'scope is malformed')
  const metadata = {
    client_name: text('client_name', 200),
    client_uri: text('client_uri', 2000),
    logo_uri: text('logo_uri', 2000),
    redirect_uris: registeredRedirectUris(m),
    grant_types: registeredGrantTypes(m),
    response_types: ['code'],
    token_endpoint_auth_method: registeredAuthMethod(m),
    scope
  }
  const size = Buffer.byteLength(JSON.stringify(metadata))
  if (size > MAX_CLIENT_METADATA_BYTES) throw new OAuthError('invalid_client_metadata', `the client metadata takes ${size} bytes; at most ${MAX_CLIENT_METADATA_BYTES} are accepted`)
  return metadata
}

function registeredRedirectUris (m: Record<string, unknown>): string[] {
  const uris = m.redirect_uris
  if (!Array.isArray(uris) || uris.length === 0 || uris.length > 20 || !uris.every((u) => typeof u === 'string' && u.length <= MAX_REDIRECT_URI_LENGTH)) {
    throw new OAuthError('invalid_redirect_uri', `redirect_uris must be a non-empty array of at most 20 URIs of at most ${MAX_REDIRECT_URI_LENGTH} characters`)
  }
  const stored = (uris as string[]).map((uri) => {
    const checked = checkRedirectUri(uri)
    if ('problem' in checked) throw new OAuthError('invalid_redirect_uri', `redirect URI ${uri} ${checked.problem}`)
    return checked.uri
  })
  return [...new Set(stored)]
}

function registeredAuthMethod (m: Record<string, unknown>): ClientAuthMethod {
  const method = m.token_endpoint_auth_method ?? 'client_secret_basic'
  if (method !== 'none' && method !== 'client_secret_basic' && method !== 'client_secret_post') {
    throw new OAuthError('invalid_client_metadata', 'token_endpoint_auth_method must be none, client_secret_basic or client_secret_post')
  }
  return method
}

/** grant_types (only the code and refresh grants), after checking response_types is ["code"]. */
function registeredGrantTypes (m: Record<string, unknown>): string[] {
  const grantTypes = m.grant_types ?? ['authorization_code', 'refresh_token']
  if (!Array.isArray(grantTypes) || grantTypes.length === 0 || !grantTypes.every((g) => g === 'authorization_code' || g === 'refresh_token')) {
    throw new OAuthError('invalid_client_metadata', 'grant_types may only hold authorization_code and refresh_token')
  }
  const responseTypes = m.response_types ?? ['code']
  if (!Array.isArray(responseTypes) || responseTypes.length !== 1 || responseTypes[0] !== 'code') {
    throw new OAuthError('invalid_client_metadata', 'response_types must be ["code"]')
  }
  return grantTypes as string[]
}

function metadataText (m: Record<string, unknown>, name: string, max: number): string | undefined {
  const v = m[name]
  if (v === undefined) return undefined
  if (typeof v !== 'string' || v.length > max) throw new OAuthError('invalid_client_metadata', `${name} must be a string of at most ${max} characters`)
  return v
}

/** What is wrong with an /authorize request's PKCE parameters (OAuth 2.1: S256 only), if anything. */
function pkceProblem (challenge: string | undefined, method: string | undefined): string | undefined {
  if (!challenge) return 'code_challenge is required (PKCE)'
  if ((method ?? 'plain') !== 'S256') return 'code_challenge_method must be S256'
  if (!isValidChallenge(challenge)) return 'code_challenge is not a valid S256 challenge'
  return undefined
}

/** The gateway's scopes among those asked (all servers when none is), or undefined when the scope is malformed. */
function gatewayScopes (scope: string | undefined): string[] | undefined {
  const requested = parseScope(scope)
  if (requested.some((s) => !isScopeToken(s))) return undefined
  const scopes = requested.filter(isGatewayScope)
  return scopes.length ? scopes : [ALL_SERVERS_SCOPE]
}
