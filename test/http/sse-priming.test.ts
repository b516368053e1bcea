import { fileURLToPath } from 'node:url'
import t from 'tap'
import { initializeRequest, postMcp, startGateway } from '../helpers.js'

const CONFORMANCE_SERVER = fileURLToPath(new URL('../fixtures/conformance-server.mjs', import.meta.url))

// A call whose backend logs before answering is upgraded to SSE. Its stream starts with a priming
// event (an id, empty data) only for clients of 2025-11-25 or later: older ones fail on empty data.
t.test('SSE priming events go only to clients that negotiated 2025-11-25 or later', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { conformance: { command: process.execPath, args: [CONFORMANCE_SERVER] } } } })
  const url = `${gw.base}/mcp/conformance`
  const post = (body: unknown, headers: Record<string, string> = {}) => postMcp(url, { body, headers })

  async function loggingCallStream (version: string): Promise<string> {
    const init = await post(initializeRequest(version))
    t.equal(init.status, 200)
    const session = init.headers.get('mcp-session-id') ?? ''
    const headers = { 'mcp-session-id': session, 'mcp-protocol-version': version }
    t.equal((await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, headers)).status, 202)
    const call = await post({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'test_tool_with_logging', arguments: {} } }, headers)
    t.match(call.headers.get('content-type'), /text\/event-stream/)
    return call.text()
  }

  const current = await loggingCallStream('2025-11-25')
  t.match(current, /^id: \S+\ndata: \n\n/, '2025-11-25: the stream opens with a priming event')
  t.match(current, /"id":2,"result"/)

  const older = await loggingCallStream('2025-06-18')
  t.notMatch(older, /data: \n/, '2025-06-18: no event with empty data')
  t.match(older, /"method":"notifications\/message"/)
  t.match(older, /"id":2,"result"/)
})
