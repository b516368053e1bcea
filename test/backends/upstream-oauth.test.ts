import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { approve, browser, LogCapture } from '../auth-helpers.js'
import { connect, echoFixture, startGateway, tempDir, waitFor } from '../helpers.js'
import { run } from '../../cli/index.js'
import { UpstreamTokenStore, KEY_FILE, TOKENS_FILE } from '../../backends/upstream-auth/token-store.js'

// The gateway as the OAuth client of a remote MCP server that needs a login: the backend is a
// second gateway with auth on (a real OAuth-protected MCP server with its own authorization
// server), the owner's approval is given over HTTP as a browser would.

interface HealthBackend { name: string, state: string, lastError?: string }

async function health (base: string): Promise<HealthBackend[]> {
  const res = await fetch(`${base}/health`)
  return ((await res.json()) as { backends: HealthBackend[] }).backends
}

async function stateOf (base: string, name: string): Promise<string | undefined> {
  return (await health(base)).find((b) => b.name === name)?.state
}

async function storedTokens (dataDir: string): Promise<{ access?: string, refresh?: string, clientId?: string }> {
  const record = (await UpstreamTokenStore.open(dataDir)).get('up')
  return { access: record.tokens?.access_token, refresh: record.tokens?.refresh_token, clientId: record.client?.client_id }
}

t.test('a remote server that needs a login: needs-auth, login, refresh, revocation', async (t) => {
  const upstream = await startGateway(t, { auth: { accessTokenTtlSeconds: 30 }, config: { mcpServers: { echo: echoFixture('upstream-echo') } } })
  const dataDir = await tempDir(t, '1mcp-upstream-')
  const logs = new LogCapture()
  const gw = await startGateway(t, {
    logger: { level: 'debug', stream: logs.stream },
    config: { auth: { dataDir }, mcpServers: { up: { url: upstream.url.href, pingInterval: 0 }, local: echoFixture('local') } } as never
  })

  // 1. before any login: needs-auth, its tools absent, the rest serving
  t.equal(await stateOf(gw.base, 'up'), 'needs-auth', 'the server that answered 401 with resource metadata needs a login')
  t.equal(await stateOf(gw.base, 'local'), 'ready', 'the other server serves')
  const client = await connect(t, gw.url)
  let names = (await client.listTools()).tools.map((tool) => tool.name)
  t.ok(names.some((n) => n.includes('local')), 'the local tools are listed')
  t.notOk(names.some((n) => n.startsWith('up')), 'the tools of the server that needs a login are not')
  const metrics = await (await fetch(`${gw.base}/metrics`)).text()
  t.match(metrics, /onemcp_backend_state\{backend="up",state="needs-auth"\} 1/, '/metrics shows needs-auth')

  // bad asks: a clear 4xx, never a 5xx
  t.equal((await fetch(`${gw.base}/oauth/login/nope`, { method: 'POST' })).status, 404, 'an unknown server: 404')
  t.equal((await fetch(`${gw.base}/oauth/login/local`, { method: 'POST' })).status, 400, 'a stdio server: 400')
  t.equal((await fetch(`${gw.base}/oauth/callback/nope?code=x&state=y`)).status, 404, 'a callback for no login under way: 404')
  t.equal((await gw.app.inject({ method: 'POST', url: '/oauth/login/up', headers: { host: 'evil.example' } })).statusCode, 403, 'another Host: refused (DNS rebinding)')

  // the owner denies at the upstream: the callback says so, the server still needs a login
  const deniedStart = await (await fetch(`${gw.base}/oauth/login/up`, { method: 'POST' })).json() as { authorizationUrl: string }
  const denied = await fetch(await approve(deniedStart.authorizationUrl, { decision: 'deny' }))
  t.equal(denied.status, 400, 'a denied login: the callback answers 400')
  t.match(await denied.text(), /refused: access_denied/, 'and says the authorization server refused')
  t.equal(await stateOf(gw.base, 'up'), 'needs-auth', 'the server still needs a login')

  // 2. the owner logs in: the gateway gives the upstream authorization URL, the browser approves
  // (through `1mcp auth login up`, in process, the browser left closed)
  let printed = ''
  const code = await run(['auth', 'login', 'up', '--url', gw.base, '--no-wait'], { out: (text) => { printed += text }, err: (text) => { printed += text }, env: { ONEMCP_BROWSER: 'none' }, cwd: process.cwd() })
  t.equal(code, 0, '`1mcp auth login up` starts the login')
  const asked = new URL(/^ {2}(http\S+)$/m.exec(printed)![1])
  const redirectUri = asked.searchParams.get('redirect_uri')
  t.equal(asked.origin, upstream.base, 'the authorization URL is the upstream authorization server\'s (found by discovery)')
  t.equal(asked.searchParams.get('code_challenge_method'), 'S256', 'PKCE S256')
  t.equal(asked.searchParams.get('resource'), upstream.url.href, 'RFC 8707 resource: the upstream MCP endpoint')
  t.equal(redirectUri, `${gw.base}/oauth/callback/up`, 'the callback is the gateway\'s own')
  const back = await approve(asked, { browser: browser() })
  t.equal(back.origin + back.pathname, redirectUri, 'the upstream sends the browser back to the gateway')
  const forged = await fetch(`${redirectUri}?code=x&state=not-the-state`)
  t.equal(forged.status, 400, 'a callback whose state is not the login begun is refused')
  const callback = await fetch(back)
  t.equal(callback.status, 200, 'the callback completes the login')
  t.match(await callback.text(), /logged in to &#39;up&#39;/, 'the page says so')

  await waitFor(async () => (await stateOf(gw.base, 'up')) === 'ready', 'the server connects once logged in')
  await waitFor(async () => (await client.listTools()).tools.some((tool) => tool.name.startsWith('up')), 'its tools appear')
  names = (await client.listTools()).tools.map((tool) => tool.name)
  const echoName = names.find((n) => n.startsWith('up') && n.endsWith('echo'))!
  const answer = await client.callTool({ name: echoName, arguments: { text: 'through the login' } })
  t.notOk(answer.isError, 'a call reaches the upstream server with the gateway\'s token')

  // the tokens at rest: encrypted, key mode 0600, never in a log line
  const first = await storedTokens(dataDir)
  t.ok(first.access && first.refresh, 'an access and a refresh token are stored')
  const sealed = await readFile(join(dataDir, TOKENS_FILE), 'utf8')
  t.notOk(sealed.includes(first.access!) || sealed.includes(first.refresh!), 'the token file does not hold the tokens in the clear')
  t.equal((await stat(join(dataDir, KEY_FILE))).mode & 0o777, 0o600, 'the key file is mode 0600')
  t.equal((await stat(join(dataDir, TOKENS_FILE))).mode & 0o777, 0o600, 'the token file is mode 0600')

  // 3. refresh ahead of expiry (the upstream's tokens live 30 s: refreshed at half their life)
  await waitFor(async () => (await storedTokens(dataDir)).access !== first.access, 'the access token is refreshed before it expires', 25_000)
  const again = await client.callTool({ name: echoName, arguments: { text: 'after the refresh' } })
  t.notOk(again.isError, 'calls go on with the refreshed token')

  // 4. the upstream owner revokes the grant: the next call is refused, the refresh fails with
  // invalid_grant, and the server is back to needs-auth
  const now = await storedTokens(dataDir)
  const revoked = await fetch(`${upstream.base}/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: now.refresh!, client_id: now.clientId! }) })
  t.equal(revoked.status, 200, 'the upstream revokes the grant')
  const refused = await client.callTool({ name: echoName, arguments: { text: 'after the revocation' } }).catch((err: Error) => ({ isError: true, content: [{ type: 'text', text: err.message }] }))
  t.ok(refused.isError, 'the call after the revocation fails')
  await waitFor(async () => (await stateOf(gw.base, 'up')) === 'needs-auth', 'the server is back to needs-auth')
  t.equal((await storedTokens(dataDir)).access, undefined, 'the refused tokens are forgotten')
  const later = await client.callTool({ name: echoName, arguments: { text: 'x' } }).catch((err: Error) => ({ isError: true, content: [{ type: 'text', text: err.message }] }))
  t.match(JSON.stringify(later), /auth login up|unknown tool|not found/i, 'a call to it now says it needs a login (or that it is gone)')

  for (const secret of [first.access!, first.refresh!, now.access!, now.refresh!]) {
    t.notOk(logs.lines.some((line) => line.includes(secret)), 'no log line carries an upstream token')
  }
})
