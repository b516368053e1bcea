import t from 'tap'
import { echoFixture, initializeRequest, postMcp, startGateway } from '../helpers.js'

// Issue 17, item 5: every event stream the gateway starts tells nginx not to buffer it.

/** Opens a request, keeps its headers, and aborts it (a stream never ends by itself). */
async function headersOf (url: string, init: RequestInit = {}): Promise<Headers> {
  const controller = new AbortController()
  const res = await fetch(url, { ...init, signal: controller.signal })
  controller.abort()
  return res.headers
}

t.test('/sse and the /mcp GET and POST streams send X-Accel-Buffering: no', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { a: echoFixture('a') } } })

  const sse = await headersOf(`${gw.base}/sse`, { headers: { accept: 'text/event-stream' } })
  t.match(sse.get('content-type'), /^text\/event-stream/, '/sse is a stream')
  t.equal(sse.get('x-accel-buffering'), 'no', '/sse')

  const init = await postMcp(gw.url, { body: initializeRequest('2025-11-25', 'headers') })
  const session = init.headers.get('mcp-session-id') ?? ''
  t.ok(session, 'a session')
  await init.text()
  const sessionHeaders = { 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' }
  await (await postMcp(gw.url, { headers: sessionHeaders, body: { jsonrpc: '2.0', method: 'notifications/initialized' } })).text()

  const get = await headersOf(gw.url.href, { headers: { accept: 'text/event-stream', 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' } })
  t.match(get.get('content-type'), /^text\/event-stream/, 'GET /mcp is a stream')
  t.equal(get.get('x-accel-buffering'), 'no', 'GET /mcp')

  // a call with a progress token is answered on a stream (progress comes before the result)
  const post = await postMcp(gw.url, { headers: sessionHeaders, body: { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'a_1mcp_slow', arguments: { ms: 40, steps: 2 }, _meta: { progressToken: 'p' } } } })
  t.match(post.headers.get('content-type'), /^text\/event-stream/, 'the POST answered on a stream')
  t.equal(post.headers.get('x-accel-buffering'), 'no', 'POST /mcp')
  t.match(await post.text(), /"result"/, 'the stream carried the result')
})
