import t from 'tap'
import { request } from 'node:http'
import { fileURLToPath } from 'node:url'
import { initializeRequest, postMcp, startGateway, waitFor } from '../helpers.js'
import { STREAM_BACKLOG_LIMIT, type SseStream } from '../../routes/sse-stream.js'

// A client that asks for log messages and then stops reading its stream must not grow the gateway's
// memory: past STREAM_BACKLOG_LIMIT unread bytes, notifications to it are dropped (and counted);
// answers are always written.

const FLOOD = fileURLToPath(new URL('../fixtures/flood-server.mjs', import.meta.url))

t.test('a client that stops reading its stream: notifications to it are dropped past the backlog limit, and counted', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { flood: { command: process.execPath, args: [FLOOD] } } } })
  const post = (body: object, session?: string) => postMcp(gw.url, { body, session })
  const init = await post(initializeRequest('2025-11-25', 'slow'))
  const session = init.headers.get('mcp-session-id')!
  await init.text()
  await (await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, session)).text()
  await (await post({ jsonrpc: '2.0', id: 2, method: 'logging/setLevel', params: { level: 'debug' } }, session)).text()

  // the standalone stream, opened and then never read
  const stream = request(`${gw.base}/mcp`, { headers: { accept: 'text/event-stream', 'mcp-session-id': session } })
  t.teardown(() => stream.destroy())
  const opened = new Promise<void>((resolve) => stream.on('response', (res) => { res.pause(); resolve() }))
  stream.end()
  await opened
  const standalone = (await waitFor(() => gw.app.sessions.get(session)?.standalone, 'the stream to open')) as SseStream

  const call = await post({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'flood_1mcp_flood', arguments: { ms: 2500 } } }, session)
  t.match(await call.text(), /flooding/, 'the call is answered')
  const dropped = async () => Number(/^onemcp_client_notifications_dropped_total (\d+)/m.exec(await gw.app.metrics.registry.metrics())?.[1] ?? 0)
  await waitFor(async () => await dropped() > 1000, 'notifications to the slow client to be dropped', 15_000)
  t.ok(standalone.backlog <= STREAM_BACKLOG_LIMIT + 64 * 1024, `what waits for the client stays bounded: ${standalone.backlog} bytes`)

  // answers still go out while the stream is behind
  const ping = await post({ jsonrpc: '2.0', id: 4, method: 'ping' }, session)
  t.match(await ping.json(), { id: 4, result: {} })
})
