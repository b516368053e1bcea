import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { LogCapture } from '../auth-helpers.js'
import { connect, startGateway, tempDir, waitFor } from '../helpers.js'
import { startRemote } from '../process-helpers.js'
import { UpstreamTokenStore } from '../../backends/upstream-auth/token-store.js'

// The gateway as the OAuth client of an MCP server built with the MCP SDK's auth middleware
// (test/fixtures/sdk-oauth-server.mjs: requireBearerAuth, mcpAuthRouter over an in-memory provider):
// the owner's login completed over HTTP as a browser would, refresh, revocation upstream, and a
// second server reached with the client credentials grant, no login.

const FIXTURE = fileURLToPath(new URL('../fixtures/sdk-oauth-server.mjs', import.meta.url))
const TTL_SECONDS = 4
const MACHINE_ID = 'gateway-machine'
const MACHINE_SECRET = 'machine-secret-0f3a9c'

interface HealthBackend { name: string, state: string, lastError?: string }
interface Seen { clientId: string, token: string, method: string }

async function backend (base: string, name: string): Promise<HealthBackend | undefined> {
  const res = await fetch(`${base}/health`)
  return ((await res.json()) as { backends: HealthBackend[] }).backends.find((b) => b.name === name)
}

async function text (client: Client, name: string): Promise<string> {
  const result = await client.callTool({ name, arguments: {} })
  if (result.isError) throw new Error(JSON.stringify(result.content))
  return (result.content as Array<{ text: string }>)[0].text
}

t.test('an SDK-built OAuth server: login by the owner, refresh, revocation; client credentials without login', async (t) => {
  const { port } = await startRemote(t, 0, FIXTURE, { ACCESS_TTL_SECONDS: String(TTL_SECONDS), CC_CLIENT_ID: MACHINE_ID, CC_CLIENT_SECRET: MACHINE_SECRET })
  const upstream = `http://127.0.0.1:${port}`
  const mcp = `${upstream}/mcp`
  const admin = async <T>(path: string, method = 'GET'): Promise<T> => await (await fetch(`${upstream}/admin/${path}`, { method })).json() as T
  const seenBy = async (clientId: string) => (await admin<Seen[]>('seen')).filter((s) => s.clientId === clientId).map((s) => s.token)

  const dataDir = await tempDir(t, '1mcp-sdk-oauth-')
  const logs = new LogCapture()
  const gw = await startGateway(t, {
    logger: { level: 'debug', stream: logs.stream },
    config: {
      auth: { dataDir },
      mcpServers: {
        login: { url: mcp, pingInterval: 0 },
        machine: { url: mcp, pingInterval: 0, oauth: { clientCredentials: true, clientId: MACHINE_ID, clientSecret: MACHINE_SECRET, issuer: upstream, scopes: ['mcp:tools'] } },
        refused: { url: mcp, pingInterval: 0, oauth: { clientCredentials: true, clientId: MACHINE_ID, clientSecret: 'not-the-secret' } },
        unfinished: { url: mcp, pingInterval: 0, oauth: { clientCredentials: true, clientId: MACHINE_ID } },
        elsewhere: { url: mcp, pingInterval: 0, oauth: { clientCredentials: true, clientId: MACHINE_ID, clientSecret: MACHINE_SECRET, issuer: 'https://auth.other.example' } }
      }
    } as never
  })

  // 1. at once: the client credentials server serves without a login, the other needs one, a
  // refused grant is an error retried (never needs-auth)
  await waitFor(async () => (await backend(gw.base, 'machine'))?.state === 'ready', 'the client credentials server is ready without a login')
  t.equal((await backend(gw.base, 'login'))?.state, 'needs-auth', 'the server without credentials needs a login')
  const refused = (await waitFor(async () => { const b = await backend(gw.base, 'refused'); return b?.lastError ? b : undefined }, 'the refused grant shows'))!
  t.not(refused.state, 'needs-auth', 'a refused client credentials grant does not wait for a login')
  t.match(refused.lastError, /refused the client credentials grant: invalid_client/, 'its lastError says the authorization server refused the grant')
  t.equal((await fetch(`${gw.base}/oauth/login/machine`, { method: 'POST' })).status, 400, 'no login to start for a client credentials server')
  const unfinished = (await waitFor(async () => { const b = await backend(gw.base, 'unfinished'); return b?.lastError ? b : undefined }, 'the missing secret shows'))!
  t.match(unfinished.lastError, /oauth\.clientCredentials needs oauth\.clientId and oauth\.clientSecret/, 'a client credentials server without its secret says so')
  const elsewhere = (await waitFor(async () => { const b = await backend(gw.base, 'elsewhere'); return b?.lastError ? b : undefined }, 'the issuer mismatch shows'))!
  t.match(elsewhere.lastError, /bound to "https:\/\/auth\.other\.example".*refusing to present them/, 'the secret is not sent to an authorization server other than oauth.issuer')

  const client = await connect(t, gw.url)
  t.equal(await text(client, 'machine_1mcp_whoami'), MACHINE_ID, 'a call reaches the server as the machine client')
  const machineFirst = await seenBy(MACHINE_ID)
  t.ok(machineFirst.length > 0, 'the fixture saw the machine client\'s token in the Authorization header')
  t.ok((await admin<Record<string, number>>('grants')).client_credentials >= 1, 'obtained with the client credentials grant')

  // 2. the owner's login, over HTTP as a browser would: the gateway's authorization URL, the
  // fixture's consent form, its redirect to the gateway's callback
  const start = await fetch(`${gw.base}/oauth/login/login`, { method: 'POST' })
  t.equal(start.status, 200, 'the login starts')
  const asked = new URL((await start.json() as { authorizationUrl: string }).authorizationUrl)
  t.equal(asked.origin, upstream, 'at the authorization server found by discovery')
  t.equal(asked.searchParams.get('code_challenge_method'), 'S256', 'PKCE S256')
  t.equal(asked.searchParams.get('resource'), mcp, 'RFC 8707 resource: the MCP endpoint')
  const consent = await fetch(asked)
  t.equal(consent.status, 200, 'the consent form')
  const requestId = /name="request" value="([^"]+)"/.exec(await consent.text())![1]
  const approved = await fetch(`${upstream}/consent`, { method: 'POST', body: new URLSearchParams({ request: requestId, decision: 'approve' }), redirect: 'manual' })
  t.equal(approved.status, 302, 'the fixture sends the browser back')
  const callback = new URL(approved.headers.get('location')!)
  t.equal(callback.origin + callback.pathname, `${gw.base}/oauth/callback/login`, 'to the gateway\'s callback')
  t.equal((await fetch(callback)).status, 200, 'which completes the login')
  await waitFor(async () => (await backend(gw.base, 'login'))?.state === 'ready', 'the server connects once logged in')
  await waitFor(async () => (await client.listTools()).tools.some((tool) => tool.name === 'login_1mcp_whoami'), 'its tools appear')
  const loginClient = await text(client, 'login_1mcp_whoami')
  t.not(loginClient, MACHINE_ID, 'calls go out as the registered login client, not the machine client')
  t.ok((await seenBy(loginClient)).length > 0, 'the fixture saw the login\'s token in the Authorization header')
  const loginFirst = (await UpstreamTokenStore.open(dataDir)).get('login').tokens!

  // 3. refresh: the tokens live 4 s, the gateway refreshes at half their life
  await waitFor(async () => (await admin<Record<string, number>>('grants')).refresh_token >= 1, 'the login is refreshed before its token expires', 8_000)
  t.equal(await text(client, 'login_1mcp_whoami'), loginClient, 'calls go on after the refresh')
  const afterRefresh = await seenBy(loginClient)
  t.not(afterRefresh.at(-1), loginFirst.access_token, 'with the refreshed token')

  // 4. the client credentials token is fetched again once it expires, and again on a 401
  await sleep(TTL_SECONDS * 1000 + 200)
  t.equal(await text(client, 'machine_1mcp_whoami'), MACHINE_ID, 'a call after the token\'s expiry succeeds')
  const machineLater = await seenBy(MACHINE_ID)
  t.notOk(machineFirst.includes(machineLater.at(-1)!), 'with a new token')
  t.ok((await admin<Record<string, number>>('grants')).client_credentials >= 2, 'from a new client credentials grant')
  const before401 = (await admin<Record<string, number>>('grants')).client_credentials
  t.ok((await admin<{ revoked: number }>(`revoke?client_id=${MACHINE_ID}`, 'POST')).revoked >= 1, 'the fixture revokes the machine token')
  t.equal(await text(client, 'machine_1mcp_whoami'), MACHINE_ID, 'the call after the revocation still succeeds')
  t.equal((await admin<Record<string, number>>('grants')).client_credentials, before401 + 1, 'the 401 got a new token, once')

  // 5. the upstream revokes the login's grant: the next call is refused, the refresh fails with
  // invalid_grant, and the server is back to needs-auth; the machine server serves on
  t.ok((await admin<{ revoked: number }>(`revoke?client_id=${encodeURIComponent(loginClient)}`, 'POST')).revoked >= 1, 'the fixture revokes the login')
  const refusedAt = Date.now()
  const refusedCall = await client.callTool({ name: 'login_1mcp_whoami', arguments: {} }).catch((err: Error) => ({ isError: true, content: [{ type: 'text', text: err.message }] }))
  t.ok(refusedCall.isError, 'the call after the revocation fails')
  t.match(JSON.stringify(refusedCall.content), /auth login login/, 'and says the server needs a login')
  t.ok(Date.now() - refusedAt < 5000, 'at once, not after the request timeout')
  await waitFor(async () => (await backend(gw.base, 'login'))?.state === 'needs-auth', 'the server is back to needs-auth')
  t.equal((await UpstreamTokenStore.open(dataDir)).get('login').tokens, undefined, 'the refused tokens are forgotten')
  t.equal(await text(client, 'machine_1mcp_whoami'), MACHINE_ID, 'the client credentials server serves on')
  t.equal((await backend(gw.base, 'machine'))?.state, 'ready', 'and stays ready')

  // no token, nor the client secret, in any log line of the gateway
  const secrets = new Set([...(await admin<Seen[]>('seen')).map((s) => s.token), loginFirst.access_token, loginFirst.refresh_token!, MACHINE_SECRET])
  t.ok(secrets.size >= 6, 'tokens of both clients collected')
  const leaked = [...secrets].filter((secret) => logs.lines.some((line) => line.includes(secret)))
  t.same(leaked, [], 'no log line carries a token or the client secret')
})
