import t from 'tap'
import { echoFixture, initializeRequest, MCP_HEADERS, postMcp, startGateway, waitFor } from '../helpers.js'

t.test('Streamable HTTP rules and bad input', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { alpha: echoFixture('alpha') }, bodyLimit: 64 * 1024 } })
  const post = (body: unknown, headers: Record<string, string> = {}) => postMcp(gw.url, { body, headers })
  async function session (version?: string): Promise<string> {
    const res = await post(initializeRequest(version))
    t.equal(res.status, 200)
    const id = res.headers.get('mcp-session-id')
    t.ok(id && /^[\x21-\x7e]+$/.test(id), 'session id is visible ASCII')
    await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-session-id': id! })
    return id!
  }

  t.test('version negotiation', async (t) => {
    for (const version of ['2025-11-25', '2025-06-18', '2025-03-26']) {
      const body = await (await post(initializeRequest(version))).json()
      t.equal(body.result.protocolVersion, version, `echoes ${version}`)
    }
    const body = await (await post(initializeRequest('1999-01-01'))).json()
    t.equal(body.result.protocolVersion, '2025-11-25', 'an unknown version gets our latest')
  })

  t.test('malformed JSON is -32700', async (t) => {
    const res = await post('{"jsonrpc": "2.0", ')
    t.equal(res.status, 400)
    t.equal((await res.json()).error.code, -32700)
  })

  t.test('a message that is not JSON-RPC is -32600', async (t) => {
    const id = await session()
    const res = await post({ hello: 'world' }, { 'mcp-session-id': id })
    t.equal(res.status, 400)
    t.equal((await res.json()).error.code, -32600)
    const batch = await post([{ jsonrpc: '2.0', id: 1, method: 'ping' }], { 'mcp-session-id': id })
    t.equal(batch.status, 400)
    t.match((await batch.json()).error.message, /batch/)
  })

  t.test('an unknown method is -32601', async (t) => {
    const id = await session()
    const res = await post({ jsonrpc: '2.0', id: 5, method: 'tools/explode' }, { 'mcp-session-id': id })
    t.equal(res.status, 200)
    t.same(await res.json(), { jsonrpc: '2.0', id: 5, error: { code: -32601, message: 'method not found: tools/explode' } })
  })

  t.test('sessions: missing → 400, unknown → 404, DELETE ends one', async (t) => {
    const missing = await post({ jsonrpc: '2.0', id: 2, method: 'ping' })
    t.equal(missing.status, 400)
    const unknown = await post({ jsonrpc: '2.0', id: 2, method: 'ping' }, { 'mcp-session-id': 'nope' })
    t.equal(unknown.status, 404)
    const id = await session()
    const ok = await post({ jsonrpc: '2.0', id: 3, method: 'ping' }, { 'mcp-session-id': id })
    t.same(await ok.json(), { jsonrpc: '2.0', id: 3, result: {} })
    const count = gw.app.sessions.size
    const del = await fetch(gw.url, { method: 'DELETE', headers: { 'mcp-session-id': id } })
    t.equal(del.status, 200)
    t.equal(gw.app.sessions.size, count - 1, 'the session is released')
    const after = await post({ jsonrpc: '2.0', id: 4, method: 'ping' }, { 'mcp-session-id': id })
    t.equal(after.status, 404)
  })

  t.test('notifications and responses are answered 202', async (t) => {
    const id = await session()
    const res = await post({ jsonrpc: '2.0', method: 'notifications/roots/list_changed' }, { 'mcp-session-id': id })
    t.equal(res.status, 202)
    const answer = await post({ jsonrpc: '2.0', id: 'gw-999', result: {} }, { 'mcp-session-id': id })
    t.equal(answer.status, 202)
  })

  t.test('MCP-Protocol-Version: unsupported → 400', async (t) => {
    const id = await session()
    const bad = await post({ jsonrpc: '2.0', id: 2, method: 'ping' }, { 'mcp-session-id': id, 'mcp-protocol-version': '2030-01-01' })
    t.equal(bad.status, 400)
    t.match((await bad.json()).error.message, /unsupported MCP-Protocol-Version/)
    const good = await post({ jsonrpc: '2.0', id: 2, method: 'ping' }, { 'mcp-session-id': id, 'mcp-protocol-version': '2025-06-18' })
    t.equal(good.status, 200)
  })

  t.test('Host and Origin are validated (DNS rebinding)', async (t) => {
    const inject = (headers: Record<string, string>) => gw.app.inject({
      method: 'POST', url: '/mcp', payload: initializeRequest(), headers: { ...MCP_HEADERS, ...headers }
    })
    const evilHost = await inject({ host: 'evil.example:80' })
    t.equal(evilHost.statusCode, 403)
    t.match(evilHost.json().message, /Host 'evil.example:80' is not allowed/)
    const evilOrigin = await post(initializeRequest(), { origin: 'https://evil.example' })
    t.equal(evilOrigin.status, 403)
    t.match((await evilOrigin.json()).message, /Origin 'https:\/\/evil.example' is not allowed/)
    const local = await inject({ origin: 'http://localhost:6274', host: 'localhost:1234' })
    t.equal(local.statusCode, 200)
    const v6 = await inject({ host: '[::1]:3050' })
    t.equal(v6.statusCode, 200)
  })

  t.test('Accept and Content-Type are checked', async (t) => {
    const res = await post(initializeRequest(), { accept: 'application/json' })
    t.equal(res.status, 406)
    const text = await postMcp(gw.url, { body: 'hi', headers: { 'content-type': 'text/plain' } })
    t.equal(text.status, 415)
  })

  t.test('an oversized body is 413 and the gateway goes on', async (t) => {
    const res = await post({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(100 * 1024) } })
    t.equal(res.status, 413)
    t.equal((await res.json()).error.code, -32600)
    const after = await post(initializeRequest())
    t.equal(after.status, 200)
  })

  t.test('GET opens the session stream with a priming event', async (t) => {
    const id = await session()
    const controller = new AbortController()
    const res = await fetch(gw.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': id }, signal: controller.signal })
    t.equal(res.status, 200)
    t.match(res.headers.get('content-type'), /text\/event-stream/)
    const reader = res.body!.getReader()
    const { value } = await reader.read()
    t.match(new TextDecoder().decode(value), /^id: \d+:0\ndata: \n\n/)
    const second = await fetch(gw.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': id } })
    t.equal(second.status, 409, 'one GET stream per session')
    controller.abort()
    const noAccept = await fetch(gw.url, { headers: { accept: 'application/json', 'mcp-session-id': id } })
    t.equal(noAccept.status, 406)
  })
})

t.test('GET with Last-Event-ID replays what the client missed', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { alpha: echoFixture('alpha') } } })
  const init = await postMcp(gw.url)
  const id = init.headers.get('mcp-session-id')!
  await postMcp(gw.url, { body: { jsonrpc: '2.0', method: 'notifications/initialized' }, session: id })
  const session = gw.app.sessions.get(id)!
  const decoder = new TextDecoder()

  const first = new AbortController()
  const res = await fetch(gw.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': id }, signal: first.signal })
  const reader = res.body!.getReader()
  let text = decoder.decode((await reader.read()).value)
  session.notify({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' })
  for (let i = 0; i < 10 && !/list_changed/.test(text); i++) text += decoder.decode((await reader.read()).value)
  const seen = /id: (\S+)\nevent: message\ndata: .*list_changed/.exec(text)
  t.ok(seen, 'an event with an id arrived')
  first.abort()
  await waitFor(() => session.standalone?.closed, 'the server to see the stream close')

  // sent while the client is away
  session.notify({ jsonrpc: '2.0', method: 'notifications/prompts/list_changed' })
  session.notify({ jsonrpc: '2.0', method: 'notifications/resources/list_changed' })

  const second = new AbortController()
  t.teardown(() => second.abort())
  const resumed = await fetch(gw.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': id, 'last-event-id': seen![1] }, signal: second.signal })
  t.equal(resumed.status, 200)
  const r2 = resumed.body!.getReader()
  let replay = ''
  for (let i = 0; i < 10 && !/resources\/list_changed/.test(replay); i++) replay += decoder.decode((await r2.read()).value)
  t.match(replay, /prompts\/list_changed[\s\S]*resources\/list_changed/, 'the missed events, in order')
  t.notMatch(replay, /tools\/list_changed/, 'not what it already had')
  session.notify({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' })
  let more = ''
  for (let i = 0; i < 10 && !/tools\/list_changed/.test(more); i++) more += decoder.decode((await r2.read()).value)
  const ids = [...(replay + more).matchAll(/id: \S+:(\d+)\n/g)].map((m) => Number(m[1]))
  t.same(ids, [...ids].sort((a, b) => a - b), 'event ids keep increasing after the resume')
  t.equal(new Set(ids).size, ids.length, 'no id is reused')
})
