import { createHash } from 'node:crypto'
import t from 'tap'
import { auth } from '@modelcontextprotocol/sdk/client/auth.js'
import { decodeJwt } from 'jose'
import { type AuthGateway, echoFixture, postMcp, startGateway } from '../helpers.js'
import { approve, forgeToken, MemoryProvider, postForm } from '../auth-helpers.js'

// Token audience (issue 16, item 2; RFC 8707): a token issued for /mcp/alpha reaches /mcp/alpha
// only; one for the base URL or /mcp reaches what its scopes grant; a resource the gateway does not
// serve is refused at /authorize and at /token (invalid_target).

const VERIFIER = 'audience-test-verifier-that-is-long-enough-for-pkce-s256'
const CHALLENGE = createHash('sha256').update(VERIFIER).digest('base64url')
const REDIRECT = 'http://127.0.0.1:9/cb'

async function register (base: string): Promise<string> {
  const res = await fetch(`${base}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', client_name: 'audience' }) })
  return (await res.json() as { client_id: string }).client_id
}

function authorizeUrl (base: string, clientId: string, resource?: string | string[]): string {
  const params = new URLSearchParams({ client_id: clientId, response_type: 'code', code_challenge: CHALLENGE, code_challenge_method: 'S256', state: 's', scope: 'mcp' })
  for (const r of [resource ?? []].flat()) params.append('resource', r)
  return `${base}/authorize?${params}`
}

/** The owner approves an authorization for `resource`: the code. */
async function codeFor (gw: AuthGateway, clientId: string, resource: string): Promise<string> {
  const back = await approve(authorizeUrl(gw.base, clientId, resource))
  const code = back.searchParams.get('code')
  if (!code) throw new Error(`no code: ${back.href}`)
  return code
}

function exchange (gw: AuthGateway, clientId: string, code: string, resource?: string): Promise<Response> {
  return postForm(`${gw.base}/token`, { grant_type: 'authorization_code', code, code_verifier: VERIFIER, client_id: clientId, ...(resource ? { resource } : {}) })
}

function metricsGet (gw: AuthGateway, token: string): Promise<Response> {
  return fetch(`${gw.base}/metrics`, { headers: { authorization: `Bearer ${token}` } })
}

t.test('a token reaches the resource it was issued for', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: { alpha: echoFixture('alpha'), beta: echoFixture('beta') } } })
  const iss = gw.base
  const claims = { iss, sub: 'owner', client_id: 'c1', scope: 'mcp' }

  t.test('the SDK client of /mcp/alpha gets a token for /mcp/alpha alone', async (t) => {
    const provider = new MemoryProvider()
    const serverUrl = new URL(`${gw.base}/mcp/alpha`)
    t.equal(await auth(provider, { serverUrl }), 'REDIRECT')
    const back = await approve(provider.lastAuthorizationUrl!)
    t.equal(await auth(provider, { serverUrl, authorizationCode: back.searchParams.get('code')! }), 'AUTHORIZED')
    const token = provider.saved!.access_token
    t.equal(decodeJwt(token).aud, `${gw.base}/mcp/alpha`)

    t.equal((await postMcp(`${gw.base}/mcp/alpha`, { token })).status, 200, 'accepted on /mcp/alpha')
    for (const [name, res, metadata] of [
      ['/mcp', await postMcp(gw.url, { token }), '/mcp'],
      ['/mcp/beta', await postMcp(`${gw.base}/mcp/beta`, { token }), '/mcp/beta'],
      ['/metrics', await metricsGet(gw, token), '/metrics'],
      ['/sse', await fetch(`${gw.base}/sse`, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } }), '/sse']
    ] as const) {
      t.equal(res.status, 401, `refused on ${name}`)
      t.equal(res.headers.get('www-authenticate'), `Bearer resource_metadata="${gw.base}/.well-known/oauth-protected-resource${metadata}", error="invalid_token", error_description="the token was issued for another resource (audience)"`, `${name}: the challenge names the resource to ask for`)
    }
    t.ok(gw.logs.audits('access').some((a) => a.outcome === 'denied' && a.reason === 'wrong audience'), 'the refusal is audited')
  })

  t.test('tokens for the base URL and for /mcp reach what their scopes grant', async (t) => {
    for (const aud of [gw.base, `${gw.base}/mcp`]) {
      const token = await forgeToken(gw.dataDir, { ...claims, aud })
      for (const path of ['/mcp', '/mcp/alpha', '/mcp/beta']) t.equal((await postMcp(`${gw.base}${path}`, { token })).status, 200, `${aud} on ${path}`)
      t.equal((await metricsGet(gw, token)).status, 200, `${aud} on /metrics`)
    }
  })

  t.test('a token for /mcp/beta does not reach /mcp/alpha, nor one for /metrics an MCP endpoint', async (t) => {
    const beta = await forgeToken(gw.dataDir, { ...claims, aud: `${gw.base}/mcp/beta` })
    t.equal((await postMcp(`${gw.base}/mcp/beta`, { token: beta })).status, 200)
    t.equal((await postMcp(`${gw.base}/mcp/alpha`, { token: beta })).status, 401)
    t.equal((await postMcp(`${gw.base}/mcp/al%70ha`, { token: beta })).status, 401, 'nor through an escaped name')
    const metrics = await forgeToken(gw.dataDir, { ...claims, aud: `${gw.base}/metrics` })
    t.equal((await metricsGet(gw, metrics)).status, 200)
    t.equal((await postMcp(gw.url, { token: metrics })).status, 401)
  })

  t.test('an unknown resource is refused at /authorize with invalid_target', async (t) => {
    const clientId = await register(gw.base)
    for (const resource of [`${gw.base}/mcp/nope`, `${gw.base}/mcp/__proto__`, `${gw.base}/anything`, `${gw.base}/mcp?x=1`, 'https://elsewhere.example/mcp', [`${gw.base}/mcp`, `${gw.base}/mcp/alpha`]]) {
      const res = await fetch(authorizeUrl(gw.base, clientId, resource), { redirect: 'manual' })
      t.equal(res.status, 303, `${resource}: sent back to the client`)
      const back = new URL(res.headers.get('location')!)
      t.equal(back.origin + back.pathname, REDIRECT)
      t.equal(back.searchParams.get('error'), 'invalid_target', `${resource}: invalid_target`)
      t.equal(back.searchParams.get('state'), 's')
    }
    for (const resource of [gw.base, `${gw.base}/`, `${gw.base}/mcp`, `${gw.base}/mcp/alpha`, `${gw.base}/sse`]) {
      const res = await fetch(authorizeUrl(gw.base, clientId, resource), { redirect: 'manual' })
      t.equal(res.status, 200, `${resource}: the login page`)
    }
  })

  t.test('the resource at /token: the approved one, or a part of a general one; never wider, never unknown', async (t) => {
    const clientId = await register(gw.base)
    for (const resource of [`${gw.base}/mcp/nope`, `${gw.base}/elsewhere`, gw.base]) {
      const res = await exchange(gw, clientId, await codeFor(gw, clientId, `${gw.base}/mcp/alpha`), resource)
      t.equal(res.status, 400, `${resource} for a code approved for /mcp/alpha`)
      t.equal((await res.json() as { error: string }).error, 'invalid_target')
    }
    const narrowed = await exchange(gw, clientId, await codeFor(gw, clientId, `${gw.base}/mcp`), `${gw.base}/mcp/beta`)
    t.equal(narrowed.status, 200, 'a code for /mcp may buy a token for /mcp/beta')
    const token = (await narrowed.json() as { access_token: string }).access_token
    t.equal(decodeJwt(token).aud, `${gw.base}/mcp/beta`)
    t.equal((await postMcp(gw.url, { token })).status, 401, 'which then reaches /mcp/beta only')
  })
})
