import t from 'tap'
import { echoFixture, initializeRequest, postMcp, startGateway, waitFor } from '../helpers.js'

// Streamable HTTP and the dispatcher with a raw client: each refusal answers with its own status
// and JSON-RPC code, and a session's methods check their params before any backend is asked.

const ACCEPT = 'application/json, text/event-stream'
const INIT = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }

t.test('Streamable HTTP refusals and the dispatcher\'s checks', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { alpha: echoFixture('alpha') }, pageSize: 1 } })
  const inject = (payload: unknown, headers: Record<string, string> = {}, method: 'POST' | 'GET' | 'DELETE' = 'POST', url = '/mcp') =>
    gw.app.inject({ method, url, payload: typeof payload === 'string' ? payload : JSON.stringify(payload), headers: { 'content-type': 'application/json', accept: ACCEPT, ...headers } })

  t.test('HTTP-level refusals', async (t) => {
    t.equal((await inject(INIT, { accept: 'application/json' })).statusCode, 406)
    t.equal((await inject(INIT, { 'content-type': 'text/plain' })).statusCode, 415)
    const parse = await inject('{ nope')
    t.equal(parse.statusCode, 400)
    t.equal(parse.json().error.code, -32700)
    t.match((await inject([INIT])).json(), { error: { message: /batches are not supported/ } })
    t.match((await inject({ jsonrpc: '2.0', id: 2, method: 'ping' })).json(), { error: { message: /Mcp-Session-Id header is required/ } })
    const unknown = await inject({ jsonrpc: '2.0', id: 2, method: 'ping' }, { 'mcp-session-id': 'nope' })
    t.equal(unknown.statusCode, 404)
    t.equal((await inject(INIT, {}, 'POST', '/mcp/nope')).statusCode, 404, 'no such server')
  })

  const init = await inject(INIT)
  t.equal(init.statusCode, 200)
  const session = init.headers['mcp-session-id'] as string
  const call = async (method: string, params: Record<string, unknown> = {}, id = 7) => (await inject({ jsonrpc: '2.0', id, method, params }, { 'mcp-session-id': session })).json()

  t.test('session-level refusals', async (t) => {
    const version = await inject({ jsonrpc: '2.0', id: 2, method: 'ping' }, { 'mcp-session-id': session, 'mcp-protocol-version': '1999-01-01' })
    t.equal(version.statusCode, 400)
    t.match(version.json(), { error: { message: /unsupported MCP-Protocol-Version 1999-01-01/ } })
    const onOther = await inject({ jsonrpc: '2.0', id: 2, method: 'ping' }, { 'mcp-session-id': session }, 'POST', '/mcp/alpha')
    t.equal(onOther.statusCode, 404, 'a session belongs to the endpoint that started it')
    t.equal((await inject({ jsonrpc: '2.0' }, { 'mcp-session-id': session })).statusCode, 400, 'not a message')
    t.equal((await inject({ jsonrpc: '2.0', method: 'notifications/roots/list_changed' }, { 'mcp-session-id': session })).statusCode, 202)
    t.equal((await inject({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 99 } }, { 'mcp-session-id': session })).statusCode, 202, 'cancelling nothing is harmless')
    t.equal((await inject({ jsonrpc: '2.0', method: 'notifications/unknown' }, { 'mcp-session-id': session })).statusCode, 202)
    t.equal((await inject({ jsonrpc: '2.0', id: 'q', result: {} }, { 'mcp-session-id': session })).statusCode, 202)
    t.equal((await inject('', { 'mcp-session-id': session, accept: 'application/json' }, 'GET')).statusCode, 406, 'GET must accept SSE')
  })

  t.test('the dispatcher checks params before any backend is asked', async (t) => {
    t.match(await call('no/such'), { error: { code: -32601 } })
    t.match(await call('toString'), { error: { code: -32601 } }, 'inherited object keys are not methods')
    t.match(await call('tools/list', { cursor: 'garbage' }), { error: { code: -32602, message: 'invalid cursor' } })
    t.match(await call('tools/list', { cursor: Buffer.from(JSON.stringify({ o: 1e6 })).toString('base64url') }), { error: { message: 'invalid cursor' } }, 'past the end')
    const first = await call('tools/list')
    t.equal(first.result.tools.length, 1, 'pageSize 1')
    t.ok(first.result.nextCursor, 'more pages')
    const second = await call('tools/list', { cursor: first.result.nextCursor })
    t.equal(second.result.tools.length, 1)
    t.not(second.result.tools[0].name, first.result.tools[0].name)
    t.match(await call('tools/call', {}), { error: { code: -32602, message: 'params.name must be a non-empty string' } })
    t.match(await call('tools/call', { name: 'nope' }), { error: { code: -32602, message: 'unknown tool: nope' } })
    t.match(await call('prompts/get', { name: 'nope' }), { error: { message: 'unknown prompt: nope' } })
    t.match(await call('resources/read', { uri: 'nope://x' }), { error: { code: -32602, message: 'unknown resource: nope://x' } })
    t.match(await call('resources/subscribe', { uri: 'nope://x' }), { error: { code: -32602 } })
    t.match(await call('completion/complete', { ref: { type: 'ref/other' } }), { error: { message: /ref\/prompt" or "ref\/resource/ } })
    t.match(await call('completion/complete', { ref: { type: 'ref/prompt', name: 'nope' } }), { error: { code: -32602 } })
    t.match(await call('completion/complete', { ref: { type: 'ref/resource', uri: 'nope://x' } }), { error: { code: -32602 } })
    t.match(await call('logging/setLevel', { level: 'loud' }), { error: { message: 'unknown log level: loud' } })
    t.same((await call('logging/setLevel', { level: 'debug' })).result, {})
    t.same((await call('ping')).result, {})
  })

  t.test('DELETE ends the session', async (t) => {
    t.equal((await inject('', { 'mcp-session-id': session }, 'DELETE')).statusCode, 200)
    t.equal((await inject({ jsonrpc: '2.0', id: 3, method: 'ping' }, { 'mcp-session-id': session })).statusCode, 404)
    t.equal((await inject('', { 'mcp-session-id': session }, 'DELETE')).statusCode, 404)
  })
})

t.test('a session\'s POST that the client closes before the answer cancels the call at the backend', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { alpha: echoFixture('alpha') } } })
  const init = await postMcp(gw.url, { body: initializeRequest('2025-11-25', 'closer') })
  const session = init.headers.get('mcp-session-id')!
  const backend = gw.app.backends.get('alpha')!
  await waitFor(() => backend.state === 'ready', 'the backend to be ready')
  const aborter = new AbortController()
  const call = postMcp(gw.url, { session, signal: aborter.signal, body: { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'alpha_1mcp_hang', arguments: {} } } }).catch((err: Error) => err)
  await waitFor(() => backend.active === 1, 'the call to reach the backend')
  aborter.abort()
  t.match(await call, { name: 'AbortError' }, 'the client closed the connection')
  await waitFor(() => backend.active === 0, 'the backend call to be cancelled')
  t.equal(backend.active, 0, 'closing the POST cancelled the call at the backend')
})
