import { fileURLToPath } from 'node:url'
import t from 'tap'
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js'
import { connect, startGateway } from '../helpers.js'

const CONFORMANCE_SERVER = fileURLToPath(new URL('../fixtures/conformance-server.mjs', import.meta.url))

// The fixture's tool sends its last progress notification and its result back to back, so the two
// usually reach the gateway in one stdio read: the case where the SDK used to drop the progress.
t.test('every progress notification of a call reaches the client, the last one too', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { conformance: { command: process.execPath, args: [CONFORMANCE_SERVER] } } } })
  const client = await connect(t, `${gw.base}/mcp/conformance`)
  const calls = 20
  let complete = 0
  for (let i = 0; i < calls; i++) {
    const seen: number[] = []
    await client.request(
      { method: 'tools/call', params: { name: 'test_tool_with_progress', arguments: {} } },
      CallToolResultSchema,
      { onprogress: (p) => seen.push(p.progress) }
    )
    if (seen.join() === '0,50,100') complete++
  }
  t.equal(complete, calls, 'each call saw progress 0, 50 and 100')
})
