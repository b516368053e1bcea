import { randomBytes } from 'node:crypto'
import {
  auth, extractWWWAuthenticateParams,
  type AuthProvider, type OAuthClientProvider, type OAuthDiscoveryState, type StoredOAuthClientInformation, type StoredOAuthTokens
} from '@modelcontextprotocol/client'
import type { Io } from './command.js'
import { CredentialFile, credentialsDir, loginResource, type StoredLogin } from './credentials.js'
import { LoopbackCallback, openBrowser } from './loopback.js'

export interface LoginOptions {
  /** the gateway's MCP endpoint, without a query */
  resource: string
  file: CredentialFile
  env: NodeJS.ProcessEnv
  /** where the login talks to the person (standard error: standard output is the MCP channel) */
  say: (text: string) => void
}

/** How long the browser login may take before the request that needed it fails. */
const DEFAULT_LOGIN_TIMEOUT_MS = 5 * 60_000
/** Renew an access token this long before it expires (a quarter of its life when that is shorter). */
const RENEW_BEFORE_MS = 60_000

function expiringSoon (login: StoredLogin, now = Date.now()): boolean {
  if (login.expiresAt === undefined) return false
  const lifetime = (login.tokens?.expires_in ?? 0) * 1000
  return login.expiresAt - now < Math.min(RENEW_BEFORE_MS, lifetime / 4)
}

/**
 * `1mcp proxy`'s login to a gateway with auth on, as an OAuth 2.1 public client (the MCP
 * authorization spec): on a 401 it discovers the gateway's metadata, registers dynamically (or uses
 * the stored registration), runs the authorization code flow with PKCE (S256) through the browser
 * and a loopback redirect URI, and stores the tokens. Before an access token expires, and when the
 * gateway rejects one, it refreshes; a refresh the gateway refuses (`invalid_grant`) starts the
 * browser login again. The SDK's `auth()` does the protocol; this class keeps the state, the
 * browser and the loopback listener.
 */
export class GatewayLogin implements AuthProvider {
  private current?: StoredLogin
  private renewing?: Promise<void>
  private callback?: LoopbackCallback
  private authorizationUrl?: URL
  private verifier = ''
  private discovery?: OAuthDiscoveryState
  private state = ''

  constructor (private readonly opts: LoginOptions) {}

  /** How long a browser login may take (ONEMCP_LOGIN_TIMEOUT_MS, default 5 minutes). */
  get timeoutMs (): number {
    const configured = Number(this.opts.env.ONEMCP_LOGIN_TIMEOUT_MS)
    return Number.isFinite(configured) && configured > 0 ? configured : DEFAULT_LOGIN_TIMEOUT_MS
  }

  /** The access token for the next request, renewed first when it is about to expire. */
  async token (): Promise<string | undefined> {
    const login = this.current ??= await this.opts.file.read()
    if (login.tokens && expiringSoon(login)) await this.renew(login.tokens.access_token)
    return this.current?.tokens?.access_token
  }

  /** The gateway answered 401: refresh the token, or log in. */
  async onUnauthorized ({ response }: { response: Response }): Promise<void> {
    const rejected = this.current?.tokens?.access_token
    await this.renew(rejected, extractWWWAuthenticateParams(response).resourceMetadataUrl)
  }

  /** Makes sure there is a usable login (for `1mcp app consolidate`): the flow runs when there is none. */
  async ensure (): Promise<void> {
    if (!await this.token()) await this.renew(undefined)
  }

  /** One renewal at a time in this process, and across processes through the file's lock. */
  private renew (stale: string | undefined, resourceMetadataUrl?: URL): Promise<void> {
    this.renewing ??= this.opts.file.withLock(this.timeoutMs + 30_000, async () => {
      const stored = await this.opts.file.read()
      this.current = stored
      // Another proxy renewed the login while this one waited for the lock: take its tokens.
      if (stored.tokens && stored.tokens.access_token !== stale && !expiringSoon(stored)) return
      await this.authorize(resourceMetadataUrl)
    }).finally(() => { this.renewing = undefined })
    return this.renewing
  }

  private async authorize (resourceMetadataUrl?: URL): Promise<void> {
    this.state = randomBytes(16).toString('base64url')
    try {
      // A new registration names the loopback port in its redirect URI, so the listener comes first.
      if (!this.current?.client) this.callback = await LoopbackCallback.listen(0)
      if (await this.run({ resourceMetadataUrl }) === 'AUTHORIZED') return
      await this.listenForRedirect(resourceMetadataUrl)
      this.opts.say(`1mcp proxy: the gateway at ${this.opts.resource} asks for a login; approve it in the browser. If none opens, open:\n  ${this.authorizationUrl!.href}\n`)
      openBrowser(this.authorizationUrl!.href, this.opts.env, this.opts.say)
      const { code, iss } = await this.callback!.wait(this.state, this.timeoutMs)
      await this.run({ resourceMetadataUrl, authorizationCode: code, iss })
      this.opts.say('1mcp proxy: logged in to the gateway\n')
    } finally {
      this.callback?.close()
      this.callback = undefined
    }
  }

  /** Listens on the stored registration's redirect port; when that is taken, registers anew on a free one. */
  private async listenForRedirect (resourceMetadataUrl?: URL): Promise<void> {
    if (this.callback) return
    const registered = new URL(this.provider.redirectUrl)
    this.callback = await LoopbackCallback.listen(Number(registered.port)).catch(() => undefined)
    if (this.callback) return
    this.callback = await LoopbackCallback.listen(0)
    await this.forget('client')
    await this.run({ resourceMetadataUrl })
  }

  private run (options: { resourceMetadataUrl?: URL, authorizationCode?: string, iss?: string }) {
    return auth(this.provider, { serverUrl: this.opts.resource, ...options })
  }

  private async save (change: Partial<StoredLogin>): Promise<void> {
    this.current = { ...(this.current ?? { resource: this.opts.resource }), ...change }
    await this.opts.file.write(this.current)
  }

  private async forget (what: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery'): Promise<void> {
    if (what === 'verifier') { this.verifier = ''; return }
    if (what === 'discovery') { this.discovery = undefined; return }
    // Tokens belong to the client that obtained them: forgetting the client forgets them too.
    await this.save(what === 'tokens' ? { tokens: undefined, expiresAt: undefined } : { client: undefined, tokens: undefined, expiresAt: undefined })
  }

  /** The SDK's view of this login. */
  private readonly provider: OAuthClientProvider & { redirectUrl: string } = (() => {
    // The getters below read this login's state.
    const self = this
    return {
      get redirectUrl () {
        return self.callback?.url ?? (self.current?.client as { redirect_uris?: string[] } | undefined)?.redirect_uris?.[0] ?? 'http://127.0.0.1/callback'
      },
      get clientMetadata () {
        return {
          client_name: '1mcp proxy',
          redirect_uris: [this.redirectUrl],
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          token_endpoint_auth_method: 'none'
        }
      },
      state: () => self.state,
      clientInformation: () => self.current?.client,
      saveClientInformation: (client: StoredOAuthClientInformation) => self.save({ client }),
      tokens: () => self.current?.tokens,
      saveTokens: (tokens: StoredOAuthTokens) => self.save({ tokens, expiresAt: tokens.expires_in === undefined ? undefined : Date.now() + tokens.expires_in * 1000 }),
      redirectToAuthorization: (url: URL) => { self.authorizationUrl = url },
      saveCodeVerifier: (verifier: string) => { self.verifier = verifier },
      codeVerifier: () => self.verifier,
      saveDiscoveryState: (state: OAuthDiscoveryState) => { self.discovery = state },
      discoveryState: () => self.discovery,
      invalidateCredentials: (what) => self.forget(what)
    }
  })()
}

/** The login `1mcp proxy` keeps for the gateway endpoint `target` (its query aside). */
export function gatewayLogin (target: URL, io: Pick<Io, 'env' | 'err'>): GatewayLogin {
  const resource = loginResource(target)
  return new GatewayLogin({ resource, file: new CredentialFile(credentialsDir(io.env), resource), env: io.env, say: io.err })
}
