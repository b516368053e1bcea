import { createHash, randomBytes } from 'node:crypto'
import { approve, browser, type Browser } from './auth-helpers.js'

const REDIRECT = 'http://127.0.0.1:9/callback'

export interface IssuedTokens { clientId: string, accessToken: string, refreshToken: string }

/**
 * A public client of the embedded issuer, all the way through: it registers, the owner logs in with
 * the passphrase and approves (in `owner`, a browser of its own unless given), and the code is
 * exchanged with PKCE for a token for `resource` (the base's `/mcp` unless given).
 */
export async function tokenFor (base: string, clientName: string, opts: { owner?: Browser, resource?: string, scope?: string } = {}): Promise<IssuedTokens> {
  const signal = () => AbortSignal.timeout(10_000)
  const registered = await fetch(`${base}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: clientName, redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' }),
    signal: signal()
  })
  if (registered.status !== 201) throw new Error(`registration answered ${registered.status}: ${await registered.text()}`)
  const { client_id: clientId } = await registered.json() as { client_id: string }
  const verifier = randomBytes(32).toString('base64url')
  const resource = opts.resource ?? `${base}/mcp`
  const authorize = new URL(`${base}/authorize`)
  const query = { response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256', state: 'st', scope: opts.scope ?? 'mcp', resource }
  for (const [k, v] of Object.entries(query)) authorize.searchParams.set(k, v)
  const code = (await approve(authorize, { browser: opts.owner ?? browser() })).searchParams.get('code')
  if (!code) throw new Error('the owner\'s approval gave no code')
  const exchanged = await fetch(`${base}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT, client_id: clientId, resource }),
    signal: signal()
  })
  if (exchanged.status !== 200) throw new Error(`the token endpoint answered ${exchanged.status}: ${await exchanged.text()}`)
  const tokens = await exchanged.json() as { access_token: string, refresh_token: string }
  return { clientId, accessToken: tokens.access_token, refreshToken: tokens.refresh_token }
}
