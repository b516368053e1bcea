import { createHash, randomBytes } from 'node:crypto'
import { connect as netConnect } from 'node:net'
import t, { type Test } from 'tap'
import Fastify from 'fastify'
import { buildApp, gateway } from '../../app.js'
import { approve, browser, LogCapture, PASSPHRASE, testPassphraseHash } from '../auth-helpers.js'
import { echoFixture, initializeRequest, postMcp, settle, tempDir } from '../helpers.js'

// Issue 16, item 4: no token, code, session id, passphrase or secret reaches any log line at any
// level. A real gateway logs at trace, standalone (buildApp) and embedded in an app with a pino logger
// of its own (none of the gateway's logger options), while the whole OAuth dance, MCP calls with a
// bearer token and a session, secrets put in URLs, a malformed raw request with an Authorization
// header, a refresh, a refresh replay and a revocation go through it. Every secret used is then looked
// for in every line.

const REDIRECT = 'http://127.0.0.1:9/callback'

const s256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url')
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`

interface Running { base: string, logs: LogCapture }

async function gatewayConfig (t: Test) {
  return {
    mcpServers: { echo: echoFixture('echo') },
    loadShedding: false as const,
    auth: { dataDir: await tempDir(t), passphraseHash: await testPassphraseHash() }
  }
}

async function standalone (t: Test): Promise<Running> {
  const logs = new LogCapture()
  const app = await buildApp({ logger: { level: 'trace', stream: logs.stream }, config: await gatewayConfig(t) })
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  await settle(app)
  return { base: `http://127.0.0.1:${(app.server.address() as { port: number }).port}`, logs }
}

/** The gateway as a plugin of someone else's app, whose logger knows nothing of the gateway's secrets. */
async function embedded (t: Test): Promise<Running> {
  const logs = new LogCapture()
  const app = Fastify({ logger: { level: 'trace', stream: logs.stream } })
  await app.register(gateway, { config: await gatewayConfig(t) })
  app.get('/host/hello', async () => ({ hello: 'world' }))
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  await settle(app)
  return { base: `http://127.0.0.1:${(app.server.address() as { port: number }).port}`, logs }
}

/** Sends raw bytes and resolves with what comes back before the gateway closes the connection. */
function rawRequest (base: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(base)
  return new Promise((resolve, reject) => {
    const socket = netConnect(Number(port), hostname)
    let answer = ''
    socket.setTimeout(10_000, () => { socket.destroy(); reject(new Error('the raw request got no answer in 10 s')) })
    socket.on('data', (chunk) => { answer += chunk.toString('latin1') })
    socket.on('error', reject)
    socket.on('close', () => resolve(answer))
    socket.write(bytes)
  })
}

/** Drives everything a client and the owner do, and returns every secret that was used. */
async function driveEverything (t: Test, base: string): Promise<Record<string, string>> {
  const secrets: Record<string, string> = { passphrase: PASSPHRASE }
  const timeout = () => AbortSignal.timeout(10_000)
  const registered = await fetch(`${base}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: 'log test', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'client_secret_basic' }),
    signal: timeout()
  })
  t.equal(registered.status, 201, 'a confidential client registers')
  const client = await registered.json() as { client_id: string, client_secret: string }
  secrets.clientSecret = client.client_secret

  const verifier = randomBytes(32).toString('base64url')
  secrets.codeVerifier = verifier
  secrets.state = `state-${randomBytes(12).toString('hex')}`
  const authorize = new URL(`${base}/authorize`)
  for (const [k, v] of Object.entries({ response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT, code_challenge: s256(verifier), code_challenge_method: 'S256', state: secrets.state, scope: 'mcp', resource: `${base}/mcp` })) authorize.searchParams.set(k, v)

  // a wrong passphrase first: what the owner mistypes is a secret too
  const owner = browser()
  const loginPage = await (await owner.fetch(authorize)).text()
  const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(loginPage)![1]
  secrets.wrongPassphrase = `not the passphrase ${randomBytes(6).toString('hex')}`
  secrets.loginCsrf = field('csrf_token')
  const wrong = await owner.fetch(`${base}/authorize/login`, { method: 'POST', body: new URLSearchParams({ request_id: field('request_id'), csrf_token: field('csrf_token'), passphrase: secrets.wrongPassphrase }) })
  t.equal(wrong.status, 401, 'a wrong passphrase is refused')

  const back = await approve(authorize, { browser: owner })
  const code = back.searchParams.get('code')!
  t.ok(code, 'the owner approves and the client gets a code')
  secrets.code = code
  for (const [name, value] of owner.cookies) secrets[`cookie ${name}`] = value

  const exchange = () => fetch(`${base}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client.client_id, client.client_secret) },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT, resource: `${base}/mcp` }),
    signal: timeout()
  })
  const issued = await exchange()
  t.equal(issued.status, 200, 'the code is exchanged')
  const tokens = await issued.json() as { access_token: string, refresh_token: string }
  secrets.accessToken = tokens.access_token
  secrets.refreshToken = tokens.refresh_token

  // MCP with the bearer token and a session
  const token = tokens.access_token
  const init = await postMcp(`${base}/mcp`, { token, body: initializeRequest('2025-11-25', 'log test'), signal: timeout() })
  t.equal(init.status, 200, 'a session starts with the token')
  const session = init.headers.get('mcp-session-id')!
  secrets.sessionId = session
  const call = await postMcp(`${base}/mcp`, { token, session, body: { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo_1mcp_echo', arguments: { text: 'hi' } } }, signal: timeout() })
  t.equal(call.status, 200, 'a tool call in the session')
  const failing = await postMcp(`${base}/mcp`, { token, session, body: { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'no_such_tool', arguments: {} } }, signal: timeout() })
  t.equal(failing.status, 200, 'a failing call (logged at warn)')
  const forged = `eyJhbGciOiJFUzI1NiJ9.${randomBytes(40).toString('base64url')}.${randomBytes(40).toString('base64url')}`
  secrets.forgedToken = forged
  t.equal((await postMcp(`${base}/mcp`, { token: forged, body: '{}', signal: timeout() })).status, 401, 'a forged token is refused')

  // secrets where they must not be: in URLs
  t.equal((await postMcp(`${base}/mcp?access_token=${tokens.access_token}`, { body: '{}', signal: timeout() })).status, 401, 'a token in the query is not a bearer token')
  await fetch(`${base}/token?code=${code}&client_secret=${client.client_secret}&refresh_token=${tokens.refresh_token}`, { method: 'POST', signal: timeout() })
  await fetch(`${base}/authorize?code=${code}&state=${secrets.state}`, { signal: timeout() })
  await fetch(`${base}/.well-known/oauth-protected-resource/mcp?access_token=${tokens.access_token}`, { signal: timeout() })
  await fetch(`${base}/health?token=${tokens.access_token}`, { signal: timeout() })
  await fetch(`${base}/oauth/callback?code=${code}&state=${secrets.state}`, { signal: timeout() })
  await fetch(`${base}/sse?access_token=${tokens.access_token}`, { headers: { accept: 'text/event-stream' }, signal: timeout() })
  await fetch(`${base}/messages?sessionId=${session}&access_token=${tokens.access_token}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', signal: timeout() })

  // a malformed request: Node's parser refuses it and the raw bytes (Authorization header included) reach Fastify's clientError
  const raw = await rawRequest(base, `POST /mcp?access_token=${tokens.access_token} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${tokens.access_token}\r\nMcp-Session-Id: ${session}\r\nCookie: 1mcp-owner=${secrets['cookie 1mcp-owner'] ?? ''}\r\nThis is not a header\r\n\r\n`)
  t.match(raw, /^HTTP\/1\.1 400/, 'the malformed request gets a 400')

  // refresh, a replay of the old refresh token (the family is revoked), and a revocation
  const refresh = (refreshToken: string) => fetch(`${base}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: client.client_id, client_secret: client.client_secret }),
    signal: timeout()
  })
  const refreshed = await refresh(tokens.refresh_token)
  t.equal(refreshed.status, 200, 'the refresh token is exchanged')
  const next = await refreshed.json() as { access_token: string, refresh_token: string }
  secrets.refreshedAccessToken = next.access_token
  secrets.refreshedRefreshToken = next.refresh_token
  t.equal((await refresh(tokens.refresh_token)).status, 400, 'the old refresh token replayed is refused')
  t.equal((await exchange()).status, 400, 'a replayed code is refused (and logged as such)')
  const revoked = await fetch(`${base}/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client.client_id, client.client_secret) },
    body: new URLSearchParams({ token: next.refresh_token }),
    signal: timeout()
  })
  t.equal(revoked.status, 200, 'the refresh token is revoked')
  const badSecret = `wrong-${randomBytes(8).toString('hex')}`
  secrets.wrongClientSecret = badSecret
  t.equal((await fetch(`${base}/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client.client_id, badSecret) }, body: new URLSearchParams({ token: next.access_token }), signal: timeout() })).status, 401, 'a wrong client secret is refused')
  return secrets
}

function assertNoSecrets (t: Test, logs: LogCapture, secrets: Record<string, string>): void {
  t.ok(logs.lines.length > 50, `the gateway logged (${logs.lines.length} lines)`)
  t.ok(logs.entries.some((e) => e.level === 10), 'trace lines were written')
  t.ok(logs.lines.some((l) => /client error/i.test(l)), 'the malformed request was logged')
  t.ok(logs.lines.some((l) => l.includes('access_token=[redacted]')), 'a URL with a token was logged, redacted')
  for (const [name, secret] of Object.entries(secrets)) {
    t.ok(secret.length >= 8, `${name} is long enough to look for`)
    const hits = logs.lines.filter((l) => l.includes(secret))
    t.same(hits, [], `no log line carries the ${name}`)
    // the bytes of a raw packet would be logged as numbers (a Buffer's JSON): look for them too
    const asBytes = JSON.stringify([...Buffer.from(secret)]).slice(1, -1)
    t.same(logs.lines.filter((l) => l.includes(asBytes)), [], `no log line carries the ${name} as bytes`)
  }
}

t.test('standalone at trace: no secret in any log line', async (t) => {
  const gw = await standalone(t)
  const secrets = await driveEverything(t, gw.base)
  await new Promise((resolve) => setImmediate(resolve))
  assertNoSecrets(t, gw.logs, secrets)
})

t.test('embedded in an app with its own logger, at trace: no secret in any log line', async (t) => {
  const gw = await embedded(t)
  const secrets = await driveEverything(t, gw.base)
  const host = await fetch(`${gw.base}/host/hello?access_token=host-route-token-value`, { signal: AbortSignal.timeout(10_000) })
  t.equal(host.status, 200, 'the host app\'s own route still serves')
  await new Promise((resolve) => setImmediate(resolve))
  assertNoSecrets(t, gw.logs, secrets)
})
