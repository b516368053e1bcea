import { randomBytes, randomUUID } from 'node:crypto'
import type { AccessTokens } from './access-tokens.js'
import { ClientLookup } from './client-lookup.js'
import type { FetchPolicy } from './client-metadata.js'
import { checkCodeRedemption, gatewayScopes, pkceProblem, type CodeRecord, type TokenOutcome } from './grant-checks.js'
import { OAuthError } from './errors.js'
import { matchRedirectUri } from './redirect-uris.js'
import { registeredMetadata } from './registration.js'
import { parseScope } from './scopes.js'
import type { Sealer } from './sealed.js'
import type { AuthStore, ClientAuthMethod, ClientRecord } from './store.js'
import type { UsedCodes } from './used-codes.js'

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
  client: Pick<ClientRecord, 'client_id' | 'client_name'>
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

/** A pending authorization as sealed into its id (short keys: the id travels in URLs and a cookie). */
interface SealedPending { c: string, cn?: string, r: string, s?: string, ch: string, sc: string[], res: string, e: number, n: string }
/** An authorization code as sealed into itself. */
type SealedCode = CodeRecord & { n: string }

const PENDING_TTL_MS = 10 * 60 * 1000
const NOT_A_RESOURCE = 'resource is not one this gateway serves: the base URL, /mcp or /mcp/<server>'

function random (bytes = 32): string {
  return randomBytes(bytes).toString('base64url')
}

/** What lets any instance sharing the data dir serve a flow another began (auth/sealed.ts, auth/used-codes.ts). */
export interface SharedState {
  sealer: Sealer
  usedCodes: UsedCodes
}

/**
 * The OAuth 2.1 authorization server, without HTTP: authorization requests, codes with PKCE,
 * token exchange and refresh with rotation, revocation, registration, and Client ID Metadata
 * Documents. The routes in routes/oauth.ts speak HTTP for it. Pending requests and codes are
 * sealed (they hold their own state), so a flow may go through any instance sharing the data dir.
 */
export class AuthorizationServer {
  /** pending requests ended here (consent given or refused), until they expire */
  private readonly taken = new Map<string, number>()
  private readonly now: () => number
  private readonly clients: ClientLookup

  constructor (private readonly tokens: AccessTokens, private readonly store: AuthStore, private readonly shared: SharedState, private readonly options: AuthorizationServerOptions) {
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
    const sealed: SealedPending = { c: client.client_id, cn: client.client_name, r: redirectUri, s: state, ch: challenge, sc: scopes, res: resource, e: this.now() + PENDING_TTL_MS, n: random(9) }
    return { ok: true, pending: this.pendingOf(this.shared.sealer.seal('pending', sealed), sealed) }
  }

  private pendingOf (id: string, p: SealedPending): PendingAuthorization {
    return {
      id,
      csrf: this.shared.sealer.mac('login', id),
      client: { client_id: p.c, client_name: p.cn },
      redirectUri: p.r,
      state: p.s,
      codeChallenge: p.ch,
      scopes: p.sc,
      resource: p.res,
      expiresAt: p.e
    }
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

  /** The pending request sealed in `id`, unless it expired or was ended here. */
  getPending (id: unknown): PendingAuthorization | undefined {
    const sealed = this.shared.sealer.open<SealedPending>('pending', id)
    if (!sealed || !(sealed.e > this.now()) || this.taken.has(id as string)) return undefined
    return this.pendingOf(id as string, sealed)
  }

  /**
   * Ends a pending authorization (consent given or refused) on this instance. Another instance could
   * still show its consent page, to the same logged-in owner only (the form's token is bound to the
   * owner's session); the code it gives is single-use everywhere.
   */
  takePending (id: string): PendingAuthorization | undefined {
    const pending = this.getPending(id)
    if (pending) this.taken.set(id, pending.expiresAt)
    return pending
  }

  /** The owner approved `scopes` (a subset of those asked) for this request: a single-use code. */
  issueCode (pending: PendingAuthorization, subject: string, scopes: string[]): string {
    const code: SealedCode = {
      clientId: pending.client.client_id,
      redirectUri: pending.redirectUri,
      codeChallenge: pending.codeChallenge,
      subject,
      scope: scopes.join(' '),
      resource: pending.resource,
      expiresAt: this.now() + this.options.codeTtlSeconds * 1000,
      n: random(9)
    }
    return this.shared.sealer.seal('code', code)
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
    const record = this.shared.sealer.open<SealedCode>('code', code)
    if (!record || !(record.expiresAt > this.now())) throw new OAuthError('invalid_grant', 'the authorization code is invalid or expired')
    // The first redemption, on whichever instance, claims the code for the family it is about to buy.
    const familyId = randomUUID()
    const replayed = await this.shared.usedCodes.claim(code, familyId, record.expiresAt)
    if (replayed) {
      // A replayed code: whatever it bought is revoked (OAuth 2.1 §4.1.3), even if not yet made.
      await this.store.revokeFamily(replayed.firstFamily, 'authorization code replayed')
      throw new OAuthError('invalid_grant', 'the authorization code was already used')
    }
    checkCodeRedemption(record, client, params)
    const audience = this.audienceFor(params.resource, record.resource)
    const { family, refreshToken } = await this.store.createFamily({ clientId: client.client_id, subject: record.subject, scope: record.scope, audience }, this.options.refreshTokenTtlSeconds, familyId)
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
    let familyId = (await this.store.familyOfRefreshToken(token))?.id
    if (!familyId) {
      try {
        const claims = await this.tokens.verify(token, this.options.issuer())
        familyId = claims.fam
      } catch {}
    }
    const family = familyId ? await this.store.getFamily(familyId) : undefined
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

  /** Forgets ended requests and redeemed codes that expired. */
  async prune (): Promise<void> {
    const now = this.now()
    for (const [id, expiresAt] of this.taken) if (expiresAt <= now) this.taken.delete(id)
    await this.shared.usedCodes.prune(now)
  }

  private audienceFor (asked: unknown, granted: string): string {
    if (asked === undefined) return granted
    if (typeof asked !== 'string' || !this.options.isResource(asked)) throw new OAuthError('invalid_target', NOT_A_RESOURCE)
    if (!this.options.narrows(granted, asked)) throw new OAuthError('invalid_target', 'resource is not within the one the owner approved')
    return asked
  }
}
