import { createHash } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { ElicitationCompleteNotificationSchema, ElicitRequestSchema, LoggingMessageNotificationSchema, McpError } from '@modelcontextprotocol/sdk/types.js'
import { approve, browser, type Browser } from '../auth-helpers.js'
import { postStateless, startGateway, STATELESS_VERSION, tempDir, waitFor } from '../helpers.js'
import { tokenFor } from '../oauth-client.js'
import { UpstreamTokenStore } from '../../backends/upstream-auth/token-store.js'
import { userRecordKey } from '../../backends/upstream-auth/per-user.js'

// Per-user upstream credentials: the backend is an OAuth-protected MCP server (a plugin route of a
// second gateway with auth on) whose tools say which token they were called with. Each user of the
// gateway authorizes it for themselves (URL elicitation, the upstream approval given over HTTP as a
// browser would), and each user's calls carry their own upstream token alone.

const WHOAMI_PLUGIN = fileURLToPath(new URL('../fixtures/whoami-plugin.mjs', import.meta.url))
const WHOAMI = 'up_1mcp_whoami'
const ECHO = 'up_1mcp_echo'

interface Seen { subject: string, clientId: string, token: string }
interface UrlElicitation { mode: string, url: string, elicitationId: string, message: string }

/** What the backend says it saw, from a tool result whose text ends with its JSON. */
function seenIn (result: unknown): Seen {
  const text = ((result as { content: Array<{ text: string }> }).content[0]).text
  return JSON.parse(text.slice(text.indexOf('{'))) as Seen
}

const fingerprint = (accessToken: string | undefined) => createHash('sha256').update(`Bearer ${accessToken}`).digest('hex').slice(0, 16)

/** The gateway user a token of the gateway's own authorization server is: its subject and client. */
function userOf (accessToken: string): string {
  const claims = JSON.parse(Buffer.from(accessToken.split('.')[1], 'base64url').toString('utf8')) as { sub: string, client_id: string }
  return `${claims.sub}\n${claims.client_id}`
}

/** A user's upstream tokens as the gateway keeps them (encrypted) in its data folder. */
async function upstreamTokens (dataDir: string, user: string): Promise<{ access?: string, refresh?: string }> {
  const record = (await UpstreamTokenStore.open(dataDir)).get(userRecordKey('up', user))
  return { access: record.tokens?.access_token, refresh: record.tokens?.refresh_token }
}

/**
 * The user's browser (logged in to the gateway as the user, from approving their MCP client): opens
 * the gateway's link, approves at the upstream authorization server, comes back to the gateway's callback.
 */
async function authorizeInBrowser (b: Browser, link: string): Promise<Response> {
  const start = await b.fetch(link)
  if (start.status !== 302) throw new Error(`the gateway's authorization link answered ${start.status}`)
  const back = await approve(start.headers.get('location')!, { browser: b })
  return await b.fetch(back)
}

interface UserClient { client: Client, asked: UrlElicitation[], completed: string[], callbacks: Array<Promise<Response>>, logs: string[] }

/**
 * An SDK client of the gateway with a user's token, named `name`; with `urlElicitation`, it opens each
 * link it is given in a browser and accepts, and answers a form elicitation with its name.
 */
async function userClient (t: Test, url: URL, { accessToken, owner }: { accessToken: string, owner: Browser }, name: string, urlElicitation = true, answer: 'accept' | 'decline' = 'accept'): Promise<UserClient> {
  const client = new Client({ name, version: '1.0.0' }, { capabilities: urlElicitation ? { elicitation: { form: {}, url: {} } } : {} })
  const user: UserClient = { client, asked: [], completed: [], callbacks: [], logs: [] }
  if (urlElicitation) {
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      if (request.params.mode !== 'url') return { action: 'accept', content: { name } }
      const params = request.params as unknown as UrlElicitation
      user.asked.push(params)
      if (answer === 'decline') return { action: 'decline' }
      user.callbacks.push(authorizeInBrowser(owner, params.url))
      return { action: 'accept' }
    })
    client.setNotificationHandler(ElicitationCompleteNotificationSchema, (n) => { user.completed.push(n.params.elicitationId) })
  }
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => { user.logs.push(String(n.params.data)) })
  const transport = new StreamableHTTPClientTransport(url, { requestInit: { headers: { authorization: `Bearer ${accessToken}` } } })
  await client.connect(transport)
  t.teardown(async () => { await transport.terminateSession().catch(() => {}); await client.close() })
  return user
}

async function stateOf (base: string, name: string): Promise<string | undefined> {
  const { backends } = await (await fetch(`${base}/health`)).json() as { backends: Array<{ name: string, state: string }> }
  return backends.find((b) => b.name === name)?.state
}

t.test('per-user credentials: each user authorizes for themselves, and their calls carry their own upstream token', async (t) => {
  const upstream = await startGateway(t, { auth: true, config: { mcpServers: {}, plugins: [WHOAMI_PLUGIN] } as never })
  const gw = await startGateway(t, { auth: true, config: { mcpServers: { up: { url: `${upstream.base}/whoami/mcp`, credentials: 'per-user', pingInterval: 0 } } } as never })
  // each user's MCP client is approved in that user's browser, which stays logged in to the gateway
  const [tokenA, tokenB, tokenC, tokenD, tokenE] = await Promise.all(['client-a', 'client-b', 'client-c', 'client-d', 'client-e'].map(async (name) => {
    const owner = browser()
    return { ...await tokenFor(gw.base, name, { owner }), owner }
  }))
  const [userA, userB, userC, userD] = [tokenA, tokenB, tokenC, tokenD].map((tokens) => userOf(tokens.accessToken))
  t.not(userA, userB, 'two gateway users (same subject, different clients)')

  // the owner's login does not apply to a per-user server
  const ownerLogin = await fetch(`${gw.base}/oauth/login/up`, { method: 'POST', headers: { authorization: `Bearer ${tokenA.accessToken}` } })
  t.equal(ownerLogin.status, 400, 'no owner login for a per-user server')
  t.match(await ownerLogin.json(), { error: 'per_user' })

  // 1. two users at once, neither authorized: each is asked by URL elicitation, approves their own
  // grant in their browser, and their call completes
  const a = await userClient(t, gw.url, tokenA, 'a')
  const b = await userClient(t, gw.url, tokenB, 'b')
  t.equal(await stateOf(gw.base, 'up'), 'needs-auth', 'before any user has authorized, its listing connection waits')
  t.notOk((await a.client.listTools()).tools.some((tool) => tool.name.startsWith('up_')), 'and nothing of it is listed')
  const [firstA, firstB] = await Promise.all([a.client.callTool({ name: WHOAMI }), b.client.callTool({ name: WHOAMI })])
  for (const [name, user] of [['A', a], ['B', b]] as const) {
    t.equal(user.asked.length, 1, `user ${name} is asked once`)
    const asked = user.asked[0]
    t.equal(asked.mode, 'url', 'a URL-mode elicitation')
    t.ok(asked.elicitationId, 'with an elicitationId')
    t.match(asked.url, new RegExp(`^${gw.base}/oauth/grant/up\\?token=[A-Za-z0-9_-]{43}$`), 'the URL of a gateway page, with an unguessable ticket')
    t.equal((await user.callbacks[0]).status, 200, `user ${name}'s upstream authorization completes at the gateway's callback`)
    t.same(user.completed, [asked.elicitationId], 'the gateway said the elicitation completed')
  }
  t.not(a.asked[0].url, b.asked[0].url, 'each user has a link of their own')
  t.equal((await tokenA.owner.fetch(a.asked[0].url)).status, 404, 'a link is single use')

  const seenA = seenIn(firstA)
  const seenB = seenIn(firstB)
  const storedA = await upstreamTokens(gw.dataDir, userA)
  const storedB = await upstreamTokens(gw.dataDir, userB)
  t.ok(storedA.access && storedB.access, 'each user has upstream tokens of their own, stored')
  t.equal(seenA.token, fingerprint(storedA.access), 'user A\'s call reached the backend with user A\'s upstream token')
  t.equal(seenB.token, fingerprint(storedB.access), 'user B\'s call reached the backend with user B\'s upstream token')
  t.not(seenA.token, seenB.token, 'two different tokens')
  t.not(seenA.clientId, seenB.clientId, 'each grant is the upstream\'s own client registration')

  // 2. the server is ready for users with a grant; its tools are listed (from the first user connection)
  await waitFor(async () => (await stateOf(gw.base, 'up')) === 'ready', 'the per-user server is ready once a user has a grant')
  await waitFor(async () => (await a.client.listTools()).tools.some((tool) => tool.name === ECHO), 'its tools are listed')

  // 3. interleaved concurrent calls: each carries its own user's token, nothing crosses
  const calls = Array.from({ length: 24 }, (_, i) => {
    const [name, user] = i % 2 === 0 ? ['a', a] : ['b', b]
    return user.client.callTool({ name: ECHO, arguments: { text: `${name}-${i}` } })
  })
  const results = await Promise.all(calls)
  const crossed = results.filter((result, i) => seenIn(result).token !== (i % 2 === 0 ? seenA.token : seenB.token))
  t.equal(crossed.length, 0, '24 interleaved calls of the two users: each reached the backend with its own user\'s token')
  t.ok(results.every((result, i) => ((result as { content: Array<{ text: string }> }).content[0]).text.startsWith(`${i % 2 === 0 ? 'a' : 'b'}-${i} `)), 'and each answer is its own call\'s')
  t.ok(a.logs.length > 0 && b.logs.length > 0, 'the backend\'s log messages during the calls reach their callers')
  t.same([...a.logs.filter((l) => !l.startsWith('log of a-')), ...b.logs.filter((l) => !l.startsWith('log of b-'))], [], 'each user gets only the log messages of their own connection')

  // the backend's requests to the client (elicitation) go to the user whose connection asked, at once for both
  const [askedA, askedB] = await Promise.all([a.client.callTool({ name: 'up_1mcp_ask' }), b.client.callTool({ name: 'up_1mcp_ask' })])
  t.match(((askedA as { content: Array<{ text: string }> }).content[0]).text, /^a \{/, 'user A\'s backend asked user A')
  t.match(((askedB as { content: Array<{ text: string }> }).content[0]).text, /^b \{/, 'user B\'s backend asked user B')

  // a second session of user A uses A's grant, unasked
  const a2 = await userClient(t, gw.url, tokenA, 'a2')
  t.equal(seenIn(await a2.client.callTool({ name: WHOAMI })).token, seenA.token, 'another session of user A goes out with A\'s token')
  t.equal(a2.asked.length, 0, 'and is not asked again')

  // 4. a client without URL elicitation: -32042 with the URL; after authorizing, its retry succeeds
  const c = await userClient(t, gw.url, tokenC, 'c', false)
  const refused = await c.client.callTool({ name: WHOAMI }).then(() => undefined, (err: unknown) => err)
  t.ok(refused instanceof McpError, 'the call fails with a JSON-RPC error')
  const error = refused as McpError
  t.equal(error.code, -32042, 'URLElicitationRequiredError')
  const elicitations = (error.data as { elicitations: UrlElicitation[] }).elicitations
  t.equal(elicitations.length, 1, 'data.elicitations names one')
  t.equal(elicitations[0].mode, 'url')
  t.ok(elicitations[0].elicitationId, 'with an elicitationId')
  t.match(error.message, elicitations[0].url, 'the message carries the URL too')
  // the link goes on only in a browser logged in to the gateway as user C (a link sent to someone else does not bind their account)
  const stranger = await browser().fetch(elicitations[0].url)
  t.equal(stranger.status, 401, 'a browser not logged in to the gateway is refused')
  t.match(await stranger.text(), /Log in first/)
  t.equal((await authorizeInBrowser(tokenC.owner, elicitations[0].url)).status, 200, 'user C authorizes in their own browser (the refused try left the link usable)')
  const seenC = seenIn(await c.client.callTool({ name: WHOAMI }))
  t.equal(seenC.token, fingerprint((await upstreamTokens(gw.dataDir, userC)).access), 'the retry goes out with user C\'s own token')
  t.not(seenC.token, seenA.token)
  t.not(seenC.token, seenB.token)

  // a user who declines: -32042 with the link, to authorize later
  const e = await userClient(t, gw.url, tokenE, 'e', true, 'decline')
  const declined = await e.client.callTool({ name: WHOAMI }).then(() => undefined, (err: unknown) => err as McpError)
  t.equal(e.asked.length, 1, 'user E is asked')
  t.equal(declined?.code, -32042, 'declined: URLElicitationRequiredError')
  t.match(declined?.message, /not given \(decline\)/, 'saying so')

  // a 2026-07-28 request (no session, no elicitation request to send): -32042 with the URL; the retry after authorizing succeeds
  const meta = { 'io.modelcontextprotocol/protocolVersion': STATELESS_VERSION, 'io.modelcontextprotocol/clientCapabilities': { elicitation: { url: {} } } }
  const stateless = () => postStateless(gw.url, { id: 1, method: 'tools/call', params: { name: WHOAMI, arguments: {}, _meta: meta } }, { authorization: `Bearer ${tokenD.accessToken}` })
  const refusedD = (await stateless()).json.error as { code: number, data: { elicitations: UrlElicitation[] } }
  t.equal(refusedD.code, -32042, 'a 2026-07-28 call of a user without a grant: URLElicitationRequiredError')
  t.equal((await authorizeInBrowser(tokenD.owner, refusedD.data.elicitations[0].url)).status, 200, 'user D authorizes in the browser')
  const seenD = seenIn((await stateless()).json.result)
  t.equal(seenD.token, fingerprint((await upstreamTokens(gw.dataDir, userD)).access), 'the 2026-07-28 retry goes out with user D\'s own token')

  // 5. user B's grant is revoked upstream: B's next call fails, the one after asks B again; A is untouched
  const revoked = await fetch(`${upstream.base}/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: storedB.refresh!, client_id: seenB.clientId }) })
  t.equal(revoked.status, 200, 'the upstream revokes user B\'s grant')
  const renewed = seenIn(await b.client.callTool({ name: WHOAMI }))
  t.equal(b.asked.length, 2, 'user B\'s next call (read-only) asks B again')
  t.equal((await b.callbacks[1]).status, 200, 'B authorizes again')
  const storedB2 = await upstreamTokens(gw.dataDir, userB)
  t.not(storedB2.access, storedB.access, 'B\'s refused tokens were replaced')
  t.equal(renewed.token, fingerprint(storedB2.access), 'and that same call completes with B\'s new token')
  t.equal(seenIn(await a.client.callTool({ name: WHOAMI })).token, seenA.token, 'user A goes on with A\'s own grant')

  // revoked again, then a call that is not safe to send twice: it fails clearly, the next one asks
  const revokedAgain = await fetch(`${upstream.base}/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: storedB2.refresh!, client_id: renewed.clientId }) })
  t.equal(revokedAgain.status, 200)
  const failed = await b.client.callTool({ name: ECHO, arguments: { text: 'once' } }).then(() => undefined, (err: unknown) => err as McpError)
  t.match(failed?.message, /refused upstream .*call again/, 'a call that may not be sent twice fails, saying to call again')
  t.equal(b.asked.length, 2, 'without asking')
  t.match(((await b.client.callTool({ name: ECHO, arguments: { text: 'again' } })) as { content: Array<{ text: string }> }).content[0].text, /^again /, 'the next call asks B and completes')
  t.equal(b.asked.length, 3)
  const storedB3 = await upstreamTokens(gw.dataDir, userB)

  // no upstream token in any log line of either gateway
  const secrets = [storedA, storedB, storedB2, storedB3, await upstreamTokens(gw.dataDir, userC), await upstreamTokens(gw.dataDir, userD)].flatMap((s) => [s.access!, s.refresh!]).filter(Boolean)
  t.equal(secrets.length, 12, 'six access and six refresh tokens')
  const lines = [...gw.logs.lines, ...upstream.logs.lines]
  t.ok(lines.length > 0, 'the gateways logged')
  t.equal(lines.filter((line) => secrets.some((secret) => line.includes(secret))).length, 0, 'no log line carries an upstream token')
  t.equal(lines.filter((line) => /\/oauth\/grant\/up\?token=[A-Za-z0-9_-]/.test(line)).length, 0, 'nor a link\'s ticket')
})

t.test('per-user credentials with auth off: every client is the one anonymous user; its token is refreshed', async (t) => {
  const upstream = await startGateway(t, { auth: { accessTokenTtlSeconds: 30 }, config: { mcpServers: {}, plugins: [WHOAMI_PLUGIN] } as never })
  const dataDir = await tempDir(t, '1mcp-per-user-')
  const gw = await startGateway(t, { config: { auth: { dataDir }, mcpServers: { up: { url: `${upstream.base}/whoami/mcp`, credentials: 'per-user', pingInterval: 0 } } } as never })
  const owner = browser()
  const first = await userClient(t, gw.url, { accessToken: 'none', owner }, 'first')
  const seen = seenIn(await first.client.callTool({ name: WHOAMI }))
  t.equal(first.asked.length, 1, 'the first client is asked to authorize')
  t.equal((await first.callbacks[0]).status, 200, 'and does, in a browser with no login at the gateway (there is none)')
  const second = await userClient(t, gw.url, { accessToken: 'none', owner }, 'second')
  t.equal(seenIn(await second.client.callTool({ name: WHOAMI })).token, seen.token, 'another client is the same user: the same grant, unasked')
  t.equal(second.asked.length, 0)

  // the user's token is refreshed ahead of its expiry (30 s: at half its life), and calls go on with the new one
  const before = await upstreamTokens(dataDir, 'anonymous')
  t.equal(seen.token, fingerprint(before.access), 'kept under the anonymous user')
  await waitFor(async () => (await upstreamTokens(dataDir, 'anonymous')).access !== before.access, 'the user\'s upstream token is refreshed', 25_000)
  const after = await upstreamTokens(dataDir, 'anonymous')
  t.equal(seenIn(await first.client.callTool({ name: WHOAMI })).token, fingerprint(after.access), 'the next call carries the refreshed token')

  // grants survive a restart: a gateway started on the same data folder has the user's grant at once
  const restarted = await startGateway(t, { config: { auth: { dataDir }, mcpServers: { up: { url: `${upstream.base}/whoami/mcp`, credentials: 'per-user', pingInterval: 0 } } } as never })
  t.equal(await stateOf(restarted.base, 'up'), 'ready', 'after a restart the server is ready (a user has a grant)')
  const later = await userClient(t, restarted.url, { accessToken: 'none', owner }, 'later')
  t.equal(seenIn(await later.client.callTool({ name: WHOAMI })).token, fingerprint((await upstreamTokens(dataDir, 'anonymous')).access), 'the stored grant serves, unasked')
  t.equal(later.asked.length, 0)
})
