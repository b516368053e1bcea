import { randomInt } from 'node:crypto'
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { browser } from '../auth-helpers.js'
import { tokenFor } from '../oauth-client.js'
import { type AuthGateway, initializeRequest, postMcp, startGateway } from '../helpers.js'

// Issue 16, item 7: what the rate limits count. The MCP limit is one budget per token subject and
// client (every client the owner approves has the subject `owner`); the login limit counts the
// client's real address, which `trustProxy: true` hands to whoever writes X-Forwarded-For.

const INITIALIZE = initializeRequest('2025-11-25', 'burst')

t.test('two clients the owner approved (both subject owner) have separate MCP budgets', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: {}, rateLimit: { max: 5, timeWindowMs: 60_000 } } })
  const owner = browser()
  const a = await tokenFor(gw.base, 'client A', { owner })
  const b = await tokenFor(gw.base, 'client B', { owner })
  t.not(a.clientId, b.clientId)
  const call = (token: string) => postMcp(gw.url, { token, body: INITIALIZE, signal: AbortSignal.timeout(10_000) })
  const statuses: number[] = []
  for (let i = 0; i < 6; i++) statuses.push((await call(a.accessToken)).status)
  t.same(statuses, [200, 200, 200, 200, 200, 429], 'client A spends its budget of 5 and is limited')
  t.equal((await call(b.accessToken)).status, 200, 'client B, same subject, still has its own budget')
  t.equal((await call(a.accessToken)).status, 429, 'client A stays limited')
})

/** A pending authorization's login form: what a wrong login posts to. */
async function loginForm (gw: AuthGateway): Promise<{ request_id: string, csrf_token: string }> {
  const registered = await fetch(`${gw.base}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: ['http://127.0.0.1:9/cb'], token_endpoint_auth_method: 'none' }) })
  const { client_id: clientId } = await registered.json() as { client_id: string }
  const query = new URLSearchParams({ client_id: clientId, response_type: 'code', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', state: 's' })
  const html = await (await fetch(`${gw.base}/authorize?${query}`)).text()
  const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)![1]
  return { request_id: field('request_id'), csrf_token: field('csrf_token') }
}

/** A POST over node:http, from a chosen local (loopback) address. */
function post (url: string, body: string, headers: Record<string, string>, localAddress = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(body) }, localAddress, timeout: 10_000 }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('timeout', () => req.destroy(new Error('no answer in 10 s')))
    req.on('error', reject)
    req.end(body)
  })
}

const randomAddress = () => `${randomInt(1, 223)}.${randomInt(0, 256)}.${randomInt(0, 256)}.${randomInt(1, 255)}`

/** 25 wrong logins, each claiming another X-Forwarded-For: their statuses and the addresses the audit log recorded. */
async function wrongLogins (gw: AuthGateway, url: string, localAddress?: string): Promise<{ statuses: number[], audited: unknown[], claimed: string[] }> {
  const form = await loginForm(gw)
  const statuses: number[] = []
  const claimed: string[] = []
  const before = gw.logs.audits('login').length
  for (let i = 0; i < 25; i++) {
    const address = randomAddress()
    claimed.push(address)
    const body = new URLSearchParams({ ...form, passphrase: `wrong ${i}` }).toString()
    statuses.push(await post(url, body, { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': address }, localAddress))
  }
  return { statuses, audited: gw.logs.audits('login').slice(before).map((e) => e.ip), claimed }
}

t.test('trustProxy: true (the advice the issue found) lets any client choose its address', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: {}, trustProxy: true } })
  const { statuses, audited, claimed } = await wrongLogins(gw, `${gw.base}/authorize/login`)
  t.notOk(statuses.includes(429), 'no login limit: each wrong login comes from "another" address')
  t.equal(audited.length, 25)
  t.same(audited, claimed, 'the audit log records the addresses the client made up')
})

t.test('trustProxy set to addresses that do not include the client: X-Forwarded-For is ignored', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: {}, trustProxy: '10.20.30.40' } })
  const { statuses, audited } = await wrongLogins(gw, `${gw.base}/authorize/login`)
  t.same(statuses.slice(0, 10), Array(10).fill(401), 'ten wrong logins are answered')
  t.same(statuses.slice(10), Array(15).fill(429), 'then the login limit (10 per minute) holds')
  t.ok(audited.length >= 10)
  t.same([...new Set(audited)], ['127.0.0.1'], 'the audit log records the real address')
})

/** A reverse proxy as the safe nginx setting makes one: X-Forwarded-For overwritten with the peer's address. */
async function overwritingProxy (t: Test, target: string): Promise<string> {
  const upstream = new URL(target)
  const proxy = createServer((req, res) => {
    const headers: IncomingHttpHeaders = { ...req.headers, 'x-forwarded-for': req.socket.remoteAddress }
    const forward = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    forward.on('error', () => { res.writeHead(502).end() })
    req.pipe(forward)
  })
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { proxy.closeAllConnections(); proxy.close(() => resolve()) }))
  return `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`
}

t.test('the safe setting: trustProxy is the proxy\'s address, and the proxy overwrites X-Forwarded-For', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: {}, trustProxy: '127.0.0.1' } })
  const proxy = await overwritingProxy(t, gw.base)
  // the client is 127.0.0.7 (another loopback address), seen by the proxy, which the gateway trusts
  const { statuses, audited } = await wrongLogins(gw, `${proxy}/authorize/login`, '127.0.0.7')
  t.same(statuses.slice(0, 10), Array(10).fill(401), 'ten wrong logins are answered')
  t.same(statuses.slice(10), Array(15).fill(429), 'then the login limit holds, whatever the client claims')
  t.same([...new Set(audited)], ['127.0.0.7'], 'the audit log records the client\'s real address, as the proxy saw it')
})
