import t from 'tap'
import { echoFixture, STATELESS_VERSION as VERSION, postStateless, startGateway, waitFor } from '../helpers.js'

/** The value of one sample line (`name{labels} value`), or undefined when absent. */
function sample (text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

async function metrics (base: string): Promise<string> {
  return await (await fetch(`${base}/metrics`)).text()
}

const meta = { 'io.modelcontextprotocol/protocolVersion': VERSION, 'io.modelcontextprotocol/clientCapabilities': {} }

function call (url: URL, id: number, name: string, args: Record<string, unknown>) {
  return postStateless(url, { id, method: 'tools/call', params: { name, arguments: args, _meta: meta } })
}

function text (json: Record<string, unknown>): string {
  const result = json.result as { content?: Array<{ text?: string }> } | undefined
  return (result?.content ?? []).map((c) => c.text ?? '').join('')
}

t.test('a 2026-07-28 request is counted as a request, not opened and closed as a session', async (t) => {
  const gw = await startGateway(t, { config: { sessions: { max: 2 }, mcpServers: { a: echoFixture('a') } } })
  const before = await metrics(gw.base)
  const closedBefore = sample(before, 'onemcp_sessions_closed_total') ?? 0

  // three at once, with a session cap of two: none is refused, and none is a session
  const slow = [1, 2, 3].map((id) => call(gw.url, id, 'a_1mcp_slow', { ms: 400, steps: 1 }))
  await waitFor(() => gw.app.backends.get('a')?.active === 3, 'three 2026 calls in flight')
  t.equal(gw.app.sessions.size, 0, 'no session is open while the calls are in flight')
  const answers = await Promise.all(slow)
  t.same(answers.map((a) => a.status), [200, 200, 200], 'the third concurrent request is not refused by the session cap')
  t.same(answers.map((a) => text(a.json)), ['a: waited 400 ms', 'a: waited 400 ms', 'a: waited 400 ms'])

  for (let batch = 0; batch < 5; batch++) {
    const done = await Promise.all(Array.from({ length: 10 }, (_, i) => call(gw.url, 100 + batch * 10 + i, 'a_1mcp_echo', { text: `n${i}` })))
    t.ok(done.every((d, i) => text(d.json) === `a: n${i}`), `batch ${batch + 1} of 10 answered`)
  }
  t.equal(gw.app.sessions.size, 0, 'no session is left after 53 requests')
  const after = await metrics(gw.base)
  t.equal(sample(after, 'onemcp_sessions_closed_total') ?? 0, closedBefore, 'sessions_closed_total is unchanged')
  t.equal(sample(after, 'onemcp_sessions'), 0)
  t.equal(sample(after, 'onemcp_stateless_requests_total'), 53, 'each 2026 request is counted as a request')
  const health = await (await fetch(`${gw.base}/health`)).json() as { sessions?: number }
  t.equal(health.sessions, 0, '/health counts no session either')
})
