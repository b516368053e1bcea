import t from 'tap'
import { connect, echoFixture, startGateway } from '../helpers.js'
import { LogCapture } from '../auth-helpers.js'

const LIMIT = 1024 * 1024

t.test('a backend line over maxMessageBytes fails the calls in flight at once, resyncs at the next newline, and is logged once', async (t) => {
  const logs = new LogCapture()
  // a request timeout far beyond the test's life: a call that waits for it instead of failing at once never ends here
  const big = echoFixture('big', {}, { maxMessageBytes: LIMIT, requestTimeout: 600_000 })
  const gw = await startGateway(t, { config: { mcpServers: { big } }, logger: { level: 'info', stream: logs.stream } })
  const client = await connect(t, gw.url)
  const pid = gw.app.backends.get('big')!.pid
  const mark = logs.entries.length

  const err = await client.callTool({ name: 'big_1mcp_big_line', arguments: { bytes: 3 * LIMIT } }).then(() => undefined, (e: Error) => e)
  t.ok(err, 'the call in flight fails')
  t.match(err?.message, /backend 'big' sent a message larger than 1 MB \(maxMessageBytes\)/, 'naming the backend and the limit')

  const next = await client.callTool({ name: 'big_1mcp_echo', arguments: { text: 'after' } })
  t.same(next.content, [{ type: 'text', text: 'big: after' }], 'the next call succeeds: the stream resynchronised at the newline')
  t.equal(gw.app.backends.get('big')!.pid, pid, 'the backend was not restarted')
  t.equal(gw.app.backends.get('big')!.state, 'ready')

  // besides the access log's own line for the call that failed (it has the request's id)
  const warns = logs.entries.slice(mark).filter((l) => (l.level as number) >= 40 && l.reqId === undefined)
  t.equal(warns.length, 1, `exactly one warn line: ${JSON.stringify(warns.map((w) => w.msg))}`)
  t.equal(warns[0]?.backend, 'big', 'naming the backend')
  t.match(warns[0], { limit: LIMIT, failedCalls: 1 })
  t.notOk(logs.entries.slice(mark).some((l) => String(l.stderr ?? '').includes('stdout, not JSON')), 'the rest of the line is not logged as stdout that is not JSON')
})
