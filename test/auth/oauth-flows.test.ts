import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { browser, form, PASSPHRASE, postForm, type Browser } from '../auth-helpers.js'
import { type AuthGateway, startGateway } from '../helpers.js'

// The OAuth routes (routes/oauth.ts, routes/oauth/) along the paths the other auth tests do not take: bodies that
// are missing or repeat a field, an owner already logged in, secure (https) cookies, registration
// turned off, and an upstream identity provider without OpenID Connect discovery (GitHub's kind).

const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'
const REDIRECT = 'http://127.0.0.1:9/cb'

async function json (res: Response): Promise<{ status: number, body: Record<string, unknown> }> {
  return { status: res.status, body: await res.json() as Record<string, unknown> }
}

async function registerClient (base: string): Promise<string> {
  const res = await fetch(`${base}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', client_name: 'flows' }) })
  if (res.status !== 201) throw new Error(`registration answered ${res.status}`)
  return (await res.json() as { client_id: string }).client_id
}

function authorizeUrl (base: string, clientId: string, state = 's'): string {
  return `${base}/authorize?${new URLSearchParams({ client_id: clientId, response_type: 'code', code_challenge: CHALLENGE, code_challenge_method: 'S256', state })}`
}

function hidden (html: string, name: string): string {
  const found = new RegExp(`name="${name}" value="([^"]*)"`).exec(html)
  if (!found) throw new Error(`no ${name} in ${html.slice(0, 300)}`)
  return found[1]
}

/** A pending authorization request: its id and CSRF token, from the login page. */
async function pendingRequest (b: Browser, gw: AuthGateway, clientId: string): Promise<{ requestId: string, csrf: string }> {
  const page = await b.fetch(authorizeUrl(gw.base, clientId))
  const html = await page.text()
  if (page.status !== 200) throw new Error(`/authorize answered ${page.status}: ${html.slice(0, 300)}`)
  return { requestId: hidden(html, 'request_id'), csrf: hidden(html, 'csrf_token') }
}

t.test('embedded issuer: requests with missing or repeated fields', async (t) => {
  const gw = await startGateway(t, { auth: true })
  const clientId = await registerClient(gw.base)

  t.test('a form field given twice is refused', async (t) => {
    const res = await fetch(`${gw.base}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `client_id=${clientId}&grant_type=authorization_code&grant_type=refresh_token` })
    t.match(await json(res), { status: 400, body: { error: 'invalid_request', error_description: 'grant_type must not be repeated' } })
  })

  t.test('a token request with no body and no Content-Type is refused', async (t) => {
    const res = await fetch(`${gw.base}/token`, { method: 'POST' })
    t.match(await json(res), { status: 400, body: { error: 'invalid_request', error_description: /x-www-form-urlencoded/ } })
  })

  t.test('a client secret in the body is checked (client_secret_post)', async (t) => {
    const registered = await fetch(`${gw.base}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'client_secret_post' }) })
    const { client_id: confidential, client_secret: secret } = await registered.json() as { client_id: string, client_secret: string }
    t.ok(secret, 'a confidential client gets a secret')
    const wrong = await postForm(`${gw.base}/revoke`, { client_id: confidential, client_secret: 'not-the-secret', token: 'x' })
    t.match(await json(wrong), { status: 401, body: { error: 'invalid_client' } })
    const missing = await postForm(`${gw.base}/revoke`, { client_id: confidential, token: 'x' })
    t.equal(missing.status, 401, 'a confidential client must authenticate')
    const right = await postForm(`${gw.base}/revoke`, { client_id: confidential, client_secret: secret, token: 'x' })
    t.equal(right.status, 200, 'the right secret in the body authenticates it')
  })

  t.test('login and consent forms with no body at all', async (t) => {
    const login = await fetch(`${gw.base}/authorize/login`, { method: 'POST' })
    t.equal(login.status, 400)
    t.match(await login.text(), /expired or was not issued/)
    const consent = await fetch(`${gw.base}/authorize/consent`, { method: 'POST' })
    t.equal(consent.status, 400)
    t.match(await consent.text(), /Consent refused/)
  })

  t.test('a login form without a passphrase is a wrong passphrase', async (t) => {
    const b = browser()
    const { requestId, csrf } = await pendingRequest(b, gw, clientId)
    const res = await b.fetch(`${gw.base}/authorize/login`, { method: 'POST', body: form({ request_id: requestId, csrf_token: csrf }) })
    t.equal(res.status, 401)
    t.match(await res.text(), /Wrong passphrase/)
    t.notOk(b.cookies.size, 'no owner session')
  })

  t.test('the consent page, opened before logging in, shows the login form', async (t) => {
    const b = browser()
    const { requestId } = await pendingRequest(b, gw, clientId)
    const res = await fetch(`${gw.base}/authorize/consent?request_id=${encodeURIComponent(requestId)}`)
    t.equal(res.status, 200)
    const html = await res.text()
    t.match(html, /action="\/authorize\/login"/)
    t.equal(hidden(html, 'request_id'), requestId)
  })
})

t.test('embedded issuer behind https: __Host- cookies, and a logged-in owner goes straight to consent', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: {}, externalUrl: 'https://gw.example' } })
  const clientId = await registerClient(gw.base)
  const b = browser()
  const { requestId, csrf } = await pendingRequest(b, gw, clientId)
  const login = await b.fetch(`${gw.base}/authorize/login`, { method: 'POST', body: form({ request_id: requestId, csrf_token: csrf, passphrase: PASSPHRASE }) })
  t.equal(login.status, 303)
  const cookie = login.headers.getSetCookie().find((c) => /^__Host-1mcp-owner-[A-Za-z0-9_-]+=/.test(c))
  t.ok(cookie, 'the owner cookie has the __Host- prefix')
  t.match(cookie, /; Secure/i)
  t.match(cookie, /; Path=\//i)

  const again = await b.fetch(authorizeUrl(gw.base, clientId, 'second'))
  t.equal(again.status, 200)
  const html = await again.text()
  t.match(html, /action="\/authorize\/consent"/, 'the consent page, no login')
  t.notMatch(html, /name="passphrase"/)
})

t.test('dynamic registration turned off', async (t) => {
  const gw = await startGateway(t, { auth: { allowDynamicRegistration: false } })
  const meta = await (await fetch(`${gw.base}/.well-known/oauth-authorization-server`)).json() as Record<string, unknown>
  t.equal(meta.registration_endpoint, undefined, 'no registration endpoint is advertised')
  t.ok(meta.token_endpoint)
  const res = await fetch(`${gw.base}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: [REDIRECT] }) })
  t.match(await json(res), { status: 403, body: { error: 'access_denied' } })
})

interface IdpUser { id?: number | string, login?: string, email?: string }

/**
 * An OAuth 2 provider without discovery, the way GitHub works: /authorize sends the browser straight
 * back with a code for `next` user, /token trades it, /user describes the user (500 for `broken`).
 */
async function startPlainIdp (t: Test): Promise<{ base: string, next: { user: IdpUser | 'broken' }, tokenRequests: Array<Record<string, string>> }> {
  const next: { user: IdpUser | 'broken' } = { user: {} }
  const codes = new Map<string, IdpUser | 'broken'>()
  const tokenRequests: Array<Record<string, string>> = []
  let n = 0
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://idp')
    const send = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
    if (url.pathname === '/authorize') {
      const code = `code-${++n}`
      codes.set(code, next.user)
      const back = new URL(url.searchParams.get('redirect_uri')!)
      back.searchParams.set('code', code)
      back.searchParams.set('state', url.searchParams.get('state') ?? '')
      res.writeHead(302, { location: back.href }).end()
      return
    }
    if (url.pathname === '/token') {
      let text = ''
      req.on('data', (c: Buffer) => { text += c })
      req.on('end', () => {
        const params = Object.fromEntries(new URLSearchParams(text))
        tokenRequests.push({ ...params, authorization: req.headers.authorization ?? '' })
        if (!codes.has(params.code)) return send(400, { error: 'invalid_grant' })
        send(200, { access_token: `at-${params.code}`, token_type: 'bearer', scope: '' })
      })
      return
    }
    if (url.pathname === '/user') {
      const user = codes.get((req.headers.authorization ?? '').replace(/^Bearer at-/, ''))
      if (!user) return send(401, { message: 'Bad credentials' })
      if (user === 'broken') return send(500, { message: 'upstream trouble' })
      return send(200, user)
    }
    send(404, {})
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }))
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, next, tokenRequests }
}

t.test('an upstream provider without discovery (GitHub-style)', async (t) => {
  const idp = await startPlainIdp(t)
  const gw = await startGateway(t, {
    config: { mcpServers: {} },
    auth: {
      passphraseHash: undefined,
      upstream: { clientId: 'gw-at-idp', clientSecret: 'idp-secret', authorizationUrl: `${idp.base}/authorize`, tokenUrl: `${idp.base}/token`, userinfoUrl: `${idp.base}/user`, allowedUsers: ['octo'] }
    }
  })
  const clientId = await registerClient(gw.base)

  /** Starts an authorization as `user` and follows the browser back to the gateway's callback: its answer. */
  async function loginAs (b: Browser, user: IdpUser | 'broken'): Promise<Response> {
    idp.next.user = user
    const start = await b.fetch(authorizeUrl(gw.base, clientId))
    t.equal(start.status, 302, 'the gateway sends the browser to the provider')
    const atIdp = new URL(start.headers.get('location')!)
    t.equal(atIdp.origin + atIdp.pathname, `${idp.base}/authorize`)
    const back = await b.fetch(atIdp)
    return await b.fetch(new URL(back.headers.get('location')!))
  }

  t.test('a user named on the allow list by login logs in, then goes on to consent', async (t) => {
    const b = browser()
    const consent = await loginAs(b, { id: 42, login: 'octo' })
    // the consent page in the callback's own answer: the navigation began at the provider, and a
    // browser would not send the Strict owner cookie after a redirect along it
    t.equal(consent.status, 200)
    t.match(consent.headers.getSetCookie().find((c) => c.startsWith('1mcp-owner-')), /SameSite=Strict/i)
    const html = await consent.text()
    t.match(html, /action="\/authorize\/consent"/)
    const login = gw.logs.audits('login').find((e) => e.outcome === 'succeeded')
    t.match(login, { subject: '42', via: 'upstream' }, 'the numeric id is the subject; an unnamed provider is "upstream"')
    const tokenRequest = idp.tokenRequests.at(-1)!
    t.equal(tokenRequest.grant_type, 'authorization_code')
    t.ok(tokenRequest.code_verifier, 'PKCE towards the provider')

    // with an upstream provider the passphrase form is never served, even for a real pending request
    const refused = await b.fetch(`${gw.base}/authorize/login`, { method: 'POST', body: form({ request_id: hidden(html, 'request_id'), csrf_token: hidden(html, 'csrf_token'), passphrase: 'anything' }) })
    t.equal(refused.status, 400)
    t.match(await refused.text(), /log in through the identity provider/)
  })

  t.test('a provider answer without a user id is refused', async (t) => {
    const done = await loginAs(browser(), { login: 'octo' })
    t.equal(done.status, 403)
    t.match(await done.text(), /may not approve access/)
  })

  t.test('a login name is not trusted from an OpenID-less provider unless listed', async (t) => {
    const done = await loginAs(browser(), { id: 7, login: 'mallory' })
    t.equal(done.status, 403)
    t.ok(gw.logs.audits('login').some((e) => e.outcome === 'refused' && e.subject === '7'))
  })

  t.test('a provider whose user endpoint fails: the login fails, no session', async (t) => {
    const b = browser()
    const done = await loginAs(b, 'broken')
    t.equal(done.status, 400)
    t.match(await done.text(), /did not confirm the login/)
    t.ok(gw.logs.audits('login').some((e) => e.outcome === 'failed' && /answered 500/.test(String(e.reason))))
    t.notOk([...b.cookies.keys()].some((k) => k.includes('owner')), 'no owner cookie')
  })

  t.test('a callback the gateway did not start, or with a bad state', async (t) => {
    const noCookie = await fetch(`${gw.base}/oauth/callback?code=x&state=y`)
    t.equal(noCookie.status, 400)
    t.match(await noCookie.text(), /expired/)

    const b = browser()
    idp.next.user = { id: 42, login: 'octo' }
    const start = await b.fetch(authorizeUrl(gw.base, clientId))
    t.equal(start.status, 302)
    const forged = await b.fetch(`${gw.base}/oauth/callback?code=code-1&state=forged`)
    t.equal(forged.status, 400, 'a state that is not the one sent is refused')
    t.match(await forged.text(), /did not confirm the login/)
  })

  t.test('the consent page before the upstream login says to start again', async (t) => {
    const b = browser()
    const start = await b.fetch(authorizeUrl(gw.base, clientId))
    const requestId = [...b.cookies].find(([name]) => name.startsWith('1mcp-login-'))?.[1]
    t.ok(requestId, 'the pending request is remembered in a cookie')
    t.equal(start.status, 302)
    const res = await fetch(`${gw.base}/authorize/consent?request_id=${encodeURIComponent(requestId!)}`)
    t.equal(res.status, 401)
    t.match(await res.text(), /Start again from the client/)
  })
})

t.test('an upstream provider needs an issuer or all three endpoints', async (t) => {
  await t.rejects(startGateway(t, {
    auth: { passphraseHash: undefined, upstream: { clientId: 'x', clientSecret: 'y', authorizationUrl: 'https://idp.example/authorize', allowedUsers: ['*'] } }
  }), /auth\.upstream needs either "issuer"/)
})
