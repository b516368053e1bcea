import t from 'tap'
import { PASSPHRASE, postForm } from '../auth-helpers.js'
import { startGateway } from '../helpers.js'

// The OAuth endpoints' refusals, one by one: each must answer with the right status and error
// code, and none may redirect to a client before its redirect URI is known to be registered.

t.test('OAuth endpoints refuse malformed requests with the right error', async (t) => {
  const gw = await startGateway(t, { auth: true })
  const base = gw.base
  const json = async (res: Response) => ({ status: res.status, body: await res.json() as Record<string, unknown> })
  const register = async (body: unknown) => json(await fetch(`${base}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }))

  t.test('registration checks every field', async (t) => {
    const cb = ['https://example.com/cb']
    t.match(await register([1]), { status: 400, body: { error: 'invalid_client_metadata' } }, 'not an object')
    t.match(await register({ redirect_uris: cb, token_endpoint_auth_method: 'private_key_jwt' }), { status: 400, body: { error: 'invalid_client_metadata' } })
    t.match(await register({ redirect_uris: cb, response_types: ['token'] }), { status: 400, body: { error: 'invalid_client_metadata', error_description: 'response_types must be ["code"]' } })
    t.match(await register({ redirect_uris: cb, scope: 'ok "bad' }), { status: 400, body: { error_description: 'scope is malformed' } })
    t.match(await register({ redirect_uris: cb, client_name: 'x'.repeat(201) }), { status: 400, body: { error_description: /client_name must be a string of at most 200/ } })
    t.match(await register({ redirect_uris: [7] }), { status: 400, body: { error: 'invalid_redirect_uri' } })
  })

  const pub = await register({ redirect_uris: ['http://127.0.0.1:9/cb'], token_endpoint_auth_method: 'none', client_name: 'Public' })
  t.equal(pub.status, 201)
  const clientId = pub.body.client_id as string

  t.test('the token and revocation endpoints', async (t) => {
    const wrongType = await fetch(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    t.match(await json(wrongType), { status: 400, body: { error: 'invalid_request', error_description: /x-www-form-urlencoded/ } })
    t.match(await json(await postForm(`${base}/token`, { grant_type: 'password', client_id: clientId })), { status: 400, body: { error: 'unsupported_grant_type' } })
    t.match(await json(await postForm(`${base}/token`, { grant_type: 'authorization_code' })), { status: 401, body: { error: 'invalid_client' } }, 'no client_id')
    t.match(await json(await postForm(`${base}/token`, { grant_type: 'authorization_code', client_id: 'nobody' })), { status: 401, body: { error: 'invalid_client' } }, 'an unknown client')
    const malformed = await postForm(`${base}/token`, { grant_type: 'authorization_code' }, { authorization: `Basic ${Buffer.from('no-colon').toString('base64')}` })
    t.equal(malformed.headers.get('www-authenticate'), 'Basic realm="1mcp"')
    t.match(await json(malformed), { status: 401, body: { error: 'invalid_client', error_description: 'malformed Basic credentials' } })
    const mismatch = await postForm(`${base}/token`, { grant_type: 'authorization_code', client_id: 'other' }, { authorization: `Basic ${Buffer.from(`${clientId}:x`).toString('base64')}` })
    t.match(await json(mismatch), { status: 400, body: { error: 'invalid_request', error_description: /differs from the Basic credentials/ } })
    t.match(await json(await postForm(`${base}/token`, { grant_type: 'authorization_code', client_id: clientId, code: 'never-issued' })), { status: 400, body: { error: 'invalid_grant' } })
    t.match(await json(await postForm(`${base}/revoke`, { client_id: clientId })), { status: 400, body: { error: 'invalid_request', error_description: 'token is required' } })
    const unknown = await postForm(`${base}/revoke`, { client_id: clientId, token: 'not-a-token' })
    t.equal(unknown.status, 200, 'revoking an unknown token succeeds (RFC 7009)')
  })

  t.test('/authorize before and after the redirect URI is trusted', async (t) => {
    const authorize = (query: Record<string, string>) => fetch(`${base}/authorize?${new URLSearchParams(query)}`, { redirect: 'manual' })
    const page = async (res: Response) => ({ status: res.status, html: await res.text() })
    t.match(await page(await authorize({})), { status: 400, html: /client_id is required/ })
    t.match(await page(await authorize({ client_id: 'nobody' })), { status: 400, html: /unknown client_id/ })
    t.match(await page(await authorize({ client_id: clientId, redirect_uri: 'http://127.0.0.1:9/elsewhere' })), { status: 400, html: /exact match of the normalised URI required/ })
    const good = { client_id: clientId, response_type: 'code', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', state: 's1' }
    const redirected = async (query: Record<string, string>) => {
      const res = await authorize(query)
      t.equal(res.status, 303)
      const to = new URL(res.headers.get('location')!)
      t.equal(to.origin + to.pathname, 'http://127.0.0.1:9/cb', 'the error goes back to the registered redirect URI')
      t.equal(to.searchParams.get('state'), 's1')
      return to.searchParams.get('error')
    }
    t.equal(await redirected({ ...good, response_type: 'token' }), 'unsupported_response_type')
    t.equal(await redirected({ ...good, code_challenge: '' }), 'invalid_request')
    t.equal(await redirected({ ...good, code_challenge_method: 'plain' }), 'invalid_request')
    t.equal(await redirected({ ...good, code_challenge: 'short' }), 'invalid_request')
    t.equal(await redirected({ ...good, resource: 'https://elsewhere.example/mcp' }), 'invalid_target')
    t.equal(await redirected({ ...good, scope: 'bad"scope' }), 'invalid_scope')
    t.match(await page(await authorize(good)), { status: 200, html: /action="\/authorize\/login"/ }, 'a good request shows the login page')
  })

  t.test('login, consent and callback pages without a valid request', async (t) => {
    const login = await postForm(`${base}/authorize/login`, { request_id: 'nope', csrf_token: 'nope', passphrase: 'x' })
    t.equal(login.status, 400)
    t.match(await login.text(), /expired or was not issued/)
    const consentGet = await fetch(`${base}/authorize/consent?request_id=nope`)
    t.equal(consentGet.status, 400)
    const consentPost = await postForm(`${base}/authorize/consent`, { request_id: 'nope', csrf_token: 'nope', decision: 'approve' })
    t.equal(consentPost.status, 400)
    t.ok(gw.logs.audits('consent').some((a) => a.reason === 'not logged in'), 'the refusal is audited')
    const callback = await fetch(`${base}/oauth/callback?code=x&state=y`)
    t.equal(callback.status, 404, 'no upstream identity provider: no callback')
  })

  t.test('metadata paths and CORS preflight', async (t) => {
    t.equal((await fetch(`${base}/.well-known/oauth-protected-resource/not-a-resource`)).status, 404)
    const prm = await fetch(`${base}/.well-known/oauth-protected-resource/mcp/alpha`)
    t.equal(prm.status, 200)
    t.match(await prm.json(), { resource: `${base}/mcp/alpha` })
    t.equal((await fetch(`${base}/authorize`, { method: 'OPTIONS' })).status, 404, 'pages get no preflight')
    const preflight = await fetch(`${base}/token`, { method: 'OPTIONS' })
    t.equal(preflight.status, 204)
    t.match(preflight.headers.get('access-control-allow-methods'), /POST/)
  })
})

t.test('behind a proxy that serves the gateway under a path (externalUrl https://mcp.example.com/gw): the login and consent forms post under it', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: {}, externalUrl: 'https://mcp.example.com/gw' } })
  const headers = { host: 'mcp.example.com', 'x-forwarded-proto': 'https' }
  const registered = await gw.app.inject({ method: 'POST', url: '/register', headers: { ...headers, 'content-type': 'application/json' }, payload: { redirect_uris: ['https://client.example/cb'], token_endpoint_auth_method: 'none', client_name: 'prefixed' } })
  t.equal(registered.statusCode, 201)
  const query = new URLSearchParams({ client_id: registered.json().client_id, redirect_uri: 'https://client.example/cb', response_type: 'code', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256', state: 's' })
  const login = await gw.app.inject({ url: `/authorize?${query}`, headers })
  t.equal(login.statusCode, 200)
  t.match(login.body, /<form method="post" action="\/gw\/authorize\/login">/, 'the login form posts to /gw/authorize/login, which the proxy passes on as /authorize/login')
  const hidden = (html: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)![1]
  const loggedIn = await gw.app.inject({
    method: 'POST',
    url: '/authorize/login',
    headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded', origin: 'https://mcp.example.com', 'sec-fetch-site': 'same-origin' },
    payload: new URLSearchParams({ request_id: hidden(login.body, 'request_id'), csrf_token: hidden(login.body, 'csrf_token'), passphrase: PASSPHRASE }).toString()
  })
  t.equal(loggedIn.statusCode, 303)
  const next = String(loggedIn.headers.location)
  t.match(next, /^\/gw\/authorize\/consent\?request_id=/, 'the redirect after the login stays under the prefix')
  const cookie = String(loggedIn.headers['set-cookie']).split(';')[0]
  const consent = await gw.app.inject({ url: next.slice('/gw'.length), headers: { ...headers, cookie } })
  t.equal(consent.statusCode, 200)
  t.match(consent.body, /<form method="post" action="\/gw\/authorize\/consent">/, 'and so does the consent form')
})
