import { OAuthError } from './errors.js'
import { checkRedirectUri } from './redirect-uris.js'
import { isScopeToken, parseScope } from './scopes.js'
import type { AuthStore, ClientAuthMethod } from './store.js'

// RFC 7591 Dynamic Client Registration: the metadata a client may register, checked field by field.

/** What a registration may store: one small file per client (names, URIs and scope together). */
const MAX_CLIENT_METADATA_BYTES = 8 * 1024
const MAX_REDIRECT_URI_LENGTH = 2000

/** The metadata a registration asks to store, checked field by field and bounded as a whole. */
export function registeredMetadata (m: Record<string, unknown>): Parameters<AuthStore['registerClient']>[0] {
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
