import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js'
import { echoFixture, type Gateway, STATELESS_VERSION, postMcp, postStateless, startGateway, tempDir } from '../helpers.js'
import { SessionSealer } from '../../mcp/session-seal.js'

// Issue 20, items 1 and 2: a 2025 session sealed into its Mcp-Session-Id is served by any instance
// with the same key; client answers to server→client requests find the call that waits for them;
// a 2026 input round never blocks other sessions and fails at once on another instance.

const KEY = randomBytes(32).toString('base64')
const OLD_KEY = randomBytes(32).toString('base64')

function config (key: string, dataDir: string, previousKey?: string): Record<string, unknown> {
  return {
    mcpServers: { a: echoFixture('a'), own: echoFixture('own', {}, { sessionMode: 'per-client' }) },
    sessions: { key, ...(previousKey ? { previousKey } : {}), inputTimeoutMs: 60_000 },
    // a data dir of its own: instances that share one also share DELETE and setLevel (sessions-shared.test.ts)
    auth: { dataDir }
  }
}

async function instance (t: Test, key: string, previousKey?: string): Promise<Gateway> {
  const gw = await startGateway(t, { config: config(key, await tempDir(t, '1mcp-sealed-'), previousKey) as never })
  gw.app.sessions.setInstanceUrl(gw.base)
  return gw
}

/** An SDK 2025 client whose every HTTP request goes to the next of `bases` in turn (round robin, no affinity). */
async function roundRobinClient (t: Test, bases: string[]): Promise<{ client: Client, hits: number[] }> {
  const hits = bases.map(() => 0)
  let next = 0
  const transport = new StreamableHTTPClientTransport(new URL(`${bases[0]}/mcp`), {
    fetch: (url, init) => {
      const i = next++ % bases.length
      hits[i]++
      const target = new URL(String(url))
      return fetch(new URL(target.pathname + target.search, bases[i]), init)
    }
  })
  const client = new Client({ name: 'rr', version: '1.0.0' }, { capabilities: { sampling: {}, elicitation: {} } })
  client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', model: 'm', content: { type: 'text', text: 'sampled-answer' } }))
  client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { answer: 'elicited' } }))
  await client.connect(transport)
  t.teardown(() => client.close())
  return { client, hits }
}

const text = (r: unknown) => ((r as { content: Array<{ text: string }> }).content)[0].text

async function sessionOn (gw: Gateway): Promise<string> {
  const res = await postMcp(gw.url, { body: { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } } })
  await res.body?.cancel()
  return res.headers.get('mcp-session-id')!
}

const ping = async (gw: Gateway, session: string) => {
  const res = await postMcp(gw.url, { session, body: { jsonrpc: '2.0', id: 2, method: 'ping' } })
  await res.body?.cancel()
  return res.status
}

t.test('two instances with one key: any instance serves any session', async (t) => {
  const [a, b] = [await instance(t, KEY), await instance(t, KEY)]

  await t.test('an SDK client round robin: calls, sampling and elicitation all complete', async (t) => {
    const { client, hits } = await roundRobinClient(t, [a.base, b.base])
    for (let i = 0; i < 6; i++) t.equal(text(await client.callTool({ name: 'a_1mcp_echo', arguments: { text: `n${i}` } })), `a: n${i}`)
    t.equal(text(await client.callTool({ name: 'a_1mcp_sample', arguments: { prompt: 'q' } })), 'sampled: sampled-answer', 'the sampling answer reached the instance whose call waited for it')
    t.equal(text(await client.callTool({ name: 'a_1mcp_elicit', arguments: { message: 'q' } })), 'accept: elicited')
    t.ok(hits[0] > 2 && hits[1] > 2, `both instances were used (${hits.join(', ')})`)
    t.ok(b.app.sessions.revived + a.app.sessions.revived >= 1, 'the other instance rebuilt the session from its id')
  })

  await t.test('a per-client backend connection cannot move: the other instance makes its own', async (t) => {
    const { client } = await roundRobinClient(t, [a.base, b.base])
    const pids = new Set<string>()
    for (let i = 0; i < 4; i++) pids.add(text(await client.callTool({ name: 'own_1mcp_pid', arguments: {} })))
    t.equal(pids.size, 2, 'one per-client backend process per instance for the one session')
  })

  await t.test('tampered, foreign-key and unsealed ids are 404 as before', async (t) => {
    const session = await sessionOn(a)
    t.equal(await ping(b, session), 200, 'the id opens on the other instance')
    const flipped = session.slice(0, 20) + (session[20] === 'A' ? 'B' : 'A') + session.slice(21)
    t.equal(await ping(b, flipped), 404, 'a tampered id')
    t.equal(await ping(b, 's1.' + new SessionSealer(randomBytes(32)).sealText('{"p":"2025-11-25","cc":{},"t":1,"n":"x"}')), 404, 'an id sealed with another key')
    t.equal(await ping(b, randomBytes(24).toString('base64url')), 404, 'a random id')
  })

  await t.test('the token binding and the scope are part of the id: another path does not take the session', async (t) => {
    const session = await sessionOn(a)
    const other = await postMcp(new URL(`${b.base}/mcp/a`), { session, body: { jsonrpc: '2.0', id: 2, method: 'ping' } })
    await other.body?.cancel()
    t.equal(other.status, 404, 'a session of /mcp is not served on /mcp/a')
  })

  await t.test('separate data dirs: DELETE ends the session where it lands, the documented limit', async (t) => {
    const session = await sessionOn(a)
    t.equal(await ping(b, session), 200)
    const del = await fetch(b.url, { method: 'DELETE', headers: { 'mcp-session-id': session } })
    t.equal(del.status, 200)
    t.equal(await ping(b, session), 404, 'not rebuilt where it was deleted')
    // the limit, written down in docs/deploy/README.md: without a shared data dir an instance that never saw the DELETE still holds its copy
    t.equal(await ping(a, session), 200, 'the documented limit: an instance of another data dir keeps its copy until idle expiry')
  })

  await t.test('rotation: an id sealed with the previous key still opens', async (t) => {
    const old = await instance(t, OLD_KEY)
    const rotated = await instance(t, KEY, OLD_KEY)
    const session = await sessionOn(old)
    t.equal(await ping(rotated, session), 200, 'accepted by an instance whose previousKey it is')
    t.equal(await ping(b, session), 404, 'refused by an instance without that key')
  })
})

t.test('2026 rounds: a retry elsewhere fails at once, a parked round blocks no other session', async (t) => {
  const [a, b] = [await instance(t, KEY), await instance(t, KEY)]
  const meta = { 'io.modelcontextprotocol/protocolVersion': STATELESS_VERSION, 'io.modelcontextprotocol/clientCapabilities': { elicitation: {} } }
  const first = await postStateless(a.url, { id: 1, method: 'tools/call', params: { name: 'a_1mcp_elicit', arguments: { message: 'name?' }, _meta: meta } })
  const round = first.json.result as { resultType: string, inputRequests: Record<string, unknown>, requestState: string }
  t.equal(round.resultType, 'input_required', 'the round is parked on instance a')
  const key = Object.keys(round.inputRequests)[0]

  const elsewhere = await postStateless(b.url, { id: 2, method: 'tools/call', params: { name: 'a_1mcp_elicit', arguments: { message: 'name?' }, inputResponses: { [key]: { action: 'accept', content: { answer: 'x' } } }, requestState: round.requestState, _meta: meta } })
  const error = elsewhere.json.error as { code: number, message: string }
  t.equal(error.code, -32602, 'the retry on another instance fails at once')
  t.match(error.message, /another gateway instance/, 'and says why')

  // meanwhile a 2025 session on instance a samples through the same shared backend
  const { client } = await roundRobinClient(t, [a.base])
  t.equal(text(await client.callTool({ name: 'a_1mcp_sample', arguments: { prompt: 'q' } })), 'sampled: sampled-answer', 'the parked round did not make the sampling ambiguous')

  const retry = await postStateless(a.url, { id: 3, method: 'tools/call', params: { name: 'a_1mcp_elicit', arguments: { message: 'name?' }, inputResponses: { [key]: { action: 'accept', content: { answer: 'late' } } }, requestState: round.requestState, _meta: meta } })
  t.equal(text(retry.json.result), 'accept: late', 'the parked round still completes on its own instance')
})
