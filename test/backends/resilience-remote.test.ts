import t from 'tap'
import { connect, echoFixture, initializeRequest, MCP_HEADERS, postMcp, startGateway, waitFor } from '../helpers.js'
import { startRemote } from '../process-helpers.js'

t.test('a remote backend that goes away and comes back', async (t) => {
  const first = await startRemote(t)
  const gw = await startGateway(t, {
    config: { mcpServers: { remote: { url: `http://127.0.0.1:${first.port}/mcp`, pingInterval: 200, restart: { initialDelayMs: 50, maxDelayMs: 200 } } } }
  })
  const backend = gw.app.backends.get('remote')!
  t.equal(backend.state, 'ready')
  t.equal(backend.transportName, 'streamable-http')
  const client = await connect(t, gw.url)
  const ok = await client.callTool({ name: 'remote_1mcp_echo', arguments: { text: 'one' } })
  t.same(ok.content, [{ type: 'text', text: 'remote: one' }])

  first.child.kill('SIGKILL')
  await new Promise((resolve) => first.child.once('exit', resolve))
  const down = await client.callTool({ name: 'remote_1mcp_echo', arguments: { text: 'two' } }).catch((e) => e)
  t.match(String(down?.message ?? JSON.stringify(down)), /backend 'remote'/, 'a call while it is down fails naming the backend')
  await waitFor(() => backend.state !== 'ready', 'the gateway to notice')
  t.not(backend.state, 'ready', 'the gateway noticed the remote went away')

  await startRemote(t, first.port)
  await waitFor(() => backend.state === 'ready', 'the reconnect', 15_000)
  const back = await client.callTool({ name: 'remote_1mcp_echo', arguments: { text: 'three' } })
  t.same(back.content, [{ type: 'text', text: 'remote: three' }])
})

t.test('an expired remote session is re-established; read-only calls are retried once', async (t) => {
  const first = await startRemote(t)
  const gw = await startGateway(t, {
    config: { mcpServers: { remote: { url: `http://127.0.0.1:${first.port}/mcp`, pingInterval: 0, restart: { initialDelayMs: 20, maxDelayMs: 50 } } } }
  })
  const client = await connect(t, gw.url)
  // restart the server quickly: the backend session the gateway holds is now unknown to it (404)
  first.child.kill('SIGKILL')
  await new Promise((resolve) => first.child.once('exit', resolve))
  const second = await startRemote(t, first.port)
  const peek = await client.callTool({ name: 'remote_1mcp_peek', arguments: {} })
  t.same(peek.content, [{ type: 'text', text: 'remote: peeked' }], 'a readOnlyHint tool is retried after the reconnect')
  second.child.kill('SIGKILL')
  await new Promise((resolve) => second.child.once('exit', resolve))
  await startRemote(t, first.port)
  const echo = await client.callTool({ name: 'remote_1mcp_echo', arguments: { text: 'x' } }).catch((e) => e)
  t.ok(echo instanceof Error, 'a tool without readOnly/idempotent hints is not sent twice')
  await waitFor(() => gw.app.backends.get('remote')!.state === 'ready', 'the reconnect')
  const after = await client.callTool({ name: 'remote_1mcp_echo', arguments: { text: 'y' } })
  t.same(after.content, [{ type: 'text', text: 'remote: y' }])
})

t.test('rate limits: 429 with Retry-After per client', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: {}, rateLimit: { max: 3, timeWindowMs: 60_000 } } })
  const init = initializeRequest('2025-11-25', 'x')
  const statuses: number[] = []
  let last: Response | undefined
  for (let i = 0; i < 4; i++) {
    last = await postMcp(gw.url, { body: init })
    statuses.push(last.status)
  }
  t.same(statuses, [200, 200, 200, 429])
  t.ok(Number(last!.headers.get('retry-after')) > 0)
  t.match((await last!.json()).error.message, /Too Many Requests/)
  const health = await fetch(`${gw.base}/health`)
  t.equal(health.status, 200, '/health is not rate-limited')
})

t.test('load shedding: 503 with Retry-After while the event loop lags', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: {}, loadShedding: { maxEventLoopDelayMs: 50, retryAfterSeconds: 7 } } })
  await new Promise((resolve) => setTimeout(resolve, 150))
  const until = Date.now() + 1200
  while (Date.now() < until) { /* block the event loop on purpose */ }
  // the lag is seen at the next sample (every 100 ms here), whichever of the histogram's timer and the
  // sampler's runs first after the block: ask a bounded number of times within two sample intervals
  let res = await postEmpty(gw.app)
  for (let i = 0; i < 12 && res.statusCode !== 503; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    res = await postEmpty(gw.app)
  }
  t.equal(res.statusCode, 503)
  t.equal(res.headers['retry-after'], '7')
  const live = await gw.app.inject({ url: '/health/live' })
  t.equal(live.statusCode, 200, 'health answers under pressure')
})

t.test('idle sessions expire', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { a: echoFixture('a') }, sessions: { idleTimeoutMs: 200 } } })
  const init = initializeRequest('2025-11-25', 'x')
  const res = await postMcp(gw.url, { body: init })
  const id = res.headers.get('mcp-session-id')!
  t.equal(gw.app.sessions.size, 1)
  await waitFor(() => gw.app.sessions.size === 0, 'the idle session to expire')
  const after = await postMcp(gw.url, { session: id, body: { jsonrpc: '2.0', id: 2, method: 'ping' } })
  t.equal(after.status, 404)
})

function postEmpty (app: { inject: (opts: object) => Promise<{ statusCode: number, headers: Record<string, unknown> }> }) {
  return app.inject({ method: 'POST', url: '/mcp', payload: {}, headers: { ...MCP_HEADERS } })
}
