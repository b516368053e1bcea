import t from 'tap'
import { connect, echoFixture, postMcp, settle, startGateway, waitFor } from '../helpers.js'
import { forgeToken, LogCapture } from '../auth-helpers.js'

/** The value of one sample line (`name{labels} value`), or undefined when absent. */
function sample (text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

async function scrape (base: string): Promise<{ type: string, text: string }> {
  const res = await fetch(`${base}/metrics`)
  t.equal(res.status, 200)
  return { type: res.headers.get('content-type') ?? '', text: await res.text() }
}

t.test('/metrics: requests, errors, backends, sessions in Prometheus text format', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { a: echoFixture('a'), b: echoFixture('b') } } })
  const client = await connect(t, gw.url)
  await client.callTool({ name: 'a_1mcp_echo', arguments: { text: 'one' } })
  await client.callTool({ name: 'a_1mcp_echo', arguments: { text: 'two' } })
  await client.listTools()
  await t.rejects(client.callTool({ name: 'b_1mcp_fail', arguments: {} }), /fixture failure/)
  await t.rejects(client.request({ method: 'no/such/method', params: {} } as never, {} as never))

  const { type, text } = await scrape(gw.base)
  t.match(type, /^text\/plain; version=0\.0\.4/)
  t.equal(sample(text, 'onemcp_request_duration_seconds_count{method="tools/call",backend="a"}'), 2, 'calls counted by method and backend')
  t.ok((sample(text, 'onemcp_request_duration_seconds_sum{method="tools/call",backend="a"}') ?? 0) > 0, 'with their latency')
  t.equal(sample(text, 'onemcp_request_duration_seconds_bucket{le="+Inf",method="tools/call",backend="a"}'), 2, 'in histogram buckets')
  t.equal(sample(text, 'onemcp_request_duration_seconds_count{method="tools/list",backend="(gateway)"}'), 1, 'lists are answered by the gateway itself')
  t.equal(sample(text, 'onemcp_request_errors_total{method="tools/call",backend="b",code="-32042"}'), 1, 'a backend error keeps its code')
  t.equal(sample(text, 'onemcp_request_errors_total{method="other",backend="(gateway)",code="-32601"}'), 1, 'unknown methods share one label value')
  t.equal(sample(text, 'onemcp_backend_state{backend="a",state="ready"}'), 1)
  t.equal(sample(text, 'onemcp_backend_state{backend="a",state="restarting"}'), 0)
  t.equal(sample(text, 'onemcp_backend_restarts_total{backend="b"}'), 0)
  t.ok((sample(text, 'onemcp_backend_tools{backend="a"}') ?? 0) > 5)
  t.equal(sample(text, 'onemcp_sessions'), 1)
  t.equal(sample(text, 'onemcp_config_valid'), 1)
  t.ok(sample(text, 'process_resident_memory_bytes') !== undefined, 'process metrics too')
})

t.test('/metrics: restarts, closed sessions, removed backends, auth failures', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { a: echoFixture('a', {}, { restart: { initialDelayMs: 10 } }), gone: echoFixture('gone') } } })
  const client = await connect(t, gw.url)
  await client.callTool({ name: 'gone_1mcp_echo', arguments: { text: 'x' } })

  gw.app.backends.get('a')!.kill('SIGKILL')
  await waitFor(() => gw.app.backends.get('a')?.restarts === 1 && gw.app.backends.get('a')?.state === 'ready', 'a to be restarted')
  gw.app.metrics.authFailures.inc({ reason: 'invalid_token' })
  await gw.app.backends.apply({ a: gw.app.backends.get('a')!.config })
  await settle(gw.app)
  const { text } = await scrape(gw.base)
  t.equal(sample(text, 'onemcp_backend_restarts_total{backend="a"}'), 1, 'a restart is counted')
  t.equal(sample(text, 'onemcp_auth_failures_total{reason="invalid_token"}'), 1, 'the auth plugin can count refusals')
  t.notOk(text.includes('backend="gone"'), 'a removed backend leaves no series behind')

  const before = sample(text, 'onemcp_sessions_closed_total')
  const session = await postMcp(gw.url)
  const id = session.headers.get('mcp-session-id')!
  await session.text()
  t.equal(sample((await scrape(gw.base)).text, 'onemcp_sessions'), 2)
  await fetch(gw.url, { method: 'DELETE', headers: { 'mcp-session-id': id } })
  const after = await scrape(gw.base)
  t.equal(sample(after.text, 'onemcp_sessions'), 1)
  t.equal(sample(after.text, 'onemcp_sessions_closed_total'), (before ?? 0) + 1, 'an ended session is counted')
})

t.test('logs: one debug line per call with request id, session, backend, method and duration; failures at warn', async (t) => {
  const logs = new LogCapture()
  const gw = await startGateway(t, { config: { mcpServers: { a: echoFixture('a') } }, logger: { level: 'debug', stream: logs.stream } })
  const client = await connect(t, gw.url)
  await client.callTool({ name: 'a_1mcp_echo', arguments: { text: 'logged' } })
  await t.rejects(client.callTool({ name: 'a_1mcp_fail', arguments: {} }))

  const call = logs.entries.find((l) => l.msg === 'call' && l.method === 'tools/call')
  t.ok(call, 'the call is logged')
  t.equal(call?.level, 20, 'at debug')
  t.equal(call?.backend, 'a')
  t.match(call?.reqId, /\S/)
  t.match(call?.session, /^[A-Za-z0-9_.-]{8}$/)
  t.type(call?.durationMs, 'number')
  const failed = logs.entries.find((l) => l.msg === 'call failed')
  t.equal(failed?.level, 40, 'a failed call is logged at warn')
  t.equal(failed?.backend, 'a')
  t.equal(failed?.code, -32042)
  const perRequest = logs.entries.filter((l) => l.msg === 'incoming request' || l.msg === 'request completed')
  t.ok(perRequest.length > 0 && perRequest.every((l) => l.level === 20), 'the per-request lines are at debug, not info')
})

t.test('/metrics: the auth plugin counts each refusal by the OAuth error the client got', async (t) => {
  const gw = await startGateway(t, { auth: true })
  const post = (headers: Record<string, string>) => postMcp(gw.url, { headers, body: { jsonrpc: '2.0', id: 1, method: 'ping' } }).then(async (res) => { await res.text(); return res.status })
  t.equal(await post({}), 401)
  t.equal(await post({}), 401)
  t.equal(await post({ authorization: 'Basic Zm9vOmJhcg==' }), 401)
  t.equal(await post({ authorization: 'Bearer not.a.jwt' }), 401)
  const anonymous = await fetch(`${gw.base}/metrics`)
  t.equal(anonymous.status, 401, '/metrics needs a token when auth is on')
  await anonymous.text()
  const token = await forgeToken(gw.dataDir, { iss: gw.base, aud: `${gw.base}/mcp`, sub: 'owner', client_id: 'prometheus', scope: 'mcp' })
  const res = await fetch(`${gw.base}/metrics`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(res.status, 200)
  const text = await res.text()
  t.equal(sample(text, 'onemcp_auth_failures_total{reason="missing_token"}'), 3)
  t.equal(sample(text, 'onemcp_auth_failures_total{reason="invalid_request"}'), 1)
  t.equal(sample(text, 'onemcp_auth_failures_total{reason="invalid_token"}'), 1)
})
