import type { Logger } from 'pino'
import {
  auth, extractWWWAuthenticateParams, OAuthError,
  type AuthProvider, type OAuthClientMetadata, type OAuthClientProvider, type OAuthDiscoveryState, type StoredOAuthTokens
} from '@modelcontextprotocol/client'
import type { UpstreamOAuth } from '../../schemas/config.js'
import { redactError } from '../errors.js'
import { refreshAt } from './upstream-auth.js'

type UnauthorizedContext = Parameters<NonNullable<AuthProvider['onUnauthorized']>>[0]

const RETRY_MIN_MS = 1_000
const RETRY_MAX_MS = 5 * 60_000

interface Token { value: string, expiresAt?: number, fetchedAt: number }

/** When to fetch the token again: as a login's is refreshed, ahead of its expiry (never, for a token without one). */
function renewAt (token: Token): number {
  return token.expiresAt === undefined ? Infinity : refreshAt(token.fetchedAt, token.expiresAt)
}

/** Why the grant failed, for the backend's lastError: the authorization server's error code and words, never a token. */
function describe (err: unknown): string {
  if (err instanceof OAuthError) return `the authorization server refused the client credentials grant: ${err.code}${err.message && err.message !== err.code ? ` (${err.message})` : ''}`
  return `the client credentials grant failed: ${(err as Error).message}`
}

/**
 * The gateway as a machine-to-machine OAuth client of one remote MCP server (`oauth.clientCredentials`):
 * it gets its access token itself with the client credentials grant (RFC 6749 §4.4) through the
 * SDK's `auth()` (discovery by the server's protected resource metadata, the RFC 8707 `resource`,
 * the configured scopes or the server's), and again before the token expires or when the server
 * answers 401. Nothing waits for a login: a refused grant fails the connection with a clear
 * lastError (the backend retries with backoff), and further grants wait out a backoff of their own.
 * The token lives in memory only, and is never logged.
 */
export class ClientCredentialsAuth implements AuthProvider {
  /** never: a refused grant is an error to retry, not a login to wait for */
  readonly needsAuth = false
  private current?: Token
  private fetching?: Promise<string>
  private discovery?: OAuthDiscoveryState
  private resourceMetadataUrl?: URL
  private failures = 0
  private retryAt = 0
  private lastError = ''

  constructor (
    readonly server: string,
    private readonly serverUrl: () => string,
    private readonly settings: () => UpstreamOAuth | undefined,
    private readonly log: Logger
  ) {}

  async token (): Promise<string> {
    const current = this.current
    if (current && Date.now() < renewAt(current)) return current.value
    return await this.fetch()
  }

  async onUnauthorized (ctx: UnauthorizedContext): Promise<void> {
    const { resourceMetadataUrl } = extractWWWAuthenticateParams(ctx.response)
    if (resourceMetadataUrl && resourceMetadataUrl.href !== this.resourceMetadataUrl?.href) {
      this.resourceMetadataUrl = resourceMetadataUrl
      this.discovery = undefined
    }
    // the token was refused: a new one (the transport retries the request once with it)
    this.current = undefined
    await this.fetch()
  }

  /** One grant at a time; during a backoff after a failure, that failure again without asking. */
  private fetch (): Promise<string> {
    if (Date.now() < this.retryAt) return Promise.reject(new Error(`${this.lastError}; retrying in ${Math.ceil((this.retryAt - Date.now()) / 1000)} s`))
    this.fetching ??= this.grant().finally(() => { this.fetching = undefined })
    return this.fetching
  }

  private async grant (): Promise<string> {
    const settings = this.settings()
    if (!settings?.clientId || !settings.clientSecret) throw new Error('oauth.clientCredentials needs oauth.clientId and oauth.clientSecret')
    let tokens: StoredOAuthTokens | undefined
    const fetchedAt = Date.now()
    try {
      await auth(this.provider(settings, (saved) => { tokens = saved }), { serverUrl: this.serverUrl(), resourceMetadataUrl: this.resourceMetadataUrl, scope: settings.scopes?.join(' ') })
      if (!tokens?.access_token) throw new Error('the authorization server gave no access token')
    } catch (err) {
      this.failed(err)
      throw new Error(this.lastError)
    }
    this.failures = 0
    this.retryAt = 0
    this.current = { value: tokens.access_token, fetchedAt, expiresAt: tokens.expires_in === undefined ? undefined : fetchedAt + tokens.expires_in * 1000 }
    this.log.info({ expiresIn: tokens.expires_in }, 'upstream token obtained (client credentials)')
    return tokens.access_token
  }

  private failed (err: unknown): void {
    this.failures++
    this.discovery = undefined
    this.lastError = redactError(describe(err))
    const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** (this.failures - 1))
    this.retryAt = Date.now() + delay
    this.log.warn({ error: this.lastError, attempt: this.failures, retryInMs: delay }, 'upstream client credentials grant failed')
  }

  /** The SDK's provider for one grant: no redirect (a non-interactive flow), the configured client, the grant's parameters. */
  private provider (settings: UpstreamOAuth, saveTokens: (tokens: StoredOAuthTokens) => void): OAuthClientProvider {
    const metadata: OAuthClientMetadata = {
      client_name: '1MCP Gateway',
      redirect_uris: [],
      grant_types: ['client_credentials'],
      token_endpoint_auth_method: 'client_secret_basic',
      ...(settings.scopes ? { scope: settings.scopes.join(' ') } : {})
    }
    return {
      redirectUrl: undefined,
      clientMetadata: metadata,
      clientInformation: () => ({ client_id: settings.clientId!, client_secret: settings.clientSecret, ...(settings.issuer ? { issuer: settings.issuer } : {}) }),
      tokens: () => undefined,
      saveTokens,
      redirectToAuthorization: () => { throw new Error('the client credentials grant has no authorization step') },
      saveCodeVerifier: () => {},
      codeVerifier: () => { throw new Error('the client credentials grant has no code verifier') },
      discoveryState: () => this.discovery,
      saveDiscoveryState: (state) => { this.discovery = state },
      prepareTokenRequest: (scope) => new URLSearchParams({ grant_type: 'client_credentials', ...(scope ? { scope } : {}) })
    }
  }
}
