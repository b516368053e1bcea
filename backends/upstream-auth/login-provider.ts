import type { OAuthClientMetadata, OAuthClientProvider, StoredOAuthClientInformation, StoredOAuthTokens } from '@modelcontextprotocol/client'
import type { UpstreamOAuth } from '../../schemas/config.js'
import type { UpstreamRecord } from './token-store.js'

/** One login the owner has begun and not finished. */
export interface PendingLogin {
  state: string
  redirectUrl: string
  verifier: string
  expiresAt: number
  authorizationUrl?: URL
}

interface LoginStore {
  settings?: UpstreamOAuth
  record: () => UpstreamRecord
  update: (change: (record: UpstreamRecord) => void) => Promise<void>
  saveTokens: (tokens: StoredOAuthTokens) => Promise<void>
  configuredClient: () => StoredOAuthClientInformation | undefined
}

/**
 * The SDK's OAuthClientProvider for one login, over the stored record: the configured client id,
 * else a registration kept from before (for the same redirect URI), else the SDK registers: by the
 * Client ID Metadata Document (`oauth.clientMetadataUrl`) where the authorization server supports
 * it, else dynamically.
 */
export function loginProvider (pending: PendingLogin, store: LoginStore): OAuthClientProvider {
  const { settings } = store
  const secret = settings?.clientSecret !== undefined
  const metadata: OAuthClientMetadata = {
    client_name: '1MCP Gateway',
    redirect_uris: [pending.redirectUrl],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: secret ? 'client_secret_basic' : 'none',
    ...(settings?.scopes ? { scope: settings.scopes.join(' ') } : {})
  }
  return {
    redirectUrl: pending.redirectUrl,
    clientMetadataUrl: settings?.clientMetadataUrl,
    clientMetadata: metadata,
    state: () => pending.state,
    clientInformation: () => {
      const configured = store.configuredClient()
      if (configured) return configured
      const { client, clientRedirectUri } = store.record()
      // a registration names its redirect URI: after a move of the gateway's address, register again
      return clientRedirectUri === pending.redirectUrl || client?.client_id.startsWith('https://') ? client : undefined
    },
    saveClientInformation: (info) => store.update((r) => { r.client = info; r.clientRedirectUri = pending.redirectUrl }),
    tokens: () => store.record().tokens,
    saveTokens: (tokens) => store.saveTokens(tokens),
    redirectToAuthorization: (url) => { pending.authorizationUrl = url },
    saveCodeVerifier: (verifier) => { pending.verifier = verifier },
    codeVerifier: () => pending.verifier,
    discoveryState: () => store.record().discovery,
    saveDiscoveryState: (state) => store.update((r) => { r.discovery = state }),
    invalidateCredentials: (scope) => store.update((r) => {
      if (scope === 'all' || scope === 'tokens') { delete r.tokens; delete r.expiresAt }
      if (scope === 'all' || scope === 'client') { delete r.client; delete r.clientRedirectUri }
      if (scope === 'all' || scope === 'discovery') delete r.discovery
    })
  }
}
