import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { auth } from '@modelcontextprotocol/sdk/client/auth.js'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { buildApp } from '../../app.js'
import { type AuthGateway, echoFixture, postMcp, startGateway } from '../helpers.js'
import { approve, browser, forgeToken, MemoryProvider, PASSPHRASE, postForm } from '../auth-helpers.js'

const servers = () => ({
  alpha: echoFixture('alpha', {}, { tags: ['a'] }),
  beta: echoFixture('beta', {}, { tags: ['b'] })
})

/** Runs the SDK's own OAuth flow against the gateway, the test playing the owner in the browser. */
async function sdkLogin (gw: AuthGateway, opts: { scope?: string, scopes?: string[], url?: URL } = {}): Promise<MemoryProvider> {
  const provider = new MemoryProvider()
  const serverUrl = opts.url ?? gw.url
  const first = await auth(provider, { serverUrl, scope: opts.scope })
  if (first !== 'REDIRECT' || !provider.lastAuthorizationUrl) throw new Error(`expected a redirect, got ${first}`)
  const back = await approve(provider.lastAuthorizationUrl, { scopes: opts.scopes })
  const code = back.searchParams.get('code')
  if (!code) throw new Error(`no code in ${back.href}`)
  if (back.searchParams.get('state') !== 'state-123') throw new Error('state not returned')
  const second = await auth(provider, { serverUrl, authorizationCode: code })
  if (second !== 'AUTHORIZED') throw new Error(`expected AUTHORIZED, got ${second}`)
  return provider
}

async function connectWith (t: Test, url: URL, provider: MemoryProvider): Promise<Client> {
  const client = new Client({ name: 'oauth-test', version: '1.0.0' })
  const transport = new StreamableHTTPClientTransport(url, { authProvider: provider })
  await client.connect(transport)
  t.teardown(async () => {
    await transport.terminateSession().catch(() => {})
    await client.close()
  })
  return client
}

t.test('the SDK client completes discovery, registration, PKCE authorization, token and refresh, then uses MCP', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: servers() } })
  const provider = await sdkLogin(gw)
  t.ok(provider.info?.client_id, 'registered dynamically')
  t.ok(provider.saved?.access_token, 'got an access token')
  t.ok(provider.saved?.refresh_token, 'got a refresh token')
  t.equal(provider.saved?.token_type, 'Bearer')

  const client = await connectWith(t, gw.url, provider)
  const { tools } = await client.listTools()
  const names = tools.map((tool) => tool.name)
  t.ok(names.includes('alpha_1mcp_echo') && names.includes('beta_1mcp_echo'), 'the default grant (every scope offered) sees both servers')
  const result = await client.callTool({ name: 'beta_1mcp_echo', arguments: { text: 'hi' } })
  t.same(result.content, [{ type: 'text', text: 'beta: hi' }])

  const before = provider.saved!
  t.equal(await auth(provider, { serverUrl: gw.url }), 'AUTHORIZED', 'refresh through the SDK')
  t.not(provider.saved!.refresh_token, before.refresh_token, 'the refresh token rotated')
  t.not(provider.saved!.access_token, before.access_token)
  const again = await connectWith(t, gw.url, provider)
  t.ok((await again.listTools()).tools.length > 0, 'the refreshed token works')

  const tokenAudit = gw.logs.audits('token').find((e) => e.outcome === 'issued')
  t.ok(tokenAudit, 'token issuance is audited')
  t.equal(tokenAudit?.clientId, provider.info?.client_id)
  t.equal(tokenAudit?.subject, 'owner')
  const access = gw.logs.audits('access').find((e) => e.outcome === 'allowed')
  t.match(access, { clientId: provider.info?.client_id, subject: 'owner', ip: '127.0.0.1', path: '/mcp' }, 'access decisions are audited')

  t.test('no token, code or passphrase ever reaches the log', async (t) => {
    const secrets = [before.access_token, before.refresh_token!, provider.saved!.access_token, provider.saved!.refresh_token!, PASSPHRASE, provider.verifier]
    const text = gw.logs.lines.join('\n')
    t.ok(gw.logs.lines.length > 20, 'there are log lines to look at')
    for (const secret of secrets) t.notOk(text.includes(secret), 'a secret is absent from the logs')
    const codes = gw.logs.audits('consent').length
    t.ok(codes > 0)
  })
})

t.test('metadata documents', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: servers() } })
  const prm = await (await fetch(`${gw.base}/.well-known/oauth-protected-resource/mcp`)).json()
  t.same(prm.resource, `${gw.base}/mcp`)
  t.same(prm.authorization_servers, [gw.base])
  t.same(prm.scopes_supported, ['mcp', 'tag:a', 'tag:b'])
  const single = await (await fetch(`${gw.base}/.well-known/oauth-protected-resource/mcp/alpha`)).json()
  t.equal(single.resource, `${gw.base}/mcp/alpha`)
  t.equal((await fetch(`${gw.base}/.well-known/oauth-protected-resource/etc/passwd`)).status, 404)
  const as = await (await fetch(`${gw.base}/.well-known/oauth-authorization-server`)).json()
  t.equal(as.issuer, gw.base)
  t.same(as.code_challenge_methods_supported, ['S256'])
  t.equal(as.client_id_metadata_document_supported, true)
  t.same(as.scopes_supported, ['mcp', 'tag:a', 'tag:b'])
  t.equal(as.token_endpoint, `${gw.base}/token`)
  t.equal(as.registration_endpoint, `${gw.base}/register`)
  t.equal(as.revocation_endpoint, `${gw.base}/revoke`)
  const jwks = await (await fetch(as.jwks_uri)).json()
  t.equal(jwks.keys.length, 1)
  t.notOk(jwks.keys[0].d, 'the JWKS holds no private part')
})

t.test('published URLs come from externalUrl, never from the Host header', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: {}, externalUrl: 'https://gw.example.com/' } })
  const res = await fetch(`${gw.base}/.well-known/oauth-authorization-server`, { headers: { host: 'gw.example.com', 'x-forwarded-host': 'evil.example' } })
  const as = await res.json()
  t.equal(as.issuer, 'https://gw.example.com')
  t.equal(as.authorization_endpoint, 'https://gw.example.com/authorize')
  const denied = await postMcp(gw.url)
  t.equal(denied.status, 401)
  t.equal(denied.headers.get('www-authenticate'), 'Bearer resource_metadata="https://gw.example.com/.well-known/oauth-protected-resource/mcp"')
})

t.test('401 and 403 on the MCP endpoints', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: servers() } })
  const good = { sub: 'owner', client_id: 'c1', scope: 'mcp', aud: `${gw.base}/mcp` }
  const iss = gw.base

  const cases: Array<[string, Promise<Response>, number, RegExp]> = [
    ['no token', postMcp(gw.url), 401, /^Bearer resource_metadata="[^"]+\/mcp"$/],
    ['not a Bearer header', postMcp(gw.url, { headers: { authorization: 'Basic Zm9vOmJhcg==' } }), 401, /error="invalid_request"/],
    ['a token in the query string only', postMcp(`${gw.url}?access_token=${await forgeToken(gw.dataDir, { ...good, iss })}`), 401, /resource_metadata=/],
    ['garbage', postMcp(gw.url, { token: 'not.a.jwt' }), 401, /error="invalid_token"/],
    ['an expired token', postMcp(gw.url, { token: await forgeToken(gw.dataDir, { ...good, iss }, { expiresIn: -30 }) }), 401, /error="invalid_token", error_description="the token expired"/],
    ['another issuer', postMcp(gw.url, { token: await forgeToken(gw.dataDir, { ...good, iss: 'https://other.example' }) }), 401, /invalid_token/],
    ['an ID token, not an access token', postMcp(gw.url, { token: await forgeToken(gw.dataDir, { ...good, iss }, { typ: 'JWT' }) }), 401, /invalid_token/],
    ['a token for another audience', postMcp(gw.url, { token: await forgeToken(gw.dataDir, { ...good, iss, aud: 'https://other.example/mcp' }) }), 401, /error="invalid_token", error_description="the token was issued for another resource \(audience\)"/],
    ['a token with no MCP scope', postMcp(gw.url, { token: await forgeToken(gw.dataDir, { ...good, iss, scope: 'openid' }) }), 403, /error="insufficient_scope".*scope="openid mcp"/],
    ['a tag scope for another server', postMcp(`${gw.url}/beta`, { token: await forgeToken(gw.dataDir, { ...good, iss, scope: 'tag:a' }) }), 403, /resource_metadata="[^"]+\/oauth-protected-resource\/mcp\/beta".*error="insufficient_scope".*scope="tag:a tag:b"/]
  ]
  for (const [name, pending, status, header] of cases) {
    const res = await pending
    t.equal(res.status, status, `${name}: ${status}`)
    t.match(res.headers.get('www-authenticate') ?? '', header, `${name}: WWW-Authenticate`)
  }
  const forged = await postMcp(gw.url, { token: await forgeToken(gw.dataDir, { ...good, iss }) })
  t.equal(forged.status, 200, 'a well-formed token passes (the forged ones above fail for their one flaw)')
  const other = await postMcp(gw.url, { token: (await forgeToken(gw.dataDir, { ...good, iss })).replace(/\.[^.]+$/, '.AAAA') })
  t.equal(other.status, 401, 'a bad signature fails')
  const denials = gw.logs.audits('access').filter((e) => e.outcome === 'denied')
  t.ok(denials.length >= cases.length, 'every denial is audited')
  t.ok(denials.every((e) => typeof e.reason === 'string' && e.ip === '127.0.0.1' && typeof e.path === 'string'))
  const health = await (await fetch(`${gw.base}/health`)).json()
  t.equal(health.auth.enabled, true, '/health needs no token and says auth is on')
})

t.test('scopes are tags: a tag:a token sees and calls only alpha', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: servers() } })
  const provider = await sdkLogin(gw, { scope: 'tag:a' })
  t.equal(provider.saved?.scope, 'tag:a')
  const client = await connectWith(t, gw.url, provider)
  const names = (await client.listTools()).tools.map((tool) => tool.name)
  t.ok(names.includes('alpha_1mcp_echo'))
  t.notOk(names.some((n) => n.startsWith('beta_')), 'beta is hidden from the list')
  const err = await client.callTool({ name: 'beta_1mcp_echo', arguments: { text: 'x' } }).catch((e: Error) => e)
  t.match(err, { message: /unknown tool/ }, 'calling a hidden server is refused')
  const ok = await client.callTool({ name: 'alpha_1mcp_echo', arguments: { text: 'x' } })
  t.same(ok.content, [{ type: 'text', text: 'alpha: x' }])
  const direct = await postMcp(`${gw.url}/beta`, { token: provider.saved!.access_token })
  t.equal(direct.status, 403, '/mcp/beta is refused')
  const alpha = await postMcp(`${gw.url}/alpha`, { token: provider.saved!.access_token })
  t.equal(alpha.status, 200, '/mcp/alpha is served')

  t.test('the owner can narrow the grant on the consent page', async (t) => {
    const narrowed = await sdkLogin(gw, { scopes: ['tag:b'] })
    t.equal(narrowed.saved?.scope, 'tag:b')
    const c = await connectWith(t, gw.url, narrowed)
    const listed = (await c.listTools()).tools.map((tool) => tool.name)
    t.ok(listed.every((n) => n.startsWith('beta_')) && listed.length > 0)
  })
})

t.test('refresh-token reuse revokes the whole family, access tokens included', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: servers() } })
  const provider = await sdkLogin(gw)
  const clientId = provider.info!.client_id
  const first = provider.saved!
  const refresh = (token: string) => postForm(`${gw.base}/token`, { grant_type: 'refresh_token', refresh_token: token, client_id: clientId })
  const r1 = await refresh(first.refresh_token!)
  t.equal(r1.status, 200)
  t.equal(r1.headers.get('cache-control'), 'no-store', 'token responses are not cached')
  const second = await r1.json()
  t.equal((await postMcp(gw.url, { token: second.access_token })).status, 200)

  const reused = await refresh(first.refresh_token!)
  t.equal(reused.status, 400)
  t.equal((await reused.json()).error, 'invalid_grant')
  const afterReuse = await refresh(second.refresh_token)
  t.equal(afterReuse.status, 400, 'the newest refresh token of the family is dead too')
  t.equal((await postMcp(gw.url, { token: second.access_token })).status, 401, 'and so are its access tokens')
  t.ok(gw.logs.audits('token').some((e) => e.outcome === 'revoked'), 'the reuse is audited')
})

t.test('authorization codes: single use, PKCE, exact redirect URIs', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: servers() } })
  const provider = new MemoryProvider()
  await auth(provider, { serverUrl: gw.url })
  const authUrl = provider.lastAuthorizationUrl!
  const clientId = provider.info!.client_id

  t.test('a redirect URI not registered is shown an error, never redirected to', async (t) => {
    const bad = new URL(authUrl)
    bad.searchParams.set('redirect_uri', 'http://127.0.0.1:9/callback/other')
    const res = await fetch(bad, { redirect: 'manual' })
    t.equal(res.status, 400)
    t.equal(res.headers.get('location'), null)
  })

  t.test('plain PKCE is refused back at the client', async (t) => {
    const bad = new URL(authUrl)
    bad.searchParams.set('code_challenge_method', 'plain')
    const res = await fetch(bad, { redirect: 'manual' })
    t.equal(res.status, 303)
    const back = new URL(res.headers.get('location')!)
    t.equal(back.searchParams.get('error'), 'invalid_request')
    t.equal(back.searchParams.get('state'), 'state-123')
    t.equal(back.searchParams.get('iss'), gw.base)
  })

  t.test('a wrong audience (resource) is refused', async (t) => {
    const bad = new URL(authUrl)
    bad.searchParams.set('resource', 'https://other.example/mcp')
    const res = await fetch(bad, { redirect: 'manual' })
    t.equal(new URL(res.headers.get('location')!).searchParams.get('error'), 'invalid_target')
  })

  const back = await approve(authUrl)
  const code = back.searchParams.get('code')!
  const exchange = (verifier: string) => postForm(`${gw.base}/token`, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: provider.redirectUrl, client_id: clientId })
  const wrong = await exchange('x'.repeat(43))
  t.equal(wrong.status, 400)
  t.equal((await wrong.json()).error, 'invalid_grant', 'a wrong code_verifier fails')
  const replay = await exchange(provider.verifier)
  t.equal(replay.status, 400, 'the code was spent by the failed attempt')

  const provider2 = new MemoryProvider()
  provider2.info = provider.info
  await auth(provider2, { serverUrl: gw.url })
  const code2 = (await approve(provider2.lastAuthorizationUrl!)).searchParams.get('code')!
  const once = await postForm(`${gw.base}/token`, { grant_type: 'authorization_code', code: code2, code_verifier: provider2.verifier, redirect_uri: provider.redirectUrl, client_id: clientId })
  t.equal(once.status, 200)
  const tokens = await once.json()
  t.equal((await postMcp(gw.url, { token: tokens.access_token })).status, 200)
  const twice = await postForm(`${gw.base}/token`, { grant_type: 'authorization_code', code: code2, code_verifier: provider2.verifier, redirect_uri: provider.redirectUrl, client_id: clientId })
  t.equal(twice.status, 400)
  t.equal((await postMcp(gw.url, { token: tokens.access_token })).status, 401, 'replaying a code revokes what it bought')
})

t.test('consent page: CSRF, login, framing', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: servers() } })
  const provider = new MemoryProvider()
  await auth(provider, { serverUrl: gw.url })
  const b = browser()
  const page = await b.fetch(provider.lastAuthorizationUrl!)
  t.equal(page.status, 200)
  t.equal(page.headers.get('x-frame-options'), 'DENY')
  t.match(page.headers.get('content-security-policy'), /frame-ancestors 'none'/)
  t.equal(page.headers.get('cache-control'), 'no-store')
  const html = await page.text()
  t.match(html, /tap test client/, 'the page names the client')
  const requestId = /name="request_id" value="([^"]+)"/.exec(html)![1]
  const csrf = /name="csrf_token" value="([^"]+)"/.exec(html)![1]

  const badCsrf = await b.fetch(`${gw.base}/authorize/login`, { method: 'POST', body: new URLSearchParams({ request_id: requestId, csrf_token: 'forged', passphrase: PASSPHRASE }) })
  t.equal(badCsrf.status, 400, 'a login without the CSRF token is refused')
  const wrong = await b.fetch(`${gw.base}/authorize/login`, { method: 'POST', body: new URLSearchParams({ request_id: requestId, csrf_token: csrf, passphrase: 'guess' }) })
  t.equal(wrong.status, 401, 'a wrong passphrase is refused')
  t.ok(gw.logs.audits('login').some((e) => e.outcome === 'failed'), 'the failed login is audited')

  const consentWithoutLogin = await b.fetch(`${gw.base}/authorize/consent`, { method: 'POST', body: new URLSearchParams({ request_id: requestId, csrf_token: csrf, decision: 'approve', scope: 'mcp' }) })
  t.equal(consentWithoutLogin.status, 400, 'consent needs the owner logged in')

  const login = await b.fetch(`${gw.base}/authorize/login`, { method: 'POST', body: new URLSearchParams({ request_id: requestId, csrf_token: csrf, passphrase: PASSPHRASE }) })
  t.equal(login.status, 303)
  t.match(login.headers.get('set-cookie'), /HttpOnly/i)
  t.match(login.headers.get('set-cookie'), /SameSite=Strict/i)
  const consent = await b.fetch(new URL(login.headers.get('location')!, gw.base))
  const consentHtml = await consent.text()
  const csrf2 = /name="csrf_token" value="([^"]+)"/.exec(consentHtml)![1]
  const forged = await b.fetch(`${gw.base}/authorize/consent`, { method: 'POST', body: new URLSearchParams({ request_id: requestId, csrf_token: 'x' + csrf2.slice(1), decision: 'approve', scope: 'mcp' }) })
  t.equal(forged.status, 400, 'a consent with a forged CSRF token is refused')
  const otherBrowser = browser()
  const stolen = await otherBrowser.fetch(`${gw.base}/authorize/consent`, { method: 'POST', body: new URLSearchParams({ request_id: requestId, csrf_token: csrf2, decision: 'approve', scope: 'mcp' }) })
  t.equal(stolen.status, 400, 'another browser cannot use the form')
  const denied = await b.fetch(`${gw.base}/authorize/consent`, { method: 'POST', body: new URLSearchParams({ request_id: requestId, csrf_token: csrf2, decision: 'deny' }) })
  t.equal(denied.status, 303)
  t.equal(new URL(denied.headers.get('location')!).searchParams.get('error'), 'access_denied')
  const again = await b.fetch(`${gw.base}/authorize/consent`, { method: 'POST', body: new URLSearchParams({ request_id: requestId, csrf_token: csrf2, decision: 'approve', scope: 'mcp' }) })
  t.equal(again.status, 400, 'a request is decided once')
})

t.test('revocation (RFC 7009) ends the grant', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: servers() } })
  const provider = await sdkLogin(gw)
  const clientId = provider.info!.client_id
  const access = provider.saved!.access_token
  t.equal((await postMcp(gw.url, { token: access })).status, 200)
  const unknown = await postForm(`${gw.base}/revoke`, { token: 'nonsense', client_id: clientId })
  t.equal(unknown.status, 200, 'an unknown token is not an error')
  const res = await postForm(`${gw.base}/revoke`, { token: provider.saved!.refresh_token!, token_type_hint: 'refresh_token', client_id: clientId })
  t.equal(res.status, 200)
  t.equal((await postMcp(gw.url, { token: access })).status, 401, 'the access token of the revoked grant is refused')
  const refresh = await postForm(`${gw.base}/token`, { grant_type: 'refresh_token', refresh_token: provider.saved!.refresh_token!, client_id: clientId })
  t.equal(refresh.status, 400)
})

t.test('dynamic registration checks what it is given; confidential clients authenticate', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: servers() } })
  const register = (body: unknown) => fetch(`${gw.base}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  t.equal((await register({ redirect_uris: ['http://example.com/cb'] })).status, 400, 'http off loopback is refused')
  t.equal((await register({ redirect_uris: ['javascript:alert(1)'] })).status, 400)
  t.equal((await register({ redirect_uris: ['https://example.com/cb#frag'] })).status, 400)
  t.equal((await register({ redirect_uris: [] })).status, 400)
  t.equal((await register({ redirect_uris: ['https://example.com/cb'], grant_types: ['client_credentials'] })).status, 400)
  const res = await register({ redirect_uris: ['https://example.com/cb'], client_name: 'Confidential' })
  t.equal(res.status, 201)
  const client = await res.json()
  t.equal(client.token_endpoint_auth_method, 'client_secret_basic', 'the RFC 7591 default')
  t.ok(client.client_secret, 'a secret is issued once')
  t.notOk(client.client_secret_sha256)
  const noSecret = await postForm(`${gw.base}/token`, { grant_type: 'refresh_token', refresh_token: 'x.y', client_id: client.client_id })
  t.equal(noSecret.status, 401)
  t.equal((await noSecret.json()).error, 'invalid_client')
  const basic = Buffer.from(`${client.client_id}:wrong`).toString('base64')
  const wrongSecret = await postForm(`${gw.base}/token`, { grant_type: 'refresh_token', refresh_token: 'x.y' }, { authorization: `Basic ${basic}` })
  t.equal(wrongSecret.status, 401)
  t.match(wrongSecret.headers.get('www-authenticate'), /^Basic/)
  const rightBasic = Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')
  const right = await postForm(`${gw.base}/token`, { grant_type: 'refresh_token', refresh_token: 'x.y' }, { authorization: `Basic ${rightBasic}` })
  t.equal(right.status, 400, 'authenticated: now the grant itself is judged')
  t.equal((await right.json()).error, 'invalid_grant')
  t.notOk(gw.logs.lines.join('\n').includes(client.client_secret), 'the client secret is never logged')
})

t.test('registrations, refresh families and the signing key survive a restart', async (t) => {
  const first = await startGateway(t, { auth: true, config: { mcpServers: servers() } })
  const provider = await sdkLogin(first)
  const port = Number(new URL(first.base).port)
  await first.app.close()
  const second = await startGateway(t, { auth: true, config: { mcpServers: servers() }, dataDir: first.dataDir, port })
  t.equal(second.base, first.base)
  t.equal((await postMcp(second.url, { token: provider.saved!.access_token })).status, 200, 'an access token from before the restart verifies')
  t.equal(await auth(provider, { serverUrl: second.url }), 'AUTHORIZED', 'the refresh family survived')
  const client = await connectWith(t, second.url, provider)
  t.ok((await client.listTools()).tools.length > 0)
  const again = new MemoryProvider()
  again.info = provider.info
  t.equal(await auth(again, { serverUrl: second.url }), 'REDIRECT', 'the registered client is still known')
  const page = await fetch(again.lastAuthorizationUrl!)
  t.equal(page.status, 200)
})

t.test('rate limits cover the OAuth endpoints, not /health', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: {} }, auth: { rateLimit: { max: 3, windowSeconds: 60 } } })
  const statuses: number[] = []
  for (let i = 0; i < 5; i++) statuses.push((await postForm(`${gw.base}/token`, { grant_type: 'nope' })).status)
  t.same(statuses.slice(3), [429, 429])
  for (let i = 0; i < 5; i++) t.equal((await fetch(`${gw.base}/health`)).status, 200)
})

t.test('auth off: --no-auth or auth.enabled=false, with a warning and in /health', async (t) => {
  for (const [name, opts] of [['--no-auth', { noAuth: true, config: { mcpServers: {} } }], ['auth.enabled=false', { config: { mcpServers: {}, auth: { enabled: false } } }]] as const) {
    const logs: string[] = []
    const app = await buildApp({ ...opts, logger: { level: 'warn', stream: { write: (line: string) => { logs.push(line) } } } })
    t.teardown(() => app.close())
    const health = await app.inject({ method: 'GET', url: '/health' })
    t.equal(health.json().auth.enabled, false, `${name}: /health says auth is off`)
    t.ok(logs.some((l) => /authentication is OFF/.test(l)), `${name}: a warning at start`)
    const prm = await app.inject({ method: 'GET', url: '/.well-known/oauth-protected-resource' })
    t.equal(prm.statusCode, 404, `${name}: no OAuth documents`)
  }
})

t.test('an unknown key under auth is a config error', async (t) => {
  await t.rejects(buildApp({ logger: false, config: { mcpServers: {}, auth: { enabeld: false } } }), /invalid config/)
})

t.test('with no passphrase set, one is generated, shown once, and kept only as a hash', async (t) => {
  const shown: string[] = []
  const first = await startGateway(t, { config: { mcpServers: {} }, auth: { passphraseHash: undefined }, announcePassphrase: (text) => shown.push(text) })
  t.equal(shown.length, 1, 'shown once')
  const passphrase = /\n {6}(\S+)\n/.exec(shown[0])?.[1]
  t.match(passphrase, /^[a-z2-9]{5}(-[a-z2-9]{5}){4}$/)
  const stored = await readFile(join(first.dataDir, 'owner.json'), 'utf8')
  t.notOk(stored.includes(passphrase!), 'the file holds no passphrase')
  t.match(JSON.parse(stored).passphraseHash, /^scrypt\$/)
  t.notOk(first.logs.lines.join('\n').includes(passphrase!), 'the log holds no passphrase')
  t.ok(first.logs.entries.some((e) => e.level === 40 && /generated the owner passphrase/.test(String(e.msg))), 'a warning says where it went')

  const provider = new MemoryProvider()
  await auth(provider, { serverUrl: first.url })
  const back = await approve(provider.lastAuthorizationUrl!, { passphrase })
  t.ok(back.searchParams.get('code'), 'the generated passphrase logs the owner in')
  await first.app.close()

  const second = await startGateway(t, { config: { mcpServers: {} }, dataDir: first.dataDir, auth: { passphraseHash: undefined }, announcePassphrase: (text) => shown.push(text) })
  t.equal(shown.length, 1, 'not shown again at the next start')
  t.ok(second.app.auth.embedded?.passphraseHash)
})

t.test('the OAuth endpoints answer browser clients cross-origin; the pages do not', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: {} } })
  const origin = { origin: 'http://localhost:6274' }
  const meta = await fetch(`${gw.base}/.well-known/oauth-authorization-server`, { headers: origin })
  t.equal(meta.headers.get('access-control-allow-origin'), '*')
  const pre = await fetch(`${gw.base}/register`, { method: 'OPTIONS', headers: { ...origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } })
  t.equal(pre.status, 204)
  t.match(pre.headers.get('access-control-allow-headers'), /content-type/)
  const page = await fetch(`${gw.base}/authorize?client_id=x`, { headers: origin })
  t.equal(page.headers.get('access-control-allow-origin'), null)
})

t.test('request URLs are logged without the secrets a query string may carry', async (t) => {
  const { serializeRequest } = await import('../../app.js')
  const logged = serializeRequest({ method: 'GET', url: '/oauth/callback?code=SECRET1&state=S2&iss=x&code_challenge=ok', host: 'h', ip: '127.0.0.1' })
  t.equal(logged.url, '/oauth/callback?code=[redacted]&state=[redacted]&iss=x&code_challenge=ok')
  t.equal(serializeRequest({ method: 'POST', url: '/mcp?access_token=abc', ip: '::1' }).url, '/mcp?access_token=[redacted]')
})
