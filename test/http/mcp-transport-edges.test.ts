import t from 'tap'
import { connect, echoFixture, type Gateway, initializeRequest, MCP_HEADERS, postMcp, startGateway, waitFor } from '../helpers.js'

// Streamable HTTP and legacy SSE transport edges (routes/mcp.ts, routes/sse.ts, routes/sse-stream.ts,
// routes/host-guard.ts, routes/scope.ts): requests that are missing a header or a field, a client
// that goes away mid-call, resumption with nothing missed, and the session limit.

const INIT = initializeRequest()
const decoder = new TextDecoder()

/** A new, initialized session's id. */
async function session (gw: Gateway): Promise<string> {
  const res = await postMcp(gw.url)
  const id = res.headers.get('mcp-session-id')!
  await res.body?.cancel()
  await postMcp(gw.url, { body: { jsonrpc: '2.0', method: 'notifications/initialized' }, session: id })
  return id
}

/** One read, or an error after 10 s: a stream that never delivers fails the test instead of hanging it. */
async function readChunk (reader: ReadableStreamDefaultReader<Uint8Array>): Promise<ReadableStreamReadResult<Uint8Array>> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error('no data from the stream within 10 s')), 10_000) })
  try {
    return await Promise.race([reader.read(), late])
  } finally {
    clearTimeout(timer)
  }
}

/** Reads a stream until `pattern` matches what came so far (or it ends); bounded in chunks and time. */
async function readUntil (reader: ReadableStreamDefaultReader<Uint8Array>, pattern: RegExp, text = ''): Promise<string> {
  for (let i = 0; i < 50 && !pattern.test(text); i++) {
    const { value, done } = await readChunk(reader)
    if (done) break
    text += decoder.decode(value)
  }
  return text
}

/** Whether the stream ends (within 50 chunks and 10 s a chunk). */
async function ends (reader: ReadableStreamDefaultReader<Uint8Array>): Promise<boolean> {
  for (let i = 0; i < 50; i++) if ((await readChunk(reader)).done) return true
  return false
}

t.test('Streamable HTTP: edges of one gateway', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { echo: echoFixture('echo') } } })

  t.test('a POST without an Accept header is 406', async (t) => {
    const res = await gw.app.inject({ method: 'POST', url: '/mcp', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(INIT) })
    t.equal(res.statusCode, 406)
    t.match(res.json(), { error: { code: -32600, message: /must accept both/ } })
  })

  t.test('a POST without a Content-Type (and no body) is 415', async (t) => {
    const res = await gw.app.inject({ method: 'POST', url: '/mcp', headers: { accept: MCP_HEADERS.accept } })
    t.equal(res.statusCode, 415)
    t.match(res.json(), { error: { code: -32600, message: /must be application\/json/ } })
  })

  t.test('initialize with no params gets our latest version and a session', async (t) => {
    const res = await postMcp(gw.url, { body: { jsonrpc: '2.0', id: 7, method: 'initialize' } })
    t.equal(res.status, 200)
    const body = await res.json()
    t.equal(body.id, 7)
    t.equal(body.result.protocolVersion, '2025-11-25')
    const id = res.headers.get('mcp-session-id')!
    t.ok(gw.app.sessions.get(id), 'the session exists')
    t.same(gw.app.sessions.get(id)!.clientCapabilities, {}, 'no capabilities declared: none assumed')
  })

  t.test('a GET without a session id is 400', async (t) => {
    const res = await fetch(gw.url, { headers: { accept: 'text/event-stream' } })
    t.equal(res.status, 400)
    t.match(await res.json(), { error: { message: /Mcp-Session-Id header is required/ } })
  })

  t.test('an Origin that is not a URL is refused', async (t) => {
    const res = await postMcp(gw.url, { body: INIT, headers: { origin: 'null' } })
    t.equal(res.status, 403)
    t.match(await res.json(), { code: 'GW_ORIGIN_NOT_ALLOWED', message: /Origin 'null'/ })
  })

  t.test('a query filter given twice is 400', async (t) => {
    const res = await postMcp(`${gw.url}?tags=a&tags=b`)
    t.equal(res.status, 400)
    t.match(await res.json(), { message: '?tags= may be given once' })
  })

  t.test('a client that closes its connection mid-call cancels the call at the backend', async (t) => {
    const id = await session(gw)
    const live = gw.app.sessions.get(id)!
    const controller = new AbortController()
    const call = postMcp(gw.url, { body: { jsonrpc: '2.0', id: 'h1', method: 'tools/call', params: { name: 'echo_1mcp_hang', arguments: {} } }, session: id, signal: controller.signal })
    await waitFor(() => live.inflight.size === 1, 'the call to reach the backend')
    controller.abort()
    await t.rejects(call, 'the client gave up')
    await waitFor(() => live.inflight.size === 0, 'the gateway to drop the call')
    t.equal(live.inflight.size, 0, 'the gateway dropped the call')
    const ping = await postMcp(gw.url, { body: { jsonrpc: '2.0', id: 'p', method: 'ping' }, session: id })
    t.same(await ping.json(), { jsonrpc: '2.0', id: 'p', result: {} }, 'the session still works')
    t.equal(gw.app.backends.get('echo')!.active, 0, 'no call is left in flight at the backend')
  })

  t.test('a resumed GET stream with nothing missed continues the numbering', async (t) => {
    const id = await session(gw)
    const live = gw.app.sessions.get(id)!
    const first = new AbortController()
    const res = await fetch(gw.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': id }, signal: first.signal })
    const primed = /id: (\S+)\n/.exec(await readUntil(res.body!.getReader(), /id: \S+\n/))
    t.ok(primed, 'a priming event with an id')
    first.abort()
    await waitFor(() => live.standalone?.closed, 'the server to see the stream close')

    const second = new AbortController()
    t.teardown(() => second.abort())
    const resumed = await fetch(gw.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': id, 'last-event-id': primed![1] }, signal: second.signal })
    t.equal(resumed.status, 200)
    // a real change: the backend grows a tool, the index refreshes, the session hears of it
    const grow = await postMcp(gw.url, { body: { jsonrpc: '2.0', id: 'g', method: 'tools/call', params: { name: 'echo_1mcp_grow', arguments: { tool: 'sprout' } } }, session: id })
    t.match(await grow.json(), { result: { content: [{ text: 'added sprout' }] } })
    const text = await readUntil(resumed.body!.getReader(), /tools\/list_changed/)
    const [stream, seq] = primed![1].split(':')
    t.match(text, new RegExp(`id: ${stream}:${Number(seq) + 1}\nevent: message\ndata: .*tools/list_changed`), 'the next event follows the last one the client saw')
    t.notMatch(text, /data: \n/, 'a resumed stream is not primed again')
  })

  t.test('a Last-Event-ID that is not ours is a new stream (409 while one is open)', async (t) => {
    const id = await session(gw)
    const controller = new AbortController()
    t.teardown(() => controller.abort())
    const open = await fetch(gw.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': id }, signal: controller.signal })
    t.equal(open.status, 200)
    for (const lastEventId of ['no-colon', '1:x', ':3', '1:-2']) {
      const res = await fetch(gw.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': id, 'last-event-id': lastEventId } })
      t.equal(res.status, 409, `Last-Event-ID ${lastEventId}`)
      await res.body?.cancel()
    }
  })

  t.test('ending a session whose stream the client already dropped', async (t) => {
    const id = await session(gw)
    const live = gw.app.sessions.get(id)!
    const controller = new AbortController()
    const res = await fetch(gw.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': id }, signal: controller.signal })
    t.equal(res.status, 200)
    controller.abort()
    await waitFor(() => live.standalone?.closed, 'the server to see the stream close')
    const end = await fetch(gw.url, { method: 'DELETE', headers: { 'mcp-session-id': id } })
    t.equal(end.status, 200)
    t.equal(gw.app.sessions.get(id), undefined, 'the session is gone')
    t.ok(live.closed)
  })
})

t.test('the session limit: a new session is refused with 503 on both transports', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: {}, sessions: { max: 1 } } })
  const client = await connect(t, gw.url)
  t.ok(client.getServerVersion(), 'the one session allowed')

  const res = await postMcp(gw.url)
  t.equal(res.status, 503)
  t.equal(res.headers.get('retry-after'), '5')
  t.match(await res.json(), { jsonrpc: '2.0', id: 1, error: { code: -32003, message: /limit of 1 sessions/ } })

  // the legacy transport: a stream holds a session's place from the moment it opens, so it is refused before it opens
  const sse = await fetch(`${gw.base}/sse`, { headers: { accept: 'text/event-stream' }, signal: AbortSignal.timeout(10_000) })
  t.equal(sse.status, 503)
  t.equal(sse.headers.get('retry-after'), '5')
  t.match(await sse.json(), { message: /the gateway has reached its limit of 1 sessions/ })
  await client.close()
})

t.test('legacy SSE: initialize without params, endpoint under externalUrl, streams end at close', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { echo: echoFixture('echo') }, externalUrl: 'http://127.0.0.1/prefix' } })
  const controller = new AbortController()
  t.teardown(() => controller.abort())
  const sse = await fetch(`${gw.base}/sse`, { headers: { accept: 'text/event-stream' }, signal: controller.signal })
  const reader = sse.body!.getReader()
  let text = await readUntil(reader, /event: endpoint\ndata: \S+/)
  const endpoint = /event: endpoint\ndata: (\S+)/.exec(text)![1]
  t.match(endpoint, /^\/prefix\/messages\?sessionId=[\w-]+$/, 'externalUrl without a trailing slash still gives a path under it')

  const target = new URL(endpoint.replace('/prefix', ''), gw.base)
  const accepted = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize' }) })
  t.equal(accepted.status, 202)
  text = await readUntil(reader, /"id":1,"result"/, text)
  t.match(text, /"protocolVersion":"2025-11-25"/, 'no params: our latest version')
  const session = gw.app.sessions.get(target.searchParams.get('sessionId')!)
  t.same(session?.clientCapabilities, {})

  // closing the gateway ends the open legacy stream instead of waiting on it
  await gw.app.close()
  t.ok(await ends(reader), 'the stream ended')
  t.equal(gw.app.sessions.size, 0)
})
