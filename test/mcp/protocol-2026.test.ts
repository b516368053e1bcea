import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js'
import { Client as StatelessClient, StreamableHTTPClientTransport as ModernTransport } from '@modelcontextprotocol/client'
import { alive, connect, echoFixture, type Gateway, STATELESS_VERSION as VERSION, statelessHeaders, postMcp, postStateless, settle, startGateway, waitFor } from '../helpers.js'

/** A 2026-07-28 client (SDK v2, pinned to the stateless generation) answering input requests with `answers`. */
async function statelessClient (t: Test, url: URL, name: string, answers: { elicit?: string, sample?: string, roots?: string[] } = {}): Promise<StatelessClient> {
  const capabilities = {
    ...(answers.elicit !== undefined ? { elicitation: {} } : {}),
    ...(answers.sample !== undefined ? { sampling: {} } : {}),
    ...(answers.roots !== undefined ? { roots: {} } : {})
  }
  const client = new StatelessClient({ name, version: '1.0.0' }, { capabilities, versionNegotiation: { mode: { pin: VERSION } } })
  if (answers.elicit !== undefined) client.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { answer: answers.elicit ?? '' } }))
  if (answers.sample !== undefined) {
    client.setRequestHandler('sampling/createMessage', async () => ({ role: 'assistant', content: { type: 'text', text: answers.sample }, model: 'test' }) as never)
  }
  if (answers.roots !== undefined) client.setRequestHandler('roots/list', async () => ({ roots: answers.roots!.map((uri) => ({ uri })) }))
  await client.connect(new ModernTransport(url))
  t.teardown(() => client.close())
  return client
}

/** A raw 2026 POST (request id 7), for the header and envelope rules a well-behaved SDK client never breaks. */
function post (url: URL, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<{ status: number, json: Record<string, unknown> }> {
  return postStateless(url, { id: 7, ...body }, headers)
}

const meta = (extra: Record<string, unknown> = {}) => ({
  'io.modelcontextprotocol/protocolVersion': VERSION,
  'io.modelcontextprotocol/clientCapabilities': {},
  ...extra
})

function text (result: { content?: unknown }): string {
  return ((result.content as Array<{ text?: string }> | undefined) ?? []).map((c) => c.text ?? '').join('')
}

t.test('a 2026-07-28 client is served on /mcp and /mcp/<server> beside 2025 clients', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { a: echoFixture('a'), b: echoFixture('b') } } })
  const modern = await statelessClient(t, gw.url, 'modern')
  t.equal(modern.getProtocolEra(), 'modern', 'the client negotiated the stateless generation')
  const legacy = await connect(t, gw.url)

  const statelessTools = (await modern.listTools()).tools.map((tool) => tool.name).sort()
  const legacyTools = (await legacy.listTools()).tools.map((tool) => tool.name).sort()
  t.same(statelessTools, legacyTools, 'both generations see the same namespaced tools')
  t.ok(statelessTools.includes('a_1mcp_echo') && statelessTools.includes('b_1mcp_echo'))

  const [m, l] = await Promise.all([
    modern.callTool({ name: 'a_1mcp_echo', arguments: { text: 'from 2026' } }),
    legacy.callTool({ name: 'b_1mcp_echo', arguments: { text: 'from 2025' } })
  ])
  t.equal(text(m as { content?: unknown }), 'a: from 2026')
  t.equal(text(l as { content?: unknown }), 'b: from 2025')

  const single = await statelessClient(t, new URL(`${gw.base}/mcp/b`), 'single')
  const singleTools = (await single.listTools()).tools.map((tool) => tool.name)
  t.ok(singleTools.includes('echo') && !singleTools.some((n) => n.includes('_1mcp_')), '/mcp/<server> shows original names')

  const read = await modern.readResource({ uri: (await legacy.listResources()).resources[0].uri })
  t.ok(read.contents.length > 0, 'resources are read through the same index')
  t.equal(gw.app.sessions.size, 1, 'only the 2025 client holds a session; 2026 requests leave none behind')
})

t.test('the 2026 rules: discover, headers, envelope, unknown methods, no GET or DELETE', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { a: echoFixture('a') } } })
  const discover = await post(gw.url, { method: 'server/discover', params: { _meta: meta() } })
  t.equal(discover.status, 200)
  const result = discover.json.result as { supportedVersions?: string[], capabilities?: Record<string, unknown> }
  t.ok(result.supportedVersions?.includes(VERSION), 'server/discover lists 2026-07-28')
  t.ok(result.capabilities?.tools, 'and the tools capability')

  const mismatch = await post(gw.url, { method: 'tools/list', params: { _meta: meta() } }, { 'mcp-protocol-version': '2099-01-01' })
  t.equal(mismatch.status, 400, 'a header that disagrees with _meta is refused')

  const unsupported = await post(gw.url, { method: 'tools/list', params: { _meta: meta({ 'io.modelcontextprotocol/protocolVersion': '2099-01-01' }) } }, { 'mcp-protocol-version': '2099-01-01' })
  t.equal(unsupported.status, 400)
  t.equal((unsupported.json.error as { code: number }).code, -32022, 'an unsupported version is -32022')

  const noMeta = await post(gw.url, { method: 'tools/list', params: {} })
  t.equal(noMeta.status, 400, 'a 2026 request without its _meta is refused')
  t.equal((noMeta.json.error as { code: number }).code, -32602)

  const unknown = await post(gw.url, { method: 'no/such', params: { _meta: meta() } })
  t.equal(unknown.status, 404, 'an unknown method is 404')
  t.equal((unknown.json.error as { code: number }).code, -32601)
  t.equal(unknown.json.id, 7, 'errors keep the request id')

  const initialize = await post(gw.url, { method: 'initialize', params: { _meta: meta() } })
  t.equal(initialize.status, 404, 'initialize does not exist in 2026-07-28')

  const unknownTool = await post(gw.url, { method: 'tools/call', params: { name: 'nope', arguments: {}, _meta: meta() } })
  t.match((unknownTool.json.error as { message: string }).message, /unknown tool: nope/)

  for (const method of ['GET', 'DELETE']) {
    const response = await fetch(gw.url, { method, headers: { 'mcp-protocol-version': VERSION, accept: 'text/event-stream' } })
    t.equal(response.status, 405, `${method} is 405 for the 2026 generation`)
    await response.body?.cancel()
  }
  const legacyGet = await fetch(gw.url, { method: 'GET', headers: { accept: 'text/event-stream' } })
  t.equal(legacyGet.status, 400, 'a 2025 GET without a session is still 400')
  await legacyGet.body?.cancel()
})

/** Starts a 2026 call of a 2025 backend's tool that asks the client; returns the raw input_required answer. */
async function firstRound (gw: Gateway, tool: string, args: Record<string, unknown>, capabilities: Record<string, unknown>) {
  return post(gw.url, { method: 'tools/call', params: { name: tool, arguments: args, _meta: meta({ 'io.modelcontextprotocol/clientCapabilities': capabilities }) } })
}

t.test('2026 clients calling a 2025 backend: its server→client requests become input_required rounds', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { a: echoFixture('a'), b: echoFixture('b') }, sessions: { inputTimeoutMs: 1500 } } })

  await t.test('two clients at once, each answered with its own input', async (t) => {
    const alice = await statelessClient(t, gw.url, 'alice', { elicit: 'alice-answer' })
    const bob = await statelessClient(t, gw.url, 'bob', { sample: 'bob-sample' })
    const [a, b] = await Promise.all([
      alice.callTool({ name: 'a_1mcp_elicit', arguments: { message: 'who?' } }),
      bob.callTool({ name: 'b_1mcp_sample', arguments: { prompt: 'hi' } })
    ])
    t.equal(text(a as { content?: unknown }), 'accept: alice-answer')
    t.equal(text(b as { content?: unknown }), 'sampled: bob-sample')
  })

  await t.test('the round on the wire: input_required, then the retry feeds the waiting backend', async (t) => {
    const first = await firstRound(gw, 'a_1mcp_elicit', { message: 'name?' }, { elicitation: {} })
    const result = first.json.result as { resultType: string, inputRequests: Record<string, { method: string, params: { message: string } }>, requestState: string }
    t.equal(result.resultType, 'input_required')
    const [key, request] = Object.entries(result.inputRequests)[0]
    t.equal(request.method, 'elicitation/create')
    t.equal(request.params.message, 'name?', 'the backend\'s own request, unchanged')

    const tampered = await post(gw.url, { method: 'tools/call', params: { name: 'a_1mcp_elicit', arguments: { message: 'name?' }, inputResponses: { [key]: { action: 'accept', content: { answer: 'x' } } }, requestState: `${result.requestState}x`, _meta: meta({ 'io.modelcontextprotocol/clientCapabilities': { elicitation: {} } }) } })
    t.equal((tampered.json.error as { code: number }).code, -32602, 'a tampered requestState is refused')

    const retry = await post(gw.url, { method: 'tools/call', params: { name: 'a_1mcp_elicit', arguments: { message: 'name?' }, inputResponses: { [key]: { action: 'accept', content: { answer: 'wire' } } }, requestState: result.requestState, _meta: meta({ 'io.modelcontextprotocol/clientCapabilities': { elicitation: {} } }) } })
    t.equal(text(retry.json.result as { content?: unknown }), 'accept: wire')

    const replay = await post(gw.url, { method: 'tools/call', params: { name: 'a_1mcp_elicit', arguments: { message: 'name?' }, inputResponses: { [key]: { action: 'accept', content: { answer: 'again' } } }, requestState: result.requestState, _meta: meta({ 'io.modelcontextprotocol/clientCapabilities': { elicitation: {} } }) } })
    t.match((replay.json.error as { message: string }).message, /expired|ended/, 'a finished call cannot be resumed twice')
  })

  await t.test('a client without the capability gets -32021 naming it', async (t) => {
    const first = await firstRound(gw, 'a_1mcp_elicit', { message: 'name?' }, {})
    t.equal(first.status, 400)
    const error = first.json.error as { code: number, data: { requiredCapabilities: Record<string, unknown> } }
    t.equal(error.code, -32021)
    t.same(error.data.requiredCapabilities, { elicitation: {} })
  })

  await t.test('a retry that never comes cancels the backend call', async (t) => {
    const contexts = () => [...gw.app.sessions.all()].length
    const before = contexts()
    const sessions = gw.app.sessions.size
    const first = await firstRound(gw, 'a_1mcp_elicit', { message: 'never answered' }, { elicitation: {} })
    t.equal((first.json.result as { resultType: string }).resultType, 'input_required')
    t.equal(contexts(), before + 1, 'the parked call holds its request context')
    t.equal(gw.app.sessions.size, sessions, 'which is not a session')
    await waitFor(() => contexts() === before, 'the parked call to expire', 15_000)
    t.equal(contexts(), before, 'the parked call expired and its request context is gone')
    const backend = gw.app.backends.get('a')!
    t.equal(backend.active, 0, 'nothing is left in flight at the backend')
    t.ok(alive(backend.pid!), 'and the backend lives on')
  })
})

const ECHO_2026 = fileURLToPath(new URL('../fixtures/echo-server-2026.mjs', import.meta.url))

t.test('2025 clients calling a 2026 backend: its input_required answers become server→client requests', async (t) => {
  const gw = await startGateway(t, {
    config: {
      mcpServers: {
        n: { command: process.execPath, args: [ECHO_2026], env: { FIXTURE_NAME: 'n' } },
        old: echoFixture('old'),
        checked: { command: process.execPath, args: [ECHO_2026], env: { FIXTURE_NAME: 'checked' }, pingInterval: 1000 }
      }
    }
  })
  t.equal(gw.app.backends.get('n')!.era, 'modern', 'the gateway speaks 2026-07-28 to the backend that offers it')
  t.equal(gw.app.backends.get('old')!.era, 'legacy', 'and 2025 to the one that does not')
  const health = await (await fetch(`${gw.base}/health`)).json() as { backends: Array<{ name: string, protocol?: string }> }
  t.same(health.backends.map((b) => [b.name, b.protocol]).sort(), [['checked', '2026-07-28'], ['n', '2026-07-28'], ['old', '2025-11-25']], '/health names the protocol of each')

  await t.test('two clients at once on one shared backend, each asked for its own input', async (t) => {
    const asked: string[] = []
    const clients = await Promise.all(['alice', 'bob'].map(async (who) => {
      const client = await connect(t, gw.url, { elicitation: {} }, who)
      client.setRequestHandler(ElicitRequestSchema, async (request) => {
        asked.push(`${who}: ${request.params.message}`)
        // bob answers later than alice asks, so both calls are in flight at once
        if (who === 'bob') await new Promise((resolve) => setTimeout(resolve, 50))
        return { action: 'accept', content: { name: who } }
      })
      return client
    }))
    const results = await Promise.all(clients.map((client) => client.callTool({ name: 'n_1mcp_ask', arguments: {} })))
    t.same(results.map((r) => text(r as { content?: unknown })), ['hello alice', 'hello bob'], 'each client got the answer to its own input')
    t.same(asked.sort(), ['alice: What is your name?', 'bob: What is your name?'], 'each was asked once, on its own call')
  })

  await t.test('sampling and roots reach the client too', async (t) => {
    const client = await connect(t, gw.url, { sampling: {}, roots: {} }, 'carol')
    client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', content: { type: 'text', text: 'sampled by carol' }, model: 'm' }))
    client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: 'file:///carol/a' }, { uri: 'file:///carol/b' }] }))
    t.equal(text(await client.callTool({ name: 'n_1mcp_ask_sample', arguments: { prompt: 'hi' } }) as { content?: unknown }), 'sampled by carol')
    t.equal(text(await client.callTool({ name: 'n_1mcp_ask_roots', arguments: {} }) as { content?: unknown }), 'file:///carol/a, file:///carol/b')
  })

  await t.test('a client that cannot answer is not asked', async (t) => {
    const client = await connect(t, gw.url, {}, 'dave')
    const result = await client.callTool({ name: 'n_1mcp_ask', arguments: {} }).catch((err: Error) => err)
    t.match(result instanceof Error ? result.message : text(result as { content?: unknown }), /elicitation/, 'the call fails naming the capability')
  })

  await t.test('the health check of a 2026 backend keeps it up: 2026 has no ping', async (t) => {
    await new Promise((resolve) => setTimeout(resolve, 2500))
    t.equal(gw.app.backends.get('checked')!.restarts, 0, 'two checks (every second here) passed')
  })

  await t.test('a 2026 client gets the backend\'s own input requests and state, passed through', async (t) => {
    const modern = await statelessClient(t, gw.url, 'erin', { elicit: 'erin' })
    modern.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { name: 'erin' } }))
    t.equal(text(await modern.callTool({ name: 'n_1mcp_ask', arguments: {} }) as { content?: unknown }), 'hello erin')
    const first = await post(gw.url, { method: 'tools/call', params: { name: 'n_1mcp_ask', arguments: {}, _meta: meta({ 'io.modelcontextprotocol/clientCapabilities': { elicitation: {} } }) } })
    const result = first.json.result as { resultType: string, inputRequests: Record<string, { method: string }> }
    t.equal(result.resultType, 'input_required')
    t.same(Object.keys(result.inputRequests), ['who'], 'the backend\'s own keys')
    t.equal(gw.app.sessions.size, 0, 'nothing is parked at the gateway for a 2026 backend')
  })
})

t.test('a 2025 server that exits on the server/discover probe is connected the 2025 way next time', async (t) => {
  const gw = await startGateway(t, {
    config: { mcpServers: { strict: echoFixture('strict', { EXIT_ON_PROBE: '1' }, { restart: { initialDelayMs: 50 } }), plain: echoFixture('plain', { EXIT_ON_PROBE: '1' }, { protocol: 'legacy' }) } }
  })
  const strict = gw.app.backends.get('strict')!
  await waitFor(() => strict.state === 'ready', 'the strict server to be ready after one failed probe')
  await settle(gw.app) // its tools are listed once it is ready: wait for that before calling one
  t.equal(strict.era, 'legacy')
  t.equal(strict.restarts, 1, 'one restart: the probe killed the first child')
  t.equal(gw.app.backends.get('plain')!.restarts, 0, '"protocol": "legacy" skips the probe')
  await waitFor(() => gw.app.capabilities.toolCount('strict') > 0, 'its tools to be indexed')
  const client = await connect(t, gw.url)
  t.equal(text(await client.callTool({ name: 'strict_1mcp_echo', arguments: { text: 'ok' } }) as { content?: unknown }), 'strict: ok')
})

t.test('subscriptions/listen on /mcp: list changes and updates of a 2025 backend\'s resources; a closed stream cancels its call', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { a: echoFixture('a') } } })
  const client = await statelessClient(t, gw.url, 'listener')
  const events: string[] = []
  client.setNotificationHandler('notifications/tools/list_changed', async () => { events.push('tools changed') })
  client.setNotificationHandler('notifications/resources/updated', async (notification) => { events.push(`updated ${notification.params.uri}`) })
  const subscription = await client.listen({ toolsListChanged: true, resourceSubscriptions: ['fixture://hello'] })
  t.teardown(() => subscription.close())

  const touched = await client.callTool({ name: 'a_1mcp_touch', arguments: { uri: 'fixture://hello' } })
  t.equal(text(touched as { content?: unknown }), 'notified', 'the gateway subscribed at the 2025 backend for the listen stream')
  await waitFor(() => events.includes('updated fixture://hello'), 'the resource update on the listen stream')
  t.ok(events.includes('updated fixture://hello'), 'the resource update arrived on the listen stream')

  await client.callTool({ name: 'a_1mcp_grow', arguments: { tool: 'grown' } })
  await waitFor(() => events.includes('tools changed'), 'tools/list_changed on the listen stream')
  t.ok((await client.listTools()).tools.some((tool) => tool.name === 'a_1mcp_grown'), 'and the new tool is listed')

  await subscription.close()
  const unsubscribed = await waitFor(async () => {
    const answer = text(await client.callTool({ name: 'a_1mcp_touch', arguments: { uri: 'fixture://hello' } }) as { content?: unknown })
    return answer === 'nobody subscribed' && answer
  }, 'the backend subscription to end with the stream')
  t.equal(unsubscribed, 'nobody subscribed', 'the backend subscription ended with the stream')

  const backend = gw.app.backends.get('a')!
  const aborter = new AbortController()
  const call = postMcp(gw.url, {
    signal: aborter.signal,
    headers: statelessHeaders('tools/call', 'a_1mcp_hang'),
    body: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'a_1mcp_hang', arguments: {}, _meta: meta() } }
  }).catch((err: Error) => err)
  await waitFor(() => backend.active === 1, 'the call to reach the backend')
  aborter.abort()
  t.match(await call, { name: 'AbortError' }, 'the client closed its stream')
  await waitFor(() => backend.active === 0, 'the backend call to be cancelled when the client closed its stream')
  t.equal(backend.active, 0, 'closing the stream cancelled the call at the backend')
})

t.test('2026 calls are counted in /metrics under their method and backend', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { a: echoFixture('a') } } })
  const client = await statelessClient(t, gw.url, 'metered')
  await client.callTool({ name: 'a_1mcp_echo', arguments: { text: 'count me' } })
  await client.callTool({ name: 'a_1mcp_fail', arguments: {} }).catch(() => {})
  const metrics = await (await fetch(`${gw.base}/metrics`)).text()
  t.match(metrics, /onemcp_request_duration_seconds_count\{method="tools\/call",backend="a"\} 2/, 'both calls are counted with their backend')
  t.match(metrics, /onemcp_request_errors_total\{method="tools\/call",backend="a",code="-?\d+"\} 1/, 'and the failed one as an error')
})
