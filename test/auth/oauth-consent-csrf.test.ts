import { createHash } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { type AuthGateway, echoFixture, startGateway } from '../helpers.js'
import { browser, form, PASSPHRASE, postForm, type Browser } from '../auth-helpers.js'

// Consent CSRF (issue 16, item 1): a page on another loopback port starts an authorization of its
// own and has the logged-in owner's browser approve it. The consent form's token is bound to the
// owner's session, cross-site posts are refused by Origin and Sec-Fetch-Site, and the owner cookie
// is SameSite=Strict with a name of this gateway's own.

const VERIFIER = 'consent-csrf-test-verifier-of-forty-three-chars-or-more'
const CHALLENGE = createHash('sha256').update(VERIFIER).digest('base64url')

async function register (base: string, name: string, redirectUri: string): Promise<string> {
  const res = await fetch(`${base}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: [redirectUri], token_endpoint_auth_method: 'none', client_name: name }) })
  if (res.status !== 201) throw new Error(`registration answered ${res.status}: ${await res.text()}`)
  return (await res.json() as { client_id: string }).client_id
}

function authorizeUrl (base: string, clientId: string, state: string): string {
  return `${base}/authorize?${new URLSearchParams({ client_id: clientId, response_type: 'code', code_challenge: CHALLENGE, code_challenge_method: 'S256', state })}`
}

function hidden (html: string, name: string): string {
  const found = new RegExp(`name="${name}" value="([^"]*)"`).exec(html)
  if (!found) throw new Error(`no ${name} in ${html.slice(0, 300)}`)
  return found[1]
}

/** The headers a browser adds to a form post from a page of `origin` to the gateway. */
function formHeaders (gw: AuthGateway, origin: string): Record<string, string> {
  return { origin, 'sec-fetch-site': origin === gw.base ? 'same-origin' : 'same-site', 'sec-fetch-mode': 'navigate', 'content-type': 'application/x-www-form-urlencoded' }
}

/** The owner logs in from the legitimate client's authorization: the browser holds the owner cookie; the consent page's HTML. */
async function ownerLogsIn (gw: AuthGateway, b: Browser, clientId: string): Promise<string> {
  const page = await b.fetch(authorizeUrl(gw.base, clientId, 'legit'))
  const html = await page.text()
  const login = await b.fetch(`${gw.base}/authorize/login`, {
    method: 'POST',
    headers: formHeaders(gw, gw.base),
    body: form({ request_id: hidden(html, 'request_id'), csrf_token: hidden(html, 'csrf_token'), passphrase: PASSPHRASE })
  })
  if (login.status !== 303) throw new Error(`login answered ${login.status}: ${await login.text()}`)
  const consent = await b.fetch(new URL(login.headers.get('location')!, gw.base))
  return await consent.text()
}

/**
 * The foreign page, on its own loopback port: its server starts an authorization for the attacker's
 * client (server side, no cookie), and serves a page that makes the owner's browser open the consent
 * page of that request (an <img>, which a same-site page may send with the owner's cookie) and post
 * an auto-submitted consent form carrying the attacker's own request id and CSRF token.
 */
async function foreignPage (t: Test, gw: AuthGateway, attackerClient: string): Promise<{ origin: string, server: Server }> {
  const server = createServer((_req, res) => {
    void (async () => {
      const page = await fetch(authorizeUrl(gw.base, attackerClient, 'evil'))
      const html = await page.text()
      const requestId = hidden(html, 'request_id')
      const csrf = hidden(html, 'csrf_token')
      res.writeHead(200, { 'content-type': 'text/html' })
      res.end(`<img src="${gw.base}/authorize/consent?request_id=${encodeURIComponent(requestId)}">
<form id="f" method="post" action="${gw.base}/authorize/consent">
<input type="hidden" name="request_id" value="${requestId}"><input type="hidden" name="csrf_token" value="${csrf}">
<input type="hidden" name="decision" value="approve"><input type="hidden" name="scope" value="mcp"></form>
<script>document.getElementById('f').submit()</script>`)
    })().catch((err: Error) => { res.writeHead(500); res.end(err.message) })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}

/** The owner's browser visits the foreign page and does what it says: loads the image, submits the form. */
async function visitForeignPage (b: Browser, origin: string, headers: Record<string, string>): Promise<Response> {
  const html = await (await fetch(origin)).text()
  const img = /<img src="([^"]+)"/.exec(html)![1]
  await b.fetch(img, { headers: { 'sec-fetch-site': 'same-site', 'sec-fetch-dest': 'image' } })
  const action = /action="([^"]+)"/.exec(html)![1]
  const fields = Object.fromEntries([...html.matchAll(/name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1], m[2]]))
  return await b.fetch(action, { method: 'POST', headers, body: form(fields) })
}

function codeIn (res: Response): string | null {
  const location = res.headers.get('location')
  return location ? new URL(location).searchParams.get('code') : null
}

t.test('a foreign page cannot have the logged-in owner approve its authorization', async (t) => {
  const gw = await startGateway(t, { auth: true })
  const legit = await register(gw.base, 'Owner client', 'http://127.0.0.1:9/legit')
  const attacker = await register(gw.base, 'Attacker client', 'http://127.0.0.1:9/evil')
  const owner = browser()
  const legitConsent = await ownerLogsIn(gw, owner, legit)
  const foreign = await foreignPage(t, gw, attacker)

  t.test('as a browser sends it: Origin of another loopback port, Sec-Fetch-Site same-site', async (t) => {
    const res = await visitForeignPage(owner, foreign.origin, formHeaders(gw, foreign.origin))
    t.equal(codeIn(res), null, 'no code is issued')
    t.equal(res.status, 403)
    t.ok(gw.logs.audits('consent').some((a) => a.outcome === 'refused' && /cross-site/.test(String(a.reason))), 'the refusal is audited')
  })

  t.test('with no Origin nor Fetch Metadata (an old browser): the CSRF token is bound to the owner session', async (t) => {
    const res = await visitForeignPage(owner, foreign.origin, { 'content-type': 'application/x-www-form-urlencoded' })
    t.equal(codeIn(res), null, 'no code is issued')
    t.equal(res.status, 400)
  })

  t.test('with the Origin forged to the gateway\'s own: still the attacker\'s token, still refused', async (t) => {
    const res = await visitForeignPage(owner, foreign.origin, formHeaders(gw, gw.base))
    t.equal(codeIn(res), null, 'no code is issued')
  })

  t.test('the attacker\'s request id with the token of the owner\'s own consent page is refused', async (t) => {
    const html = await (await fetch(foreign.origin)).text()
    const res = await owner.fetch(`${gw.base}/authorize/consent`, {
      method: 'POST',
      headers: formHeaders(gw, gw.base),
      body: form({ request_id: hidden(html, 'request_id'), csrf_token: hidden(legitConsent, 'csrf_token'), decision: 'approve', scope: 'mcp' })
    })
    t.equal(codeIn(res), null, 'a token is good for the request it was shown with only')
  })

  t.test('a cross-site login post is refused too', async (t) => {
    const page = await fetch(authorizeUrl(gw.base, attacker, 'evil'))
    const html = await page.text()
    const res = await postForm(`${gw.base}/authorize/login`, { request_id: hidden(html, 'request_id'), csrf_token: hidden(html, 'csrf_token'), passphrase: PASSPHRASE }, { origin: foreign.origin })
    t.equal(res.status, 403)
    t.notOk(res.headers.getSetCookie().length, 'no owner session')
  })

  t.test('the owner\'s own approval still works and its code buys a token', async (t) => {
    const res = await owner.fetch(`${gw.base}/authorize/consent`, {
      method: 'POST',
      headers: formHeaders(gw, gw.base),
      body: form({ request_id: hidden(legitConsent, 'request_id'), csrf_token: hidden(legitConsent, 'csrf_token'), decision: 'approve', scope: 'mcp' })
    })
    t.equal(res.status, 303)
    const back = new URL(res.headers.get('location')!)
    t.equal(back.origin + back.pathname, 'http://127.0.0.1:9/legit')
    t.equal(back.searchParams.get('state'), 'legit')
    const code = back.searchParams.get('code')
    t.ok(code)
    const token = await postForm(`${gw.base}/token`, { grant_type: 'authorization_code', code: code!, code_verifier: VERIFIER, client_id: legit })
    t.equal(token.status, 200)
  })

  t.test('a browser that sends Origin: null with Sec-Fetch-Site: same-origin is the gateway\'s own page', async (t) => {
    const again = await owner.fetch(authorizeUrl(gw.base, legit, 'again'))
    const html = await again.text()
    t.match(html, /action="\/authorize\/consent"/, 'the logged-in owner goes straight to consent')
    const res = await owner.fetch(`${gw.base}/authorize/consent`, {
      method: 'POST',
      headers: { origin: 'null', 'sec-fetch-site': 'same-origin', 'content-type': 'application/x-www-form-urlencoded' },
      body: form({ request_id: hidden(html, 'request_id'), csrf_token: hidden(html, 'csrf_token'), decision: 'approve', scope: 'mcp' })
    })
    t.ok(codeIn(res), 'approved')
  })

  t.test('no code ever went to the attacker\'s redirect URI', async (t) => {
    const issued = gw.logs.audits('consent').filter((a) => a.outcome === 'issued')
    t.same(issued.map((a) => a.clientId), [legit, legit], 'codes were issued to the owner\'s client only')
  })
})

t.test('the owner cookie: SameSite=Strict, HttpOnly, a name of this gateway\'s own', async (t) => {
  const one = await startGateway(t, { auth: true })
  const two = await startGateway(t, { auth: true })
  const names: string[] = []
  for (const gw of [one, two]) {
    const b = browser()
    await ownerLogsIn(gw, b, await register(gw.base, 'c', 'http://127.0.0.1:9/cb'))
    t.equal(b.cookies.size, 1)
    names.push([...b.cookies.keys()][0])
  }
  t.match(names[0], /^1mcp-owner-[A-Za-z0-9_-]{10}$/)
  t.not(names[0], names[1], 'two gateways on one host (another port) do not share the owner cookie')

  const b = browser()
  const page = await b.fetch(authorizeUrl(one.base, await register(one.base, 'c', 'http://127.0.0.1:9/cb'), 's'))
  const html = await page.text()
  const login = await b.fetch(`${one.base}/authorize/login`, { method: 'POST', headers: formHeaders(one, one.base), body: form({ request_id: hidden(html, 'request_id'), csrf_token: hidden(html, 'csrf_token'), passphrase: PASSPHRASE }) })
  const cookie = login.headers.getSetCookie().find((c) => c.startsWith(names[0] + '='))
  t.match(cookie, /; SameSite=Strict/i)
  t.match(cookie, /; HttpOnly/i)
  t.equal(page.headers.get('referrer-policy'), 'same-origin', 'the page\'s own form posts carry its Origin')
})

t.test('the consent page names the client, the redirect URI and the resource, escaped', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: { alpha: echoFixture('alpha') } } })
  const clientId = await register(gw.base, '<script>alert(1)</script>', 'http://127.0.0.1:9/cb?a=1&b=2')
  const b = browser()
  const page = await b.fetch(authorizeUrl(gw.base, clientId, 's') + '&' + new URLSearchParams({ resource: `${gw.base}/mcp/alpha` }))
  const html = await page.text()
  const login = await b.fetch(`${gw.base}/authorize/login`, { method: 'POST', headers: formHeaders(gw, gw.base), body: form({ request_id: hidden(html, 'request_id'), csrf_token: hidden(html, 'csrf_token'), passphrase: PASSPHRASE }) })
  const consent = await (await b.fetch(new URL(login.headers.get('location')!, gw.base))).text()
  t.match(consent, /action="\/authorize\/consent"/)
  t.match(consent, '&lt;script&gt;alert(1)&lt;/script&gt;', 'the client name, escaped')
  t.notMatch(consent, '<script>', 'no markup from the client')
  t.match(consent, clientId, 'the client id')
  t.match(consent, 'http://127.0.0.1:9/cb?a=1&amp;b=2', 'the redirect URI in full, escaped')
  t.match(consent, `${gw.base}/mcp/alpha`, 'the resource approved')
})
