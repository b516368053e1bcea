import { request } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { buildApp } from '../../app.js'
import { CallWindow } from '../../mcp/call-window.js'
import { statusMain } from '../../routes/status-view.js'
import type { HealthReport } from '../../schemas/health.js'
import { connect, echoFixture, startGateway, waitFor } from '../helpers.js'
import { approve, browser, forgeToken, form, PASSPHRASE } from '../auth-helpers.js'

/** A GET with a Host header of our choosing (fetch sets its own). */
function getWithHost (url: string, host: string): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { host } }, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => { body += String(c) })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** The first `status` event of the page's stream, then the stream closed. */
async function firstEvent (url: string, headers: Record<string, string>): Promise<{ status: number, type: string | null, main: string }> {
  const controller = new AbortController()
  const res = await fetch(url, { headers, signal: controller.signal })
  if (res.status !== 200) return { status: res.status, type: res.headers.get('content-type'), main: await res.text() }
  const reader = res.body!.getReader()
  let text = ''
  for (let i = 0; i < 100 && !text.includes('\n\n'); i++) {
    const { value, done } = await reader.read()
    if (done) break
    text += Buffer.from(value).toString('utf8')
  }
  controller.abort()
  const data = text.split('\n').find((l) => l.startsWith('data: '))!.slice(6)
  return { status: res.status, type: res.headers.get('content-type'), main: (JSON.parse(data) as { main: string }).main }
}

t.test('the status page with auth on: who gets in, and its headers', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: { alpha: echoFixture('alpha') } } })
  const claims = { iss: gw.base, aud: `${gw.base}/mcp`, sub: 'owner', client_id: 'c1' }

  const wrongHost = await getWithHost(`${gw.base}/status`, 'evil.example')
  t.equal(wrongHost.status, 403, 'a Host that is not this gateway is refused (DNS rebinding)')
  t.match(wrongHost.body, /GW_HOST_NOT_ALLOWED/)

  const anonymous = await fetch(`${gw.base}/status`, { redirect: 'manual' })
  t.equal(anonymous.status, 303, 'no login: to the login page')
  t.equal(anonymous.headers.get('location'), '/status/login')
  const events = await fetch(`${gw.base}/status/events`)
  t.equal(events.status, 401, 'the event stream without login or token: 401')
  t.match(events.headers.get('www-authenticate'), /^Bearer /)

  const tagOnly = await fetch(`${gw.base}/status`, { headers: { authorization: `Bearer ${await forgeToken(gw.dataDir, { ...claims, scope: 'tag:a' })}` } })
  t.equal(tagOnly.status, 403, 'a token without the mcp scope: 403')
  t.match(tagOnly.headers.get('www-authenticate'), /insufficient_scope/)
  const tagEvents = await fetch(`${gw.base}/status/events`, { headers: { authorization: `Bearer ${await forgeToken(gw.dataDir, { ...claims, scope: 'tag:a' })}` } })
  t.equal(tagEvents.status, 403, 'nor its event stream')

  const token = await forgeToken(gw.dataDir, { ...claims, scope: 'mcp' })
  const page = await fetch(`${gw.base}/status`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(page.status, 200, 'a token with the mcp scope gets the page')
  const html = await page.text()
  t.equal(page.headers.get('x-frame-options'), 'DENY', 'no framing')
  const csp = page.headers.get('content-security-policy') ?? ''
  t.match(csp, /frame-ancestors 'none'/)
  t.match(csp, /default-src 'none'/)
  const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1]
  t.ok(nonce, 'scripts only by nonce')
  t.ok(html.includes(`<script nonce="${nonce}">`), 'the page\'s one script carries it')
  t.notOk(/<script(?![^>]*nonce)/.test(html), 'no other script')
  t.equal(page.headers.get('cache-control'), 'no-store')
  t.match(html, /data-backend="alpha"/)
  t.match(html, /class="state"[^>]*>ready</)

  const stream = await firstEvent(`${gw.base}/status/events`, { authorization: `Bearer ${token}` })
  t.equal(stream.status, 200)
  t.equal(stream.type, 'text/event-stream')
  t.match(stream.main, /data-backend="alpha"/, 'the stream carries the page\'s main part')
})

t.test('a server that needs a login: the status page\'s Authorize button starts it and lands on the authorization server', async (t) => {
  // the backend is a second gateway with auth on: a real OAuth-protected MCP server
  const upstream = await startGateway(t, { auth: true, config: { mcpServers: { echo: echoFixture('upstream-echo') } } })
  const gw = await startGateway(t, { auth: true, config: { mcpServers: { up: { url: upstream.url.href, pingInterval: 0 }, alpha: echoFixture('alpha') } } })
  const sameOrigin = { origin: gw.base, 'sec-fetch-site': 'same-origin' }
  const b = browser()
  t.equal((await b.fetch(`${gw.base}/status/login`, { method: 'POST', body: form({ passphrase: PASSPHRASE }) })).status, 303, 'the owner logs in')
  const html = await (await b.fetch(`${gw.base}/status`)).text()
  const row = (name: string, page: string) => page.slice(page.indexOf(`data-backend="${name}"`)).split('</tr>')[0]
  t.match(row('up', html), /class="state"[^>]*>needs-auth</, 'the server that answered 401 needs a login')
  t.match(row('up', html), /<form class="authorize" method="post" action="\/status\/authorize\/up"><button type="submit">Authorize<\/button><\/form>/, 'and has an Authorize button')
  t.notMatch(row('alpha', html), /authorize/, 'a ready server has none')

  const post = (who: typeof b | undefined, server: string, headers: Record<string, string>) =>
    (who?.fetch ?? ((u: string, i: RequestInit) => fetch(u, { ...i, redirect: 'manual' })))(`${gw.base}/status/authorize/${server}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: '' })
  const anonymous = await post(undefined, 'up', sameOrigin)
  t.equal(anonymous.status, 303, 'no owner session: to the login page')
  t.equal(anonymous.headers.get('location'), '/status/login')
  t.equal((await post(b, 'up', { ...sameOrigin, 'sec-fetch-site': 'cross-site' })).status, 403, 'a form from another site is refused')
  t.equal((await post(b, 'up', { origin: 'http://evil.example' })).status, 403, 'a form from another origin is refused')
  t.equal((await post(b, 'up', {})).status, 403, 'a form whose browser says nothing of its page is refused')
  t.equal((await post(b, 'nope', sameOrigin)).status, 404, 'an unknown server: 404')
  t.equal((await post(b, 'alpha', sameOrigin)).status, 400, 'a stdio server: 400')

  const started = await post(b, 'up', sameOrigin)
  t.equal(started.status, 200, 'the owner\'s Authorize starts the login')
  t.notMatch(started.headers.get('content-security-policy') ?? '', /form-action/, 'on a page that may send the browser to another site')
  const page = await started.text()
  const refresh = /<meta http-equiv="refresh" content="0; url=([^"]+)">/.exec(page)?.[1]
  t.ok(refresh, 'which sends the browser on at once')
  const authorizationUrl = new URL(refresh!.replaceAll('&amp;', '&'))
  t.match(page, `href="${refresh}"`, 'with a link besides')
  t.equal(authorizationUrl.origin, upstream.base, 'to the upstream authorization server')
  t.equal(authorizationUrl.searchParams.get('redirect_uri'), `${gw.base}/oauth/callback/up`, 'which sends it back to the gateway')
  const back = await approve(authorizationUrl)
  t.equal((await fetch(back)).status, 200, 'the callback completes the login')
  await waitFor(async () => row('up', await (await b.fetch(`${gw.base}/status`)).text()).includes('>ready<'), 'the server is ready once logged in')
  t.notMatch(row('up', await (await b.fetch(`${gw.base}/status`)).text()), /authorize/, 'and its Authorize button is gone')
  const token = await forgeToken(gw.dataDir, { iss: gw.base, aud: `${gw.base}/mcp`, sub: 'owner', client_id: 'c1', scope: 'mcp' })
  t.equal((await post(undefined, 'up', { authorization: `Bearer ${token}` })).status, 200, 'an mcp token may start a login too (no cookie, no form check)')
})

t.test('the owner logs in to the status page with the passphrase', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: { alpha: echoFixture('alpha') } } })
  const b = browser()
  const loginPage = await b.fetch(`${gw.base}/status/login`)
  t.equal(loginPage.status, 200)
  t.match(await loginPage.text(), /action="\/status\/login"/)
  t.equal(loginPage.headers.get('x-frame-options'), 'DENY')

  const wrong = await b.fetch(`${gw.base}/status/login`, { method: 'POST', body: form({ passphrase: 'not it' }) })
  t.equal(wrong.status, 401, 'a wrong passphrase is refused')
  t.equal(b.cookies.size, 0, 'and sets no cookie')

  const crossSite = await b.fetch(`${gw.base}/status/login`, { method: 'POST', headers: { 'sec-fetch-site': 'cross-site' }, body: form({ passphrase: PASSPHRASE }) })
  t.equal(crossSite.status, 403, 'a form posted from another site is refused')

  const login = await b.fetch(`${gw.base}/status/login`, { method: 'POST', body: form({ passphrase: PASSPHRASE }) })
  t.equal(login.status, 303)
  t.equal(login.headers.get('location'), '/status')
  const page = await b.fetch(`${gw.base}/status`)
  t.equal(page.status, 200, 'the owner\'s session opens the page')
  t.match(await page.text(), /data-backend="alpha"/)
  const again = await b.fetch(`${gw.base}/status/login`)
  t.equal(again.status, 303, 'a logged-in owner is sent on from the login page')
  t.ok(gw.logs.audits('login').some((e) => e.outcome === 'succeeded' && e.page === 'status'), 'the login is audited')
  t.notOk(gw.logs.lines.some((l) => l.includes(PASSPHRASE)), 'the passphrase is in no log line')
})

t.test('the status login has the rate limit of the passphrase login', async (t) => {
  const gw = await startGateway(t, { auth: { rateLimit: { loginMax: 2 } }, config: { mcpServers: {} } })
  const post = () => fetch(`${gw.base}/status/login`, { method: 'POST', body: form({ passphrase: 'guess' }), redirect: 'manual' })
  t.equal((await post()).status, 401)
  t.equal((await post()).status, 401)
  t.equal((await post()).status, 429, 'the third guess in the window is refused unheard')
  t.equal((await fetch(`${gw.base}/status/login`)).status, 200, 'the form itself is not counted as a guess')
})

t.test('owners who log in through an identity provider are told how to reach the page', async (t) => {
  const gw = await startGateway(t, {
    auth: { passphraseHash: undefined, upstream: { clientId: 'x', clientSecret: 'y', authorizationUrl: 'https://idp.example/authorize', tokenUrl: 'https://idp.example/token', userinfoUrl: 'https://idp.example/user', allowedUsers: ['*'] } },
    config: { mcpServers: {} }
  })
  const page = await fetch(`${gw.base}/status`, { redirect: 'manual' })
  t.equal(page.status, 303)
  const login = await fetch(new URL(page.headers.get('location')!, gw.base))
  t.equal(login.status, 400)
  t.match(await login.text(), /identity provider here: approve an MCP client once/)
  const post = await fetch(`${gw.base}/status/login`, { method: 'POST', body: form({ passphrase: PASSPHRASE }) })
  t.equal(post.status, 400, 'no passphrase login to post to')
})

t.test('with auth off the page is open (behind the Host check) and counts the calls per backend', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { alpha: echoFixture('alpha'), beta: echoFixture('beta') } } })
  const client = await connect(t, gw.url)
  for (let i = 0; i < 3; i++) await client.callTool({ name: 'alpha_1mcp_echo', arguments: { text: 'hi' } })
  await client.callTool({ name: 'alpha_1mcp_fail', arguments: {} }).catch(() => {})
  const page = await fetch(`${gw.base}/status`)
  t.equal(page.status, 200)
  const html = await page.text()
  const alpha = html.slice(html.indexOf('data-backend="alpha"'), html.indexOf('data-backend="beta"'))
  t.match(alpha, /4 calls, 1 failed/, 'alpha\'s calls and failures of the last minutes')
  t.match(alpha, /<polyline|<circle/, 'a latency chart with a point')
  t.match(alpha, /<rect[^>]*fill="#c14a4a"/, 'the failed call in the rate chart')
  t.match(html.slice(html.indexOf('data-backend="beta"')), /0 calls, 0 failed/)
  t.match(html, /class="sessions">1</, 'the client session')
  t.match(html, /config-valid">valid/)
  t.equal((await getWithHost(`${gw.base}/status`, 'evil.example')).status, 403)
})

t.test('the call window: slots, percentiles, bounded samples, forgetting', async (t) => {
  let now = 1_000_000
  const w = new CallWindow({ slotMs: 1000, slots: 3, samplesPerSlot: 4, now: () => now, random: () => 0 })
  for (let ms = 1; ms <= 10; ms++) w.observe('a', ms, ms === 10)
  let series = w.series('a')
  t.equal(series.length, 3, 'one point per slot, the quiet ones too')
  const last = series[2]
  t.equal(last.calls, 10)
  t.equal(last.errors, 1)
  t.equal(last.rate, 10)
  // 4 samples kept of 10 (the reservoir, with random() = 0, puts each later call in place 0): 10, 2, 3, 4
  t.equal(last.p50, 3, 'percentiles of the kept samples, not of every call')
  t.equal(last.p99, 10)
  now += 5000
  w.observe('a', 7, false)
  series = w.series('a')
  t.same(series.map((p) => p.calls), [0, 0, 1], 'slots older than the window are gone')
  t.equal(series[2].p95, 7)
  w.forget('a')
  t.same(w.backends, [])
})

t.test('at most 32 status pages stream at once, and their streams end when the gateway closes', async (t) => {
  // its own app, not startGateway's: this test closes it
  const app = await buildApp({ noAuth: true, logger: false, config: { mcpServers: {}, loadShedding: false } })
  let closed = false
  t.teardown(async () => { if (!closed) await app.close() })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const gw = { base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` }
  const open: Array<{ controller: AbortController, reader: ReadableStreamDefaultReader<Uint8Array> }> = []
  t.teardown(() => { for (const s of open) s.controller.abort() })
  for (let i = 0; i < 32; i++) {
    const controller = new AbortController()
    const res = await fetch(`${gw.base}/status/events`, { signal: controller.signal })
    t.equal(res.status, 200)
    open.push({ controller, reader: res.body!.getReader() })
  }
  const refused = await fetch(`${gw.base}/status/events`)
  t.equal(refused.status, 429, 'the 33rd is refused')
  t.match((await refused.json() as { message: string }).message, /at most 32/)
  const first = open.shift()!
  first.controller.abort()
  await waitFor(async () => {
    const controller = new AbortController()
    const res = await fetch(`${gw.base}/status/events`, { signal: controller.signal })
    if (res.status !== 200) return false
    open.push({ controller, reader: res.body!.getReader() })
    return true
  }, 'a place freed by a page that closed')
  closed = true
  await app.close()
  for (const s of open) {
    let done = false
    for (let i = 0; i < 100 && !done; i++) done = (await s.reader.read()).done
    t.ok(done, 'the stream ended with the gateway')
  }
})

t.test('the page shows replicas when the health data has them, a bad config, and escapes what it shows', async (t) => {
  const report: HealthReport = {
    status: 'degraded',
    problems: ['the config file is invalid (see config.error); the last good config is in force'],
    version: '0.1.0',
    uptimeSeconds: 5,
    auth: { enabled: true },
    sessions: 2,
    backends: [{
      name: 'x<script>',
      transport: 'stdio',
      state: 'crash-loop',
      since: '2026-12-03T00:00:00.000Z',
      tools: 3,
      toolTokens: 10,
      restarts: 11,
      tags: [],
      lastError: 'boom <img src=x onerror=alert(1)>',
      lastErrorAt: '2026-12-03T00:00:01.000Z',
      replicas: [{ id: 'r1', state: 'ready', pid: 41 }, { id: 'r2', state: 'restarting' }]
    } as unknown as HealthReport['backends'][number]],
    collisions: [],
    config: { valid: false, loadedAt: '2026-12-03T00:00:00.000Z', error: 'mcpServers.a.comand: unknown key', errorAt: '2026-12-03T00:00:02.000Z', pendingRestart: ['port', 'auth'] }
  }
  const html = statusMain({ report, pids: new Map(), series: () => new CallWindow().series('x'), windowMinutes: 5, generatedAt: new Date(0) })
  t.notMatch(html, /<script>|<img/, 'names and errors are escaped')
  t.match(html, /x&lt;script&gt;/)
  t.match(html, /<li class="replica">id <code>r1<\/code> <span class="state"[^>]*>ready<\/span> pid <code>41<\/code><\/li>/, 'each replica with its state')
  t.match(html, /<li class="replica">id <code>r2<\/code> <span class="state"[^>]*>restarting</)
  t.match(html, /config-valid">invalid<\/span>: mcpServers\.a\.comand: unknown key/)
  t.match(html, /pending-restart">changes that need a restart of the gateway: <code>port<\/code>, <code>auth<\/code>/)
  t.match(html, /class="num restarts">11</)
  t.match(html, /0 calls, 0 failed/)
})
