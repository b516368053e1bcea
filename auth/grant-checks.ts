import { OAuthError } from './errors.js'
import { isValidChallenge, verifyS256 } from './pkce.js'
import { matchRedirectUri } from './redirect-uris.js'
import { ALL_SERVERS_SCOPE, isGatewayScope, isScopeToken, parseScope } from './scopes.js'
import type { ClientRecord } from './store.js'

// The authorization code grant's records and the checks that need no state: PKCE, scopes, a code's redemption.

export interface CodeRecord {
  clientId: string
  redirectUri: string
  codeChallenge: string
  subject: string
  scope: string
  resource: string
  expiresAt: number
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

/** What is wrong with an /authorize request's PKCE parameters (OAuth 2.1: S256 only), if anything. */
export function pkceProblem (challenge: string | undefined, method: string | undefined): string | undefined {
  if (!challenge) return 'code_challenge is required (PKCE)'
  if ((method ?? 'plain') !== 'S256') return 'code_challenge_method must be S256'
  if (!isValidChallenge(challenge)) return 'code_challenge is not a valid S256 challenge'
  return undefined
}

/** The gateway's scopes among those asked (all servers when none is), or undefined when the scope is malformed. */
export function gatewayScopes (scope: string | undefined): string[] | undefined {
  const requested = parseScope(scope)
  if (requested.some((s) => !isScopeToken(s))) return undefined
  const scopes = requested.filter(isGatewayScope)
  return scopes.length ? scopes : [ALL_SERVERS_SCOPE]
}

/** The checks a code's redemption must pass once the code is known and unused (RFC 6749 §4.1.3, PKCE). */
export function checkCodeRedemption (record: { clientId: string, redirectUri: string, codeChallenge: string }, client: ClientRecord, params: Record<string, unknown>): void {
  if (record.clientId !== client.client_id) throw new OAuthError('invalid_grant', 'the authorization code was issued to another client')
  if (params.redirect_uri !== undefined && (typeof params.redirect_uri !== 'string' || matchRedirectUri([record.redirectUri], params.redirect_uri) === undefined)) throw new OAuthError('invalid_grant', 'redirect_uri does not match the authorization request')
  if (typeof params.code_verifier !== 'string' || !verifyS256(params.code_verifier, record.codeChallenge)) throw new OAuthError('invalid_grant', 'code_verifier does not match the code_challenge')
}
