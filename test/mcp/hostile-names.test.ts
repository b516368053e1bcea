import t from 'tap'
import { echoFixture, MCP_HEADERS, STATELESS_VERSION, postMcp, startGateway, waitFor } from '../helpers.js'

// Input an attacker picks (issue 16, item 5): bodies nested deeper than anything recurses safely
// through, names that exist on Object.prototype, ids a request must not carry. Each gets a 4xx
// JSON-RPC (or HTTP) error: never a 5xx, never a session for a server that does not exist, never a
// 202 that leaves the client waiting.

const STATELESS_HEADERS = { ...MCP_HEADERS, 'mcp-protocol-version': STATELESS_VERSION, 'mcp-method': 'tools/list' }
const PROTOTYPE_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__']
const BAD_IDS: unknown[] = [1.5, null, {}, [], true, false, { a: 1 }, [1]]

const initialize = (id: unknown = 1) => JSON.stringify({ jsonrpc: '2.0', id, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'hostile', version: '1' } } })
const nested = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)

t.test('hostile input on the MCP endpoints: 4xx answers, no phantom sessions, no swallowed requests', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { echo: echoFixture('echo') }, presets: { dev: { filter: 'dev' } } } })
  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    postMcp(`${gw.base}${path}`, { body, headers, signal: AbortSignal.timeout(10_000) })

  t.test('a body nested 20,000 deep is refused before anything recurses through it', async (t) => {
    for (const where of ['_meta', 'arguments']) {
      const body = `{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"${where}":${nested(20_000)}}}`
      const modern = await post('/mcp', body, STATELESS_HEADERS)
      t.equal(modern.status, 400, `2026-07-28 with a deep ${where}`)
      t.match(await modern.json(), { jsonrpc: '2.0', id: null, error: { code: -32600, message: /nests deeper than 64/ } })
    }
    const init = await post('/mcp', initialize())
    const session = init.headers.get('mcp-session-id')!
    const deep = await post('/mcp', `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo_1mcp_echo","arguments":${nested(5000)}}}`, { 'mcp-session-id': session })
    t.equal(deep.status, 400, 'a 2025 session\'s deep call')
    t.match(await deep.json(), { error: { code: -32600 } })
    const fine = await post('/mcp', `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo_1mcp_echo","arguments":{"text":"ok","deep":${nested(40)}}}}`, { 'mcp-session-id': session })
    t.equal(fine.status, 200, 'nesting within the limit still passes (strings with brackets do not count)')
    const quoted = await post('/mcp', JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'echo_1mcp_echo', arguments: { text: '{['.repeat(500) } } }), { 'mcp-session-id': session })
    t.equal(quoted.status, 200, 'brackets inside a string are not nesting')
  })

  t.test('a server, preset or filter named after Object.prototype is not found', async (t) => {
    const before = gw.app.sessions.size
    for (const name of PROTOTYPE_NAMES) {
      const legacy = await post(`/mcp/${name}`, initialize())
      t.equal(legacy.status, 404, `POST /mcp/${name} initialize`)
      t.match(await legacy.json(), { message: /no server named/ })
      t.notOk(legacy.headers.get('mcp-session-id'), `no session for /mcp/${name}`)
      const modern = await post(`/mcp/${name}`, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }), STATELESS_HEADERS)
      t.equal(modern.status, 404, `2026-07-28 POST /mcp/${name}`)
      const preset = await post(`/mcp?preset=${name}`, initialize())
      t.equal(preset.status, 400, `?preset=${name}`)
      t.match(await preset.json(), { message: new RegExp(`no preset named '${name}'`) })
      const filtered = await post(`/mcp?tag-filter=${name}`, initialize())
      t.equal(filtered.status, 200, `?tag-filter=${name} is a tag like any other`)
      const sse = await fetch(`${gw.base}/sse?preset=${name}`, { headers: { accept: 'text/event-stream' }, signal: AbortSignal.timeout(10_000) })
      t.equal(sse.status, 400, `GET /sse?preset=${name}`)
    }
    const sessionsOpened = gw.app.sessions.size - before
    t.equal(sessionsOpened, PROTOTYPE_NAMES.length, 'the only sessions opened are the ?tag-filter= ones on /mcp')
    const deepFilter = await post(`/mcp?tag-filter=${'('.repeat(3000)}a${')'.repeat(3000)}`, initialize())
    t.equal(deepFilter.status, 400, 'a filter nested 3,000 deep')
    t.match(await deepFilter.json(), { message: /nests deeper than 32/ })
    const notNot = await post(`/mcp?tag-filter=${'not%20'.repeat(2000)}a`, initialize())
    t.equal(notNot.status, 400, 'a filter of 2,000 nots')
  })

  t.test('a request whose id is not a string or an integer gets -32600 with id null', async (t) => {
    const init = await post('/mcp', initialize())
    const session = init.headers.get('mcp-session-id')!
    for (const id of BAD_IDS) {
      const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/list' })
      const legacy = await post('/mcp', body, { 'mcp-session-id': session })
      t.equal(legacy.status, 400, `id ${JSON.stringify(id)} in a 2025 session`)
      t.same(await legacy.json(), { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request: the id must be a string or an integer (a notification has no id at all)' } })
      const modern = await post('/mcp', body, STATELESS_HEADERS)
      t.equal(modern.status, 400, `id ${JSON.stringify(id)} in 2026-07-28`)
      t.match(await modern.json(), { id: null, error: { code: -32600 } })
      const opening = await post('/mcp', initialize(id))
      t.equal(opening.status, 400, `initialize with id ${JSON.stringify(id)}`)
      t.notOk(opening.headers.get('mcp-session-id'))
    }
    const good = await post('/mcp', JSON.stringify({ jsonrpc: '2.0', id: 'a-string', method: 'tools/list' }), { 'mcp-session-id': session })
    t.equal(good.status, 200, 'a string id is fine')
    const note = await post('/mcp', JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), { 'mcp-session-id': session })
    t.equal(note.status, 202, 'a notification (no id at all) is still a notification')
  })

  t.test('legacy /messages: bad ids and deep bodies are answered on the POST', async (t) => {
    const controller = new AbortController()
    t.teardown(() => controller.abort())
    const res = await fetch(`${gw.base}/sse`, { headers: { accept: 'text/event-stream' }, signal: controller.signal })
    t.equal(res.status, 200)
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
    let text = ''
    const endpoint: string = await waitFor(async () => {
      const { value } = await reader.read()
      text += value ?? ''
      return /data: (\/messages\?sessionId=[\w-]+)/.exec(text)?.[1]
    }, 'the endpoint event') as string
    t.equal((await post(endpoint, initialize(), { 'content-type': 'application/json' })).status, 202)
    for (const id of BAD_IDS) {
      const answer = await post(endpoint, JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/list' }), { 'content-type': 'application/json' })
      t.equal(answer.status, 400, `id ${JSON.stringify(id)} on /messages`)
      t.match(await answer.json(), { id: null, error: { code: -32600 } })
    }
    const deep = await post(endpoint, `{"jsonrpc":"2.0","id":9,"method":"ping","params":{"_meta":${nested(20_000)}}}`, { 'content-type': 'application/json' })
    t.equal(deep.status, 400, 'a deep body on /messages')
    t.match(await deep.json(), { error: { code: -32600 } })
  })
})
