import { EventEmitter } from 'node:events'
import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import {
  auth, extractWWWAuthenticateParams, OAuthError, OAuthErrorCode, refreshAuthorization,
  type AuthProvider, type OAuthClientProvider, type StoredOAuthTokens
} from '@modelcontextprotocol/client'
import type { UpstreamOAuth } from '../../schemas/config.js'
import { safeEqual } from '../../auth/safe-equal.js'
import type { UpstreamRecord, UpstreamTokenStore } from './token-store.js'
import { loginProvider, type PendingLogin } from './login-provider.js'

/** Raised when the remote server wants a login the gateway does not have (or lost). */
class NeedsAuthError extends Error {
  constructor (server: string, perUser: boolean) {
    super(perUser ? `the user's grant to '${server}' was refused; they authorize again on their next call` : `the server needs a login: run \`1mcp auth login ${server}\``)
    this.name = 'NeedsAuthError'
  }
}

type UnauthorizedContext = Parameters<NonNullable<AuthProvider['onUnauthorized']>>[0]

const MAX_REFRESH_LEAD_MS = 60_000
const RETRY_MIN_MS = 1_000
const RETRY_MAX_MS = 5 * 60_000
const LOGIN_TTL_MS = 10 * 60_000

export interface UpstreamAuthEvents {
  /** the server wants a login: its backend parks as `needs-auth` */
  'needs-auth': []
  /** a login or refresh succeeded after `needs-auth`: the backend connects again */
  authorized: []
}

/** What a backend connection needs of its OAuth client: the SDK's AuthProvider, whether it waits for a login, and the events that park and wake it. */
export type BackendAuth = AuthProvider & { readonly needsAuth: boolean } & Pick<EventEmitter<UpstreamAuthEvents>, 'on' | 'off'>

/** When to refresh a token that expires at `expiresAt`: ahead by a minute, or half its life when that is shorter. */
export function refreshAt (savedAt: number, expiresAt: number): number {
  return expiresAt - Math.min(MAX_REFRESH_LEAD_MS, (expiresAt - savedAt) / 2)
}

/**
 * The gateway as the OAuth client of one remote MCP server (the MCP authorization spec). The
 * transport asks it for the bearer token before each request (`token`) and tells it of a 401
 * (`onUnauthorized`): it refreshes, or marks the server `needs-auth`. The owner's login runs the
 * SDK's `auth()` (discovery, registration, PKCE S256, RFC 8707 resource) in `beginLogin` and
 * `finishLogin`. Tokens are refreshed ahead of expiry, retried with backoff on failure; an
 * `invalid_grant` forgets them and marks `needs-auth`. Tokens never leave this object but as the
 * Authorization header to that server, and are never logged.
 */
export class UpstreamAuth extends EventEmitter<UpstreamAuthEvents> implements AuthProvider {
  needsAuth = false
  private pending?: PendingLogin
  private refreshing?: Promise<boolean>
  private refreshTimer?: NodeJS.Timeout
  private failures = 0
  private resourceMetadataUrl?: URL
  private closed = false

  constructor (
    readonly server: string,
    private readonly serverUrl: () => string,
    private readonly settings: () => UpstreamOAuth | undefined,
    private readonly store: UpstreamTokenStore,
    private readonly log: Logger,
    /** where the login is kept: the server's name, or for `credentials: "per-user"` the server's and the user's (see per-user.ts) */
    private readonly recordKey = server
  ) {
    super()
    this.schedule()
  }

  private get record (): UpstreamRecord { return this.store.get(this.recordKey) }

  /** Whether a login is stored (an access token, refreshable or not). */
  get authorized (): boolean { return this.record.tokens?.access_token !== undefined }

  async token (): Promise<string | undefined> {
    const record = this.record
    if (record.tokens?.refresh_token && record.expiresAt !== undefined && Date.now() >= record.expiresAt) await this.refresh()
    return this.record.tokens?.access_token
  }

  async onUnauthorized (ctx: UnauthorizedContext): Promise<void> {
    const { resourceMetadataUrl } = extractWWWAuthenticateParams(ctx.response)
    if (resourceMetadataUrl) this.resourceMetadataUrl = resourceMetadataUrl
    if (this.record.tokens?.refresh_token && await this.refresh()) return
    // a refresh that failed for a passing reason keeps the tokens: the backend retries with backoff
    if (this.record.tokens?.refresh_token && !this.needsAuth) throw new Error('the upstream token could not be refreshed now; retrying')
    await this.markNeedsAuth()
    throw new NeedsAuthError(this.server, this.recordKey !== this.server)
  }

  /** Refreshes the access token (one refresh at a time); resolves whether it worked. */
  refresh (): Promise<boolean> {
    this.refreshing ??= this.doRefresh().finally(() => { this.refreshing = undefined })
    return this.refreshing
  }

  private async doRefresh (): Promise<boolean> {
    const { tokens, client, discovery } = this.record
    const clientInformation = this.configuredClient() ?? client
    if (!tokens?.refresh_token || !clientInformation || !discovery) return false
    try {
      const fresh = await refreshAuthorization(discovery.authorizationServerUrl, {
        metadata: discovery.authorizationServerMetadata,
        clientInformation,
        refreshToken: tokens.refresh_token,
        resource: discovery.resourceMetadata?.resource ?? this.serverUrl()
      })
      await this.saveTokens({ ...fresh, refresh_token: fresh.refresh_token ?? tokens.refresh_token, issuer: tokens.issuer })
      this.log.info({ expiresIn: fresh.expires_in }, 'upstream token refreshed')
      this.authorizedAgain()
      return true
    } catch (err) {
      return await this.refreshFailed(err)
    }
  }

  /** An invalid_grant forgets the tokens and marks needs-auth; anything else is retried with backoff. */
  private async refreshFailed (err: unknown): Promise<false> {
    if (err instanceof OAuthError && (err.code === OAuthErrorCode.InvalidGrant || err.code === OAuthErrorCode.InvalidClient)) {
      this.log.warn({ error: err.code }, 'the upstream login was refused (revoked or expired); the server needs a new login')
      await this.store.update(this.recordKey, (r) => { delete r.tokens; delete r.expiresAt })
      await this.markNeedsAuth()
      return false
    }
    this.failures++
    const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** (this.failures - 1))
    this.log.warn({ error: (err as Error).message, attempt: this.failures, retryInMs: delay }, 'upstream token refresh failed; retrying')
    this.arm(delay)
    return false
  }

  /** After a refresh that worked, or the owner's login (`always`): a backend parked as needs-auth connects again. */
  private authorizedAgain (always = false): void {
    this.failures = 0
    if (!this.needsAuth && !always) return
    this.needsAuth = false
    this.emit('authorized')
  }

  private async markNeedsAuth (): Promise<void> {
    if (this.needsAuth) return
    this.needsAuth = true
    this.emit('needs-auth')
  }

  /** Saves tokens and arms the refresh ahead of their expiry. */
  async saveTokens (tokens: StoredOAuthTokens): Promise<void> {
    const now = Date.now()
    await this.store.update(this.recordKey, (r) => {
      r.tokens = tokens
      r.expiresAt = tokens.expires_in === undefined ? undefined : now + tokens.expires_in * 1000
    })
    this.schedule(now)
  }

  private schedule (savedAt = Date.now()): void {
    const { expiresAt, tokens } = this.record
    if (expiresAt === undefined || !tokens?.refresh_token) return
    this.arm(Math.max(0, refreshAt(savedAt, expiresAt) - Date.now()))
  }

  private arm (delayMs: number): void {
    clearTimeout(this.refreshTimer)
    if (this.closed) return
    this.refreshTimer = setTimeout(() => { void this.refresh() }, delayMs)
    this.refreshTimer.unref()
  }

  /** The client id and secret the config names, if it does. */
  configuredClient (): { client_id: string, client_secret?: string } | undefined {
    const settings = this.settings()
    if (!settings?.clientId) return undefined
    return { client_id: settings.clientId, ...(settings.clientSecret ? { client_secret: settings.clientSecret } : {}) }
  }

  /**
   * Starts the owner's login: discovery, registration if need be, PKCE. Resolves to the URL the
   * owner opens; the authorization server sends the browser back to `redirectUrl` (the gateway's
   * `/oauth/callback/<server>`), which calls `finishLogin`.
   */
  async beginLogin (redirectUrl: string): Promise<URL> {
    const pending: PendingLogin = { state: randomBytes(24).toString('base64url'), redirectUrl, verifier: '', expiresAt: Date.now() + LOGIN_TTL_MS }
    this.pending = pending
    const result = await auth(this.provider(pending), { serverUrl: this.serverUrl(), resourceMetadataUrl: this.resourceMetadataUrl, scope: this.settings()?.scopes?.join(' '), forceReauthorization: true })
    if (result !== 'REDIRECT' || !pending.authorizationUrl) throw new Error('the authorization server gave no authorization URL')
    return pending.authorizationUrl
  }

  /** Whether the login begun and not yet finished is the one `state` names. */
  awaits (state: string): boolean {
    return this.pending !== undefined && this.pending.expiresAt >= Date.now() && safeEqual(state, this.pending.state)
  }

  /** Completes the login from the callback's query (`code`, `state`, `iss`); throws when it does not match the login begun. */
  async finishLogin (query: URLSearchParams): Promise<void> {
    const pending = this.pending
    const state = query.get('state') ?? ''
    if (!pending || !this.awaits(state)) throw new Error('no login of this server is waiting for this answer; start it again with `1mcp auth login`')
    const error = query.get('error')
    if (error) { this.pending = undefined; throw new Error(`the authorization server refused: ${error}`) }
    const code = query.get('code')
    if (!code) throw new Error('the answer carries no authorization code')
    this.pending = undefined
    await auth(this.provider(pending), { serverUrl: this.serverUrl(), authorizationCode: code, iss: query.get('iss') ?? undefined, resourceMetadataUrl: this.resourceMetadataUrl })
    this.log.info('upstream login completed')
    this.authorizedAgain(true)
  }

  private provider (pending: PendingLogin): OAuthClientProvider {
    return loginProvider(pending, {
      settings: this.settings(),
      record: () => this.record,
      update: (change) => this.store.update(this.recordKey, change),
      saveTokens: (tokens) => this.saveTokens(tokens),
      configuredClient: () => this.configuredClient()
    })
  }

  close (): void {
    this.closed = true
    clearTimeout(this.refreshTimer)
    this.removeAllListeners()
  }
}

/** Parks a backend as `needs-auth` when its login is lost, and connects it once the owner has logged in, until it stops. */
export function linkAuth (upstream: BackendAuth, backend: { state: string, recycle: (reason: string) => void, start: () => Promise<void>, on: (event: 'state', listener: (state: string) => void) => unknown }): void {
  const onNeedsAuth = () => backend.recycle('the server needs a new login')
  const onAuthorized = () => { if (backend.state === 'needs-auth') void backend.start() }
  upstream.on('needs-auth', onNeedsAuth)
  upstream.on('authorized', onAuthorized)
  backend.on('state', (state) => {
    if (state === 'stopped') { upstream.off('needs-auth', onNeedsAuth); upstream.off('authorized', onAuthorized) }
  })
}
