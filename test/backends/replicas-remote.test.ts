import t from 'tap'
import { connect, startGateway, waitFor } from '../helpers.js'
import { startRemote } from '../process-helpers.js'

const text = (result: unknown): string => ((result as { content: Array<{ text: string }> }).content[0]!.text)

t.test('a dead remote trips its breaker; the half-open probe closes it', async (t) => {
  const remote = await startRemote(t)
  const gw = await startGateway(t, {
    config: {
      mcpServers: {
        remote: {
          url: `http://127.0.0.1:${remote.port}/mcp`,
          pingInterval: 0,
          restart: { initialDelayMs: 50, maxDelayMs: 100 },
          breaker: { consecutiveFailures: 3, halfOpenAfterMs: 400 }
        }
      }
    }
  })
  const set = gw.app.backends.get('remote')!
  const client = await connect(t, gw.url)
  t.same(text(await client.callTool({ name: 'remote_1mcp_echo', arguments: { text: 'up' } })), 'remote: up')

  remote.child.kill('SIGKILL')
  await new Promise((resolve) => remote.child.once('exit', resolve))
  const errors: Array<{ code?: number, data?: { breaker?: string } }> = []
  for (let i = 0; i < 6; i++) errors.push(await client.callTool({ name: 'remote_1mcp_echo', arguments: { text: 'down' } }).catch((e) => e))
  t.same(errors.map((e) => e.code), Array(6).fill(-32000), 'every call fails as unavailable')
  t.same(errors.map((e) => e.data?.breaker === 'open'), [false, false, false, true, true, true], 'three outages in a row open it; later calls fail fast')
  const health = await (await fetch(`${gw.base}/health`)).json() as { backends: Array<{ replicas: Array<{ breaker: string }> }> }
  t.equal(health.backends[0]!.replicas[0]!.breaker, 'open', '/health shows the breaker')

  await startRemote(t, remote.port)
  await waitFor(() => set.replicas[0]!.state === 'ready', 'the reconnect', 15_000)
  const back = await waitFor(async () => {
    const r = await client.callTool({ name: 'remote_1mcp_echo', arguments: { text: 'back' } }).catch((e: { data?: { breaker?: string } }) => {
      if (e.data?.breaker !== 'open') throw e
      return undefined
    })
    return r && text(r)
  }, 'the half-open probe', 10_000)
  t.equal(back, 'remote: back', 'the probe went through')
  t.equal(set.health()[0]!.breaker, 'closed', 'and closed the breaker')
})
t.test('urls: one replica per equivalent remote endpoint', async (t) => {
  const [one, two] = await Promise.all([startRemote(t), startRemote(t)])
  const gw = await startGateway(t, {
    // a dead endpoint's reconnect is waited for up to connectionTimeout: far longer than the failover may take
    config: { mcpServers: { remote: { urls: [`http://127.0.0.1:${one.port}/mcp`, `http://127.0.0.1:${two.port}/mcp`], pingInterval: 0, connectionTimeout: 120_000 } } }
  })
  const set = gw.app.backends.get('remote')!
  t.equal(set.replicas.length, 2, 'replicas defaults to the number of urls')
  const client = await connect(t, gw.url)
  const pids = new Set<string>()
  for (let i = 0; i < 10; i++) pids.add(text(await client.callTool({ name: 'remote_1mcp_whoami', arguments: {} })))
  t.same([...pids].sort(), [String(one.child.pid), String(two.child.pid)].sort(), 'both endpoints answered')
  t.same(set.health().map((r) => [r.url, r.breaker]), [[`http://127.0.0.1:${one.port}/mcp`, 'closed'], [`http://127.0.0.1:${two.port}/mcp`, 'closed']])

  one.child.kill('SIGKILL')
  await new Promise((resolve) => one.child.once('exit', resolve))
  const calls = Promise.all(Array.from({ length: 6 }, () => client.callTool({ name: 'remote_1mcp_whoami', arguments: {} })))
  calls.catch(() => {}) // judged below; a call still waiting when the gateway closes must not be an unhandled rejection
  let guard: NodeJS.Timeout | undefined
  const after = await Promise.race([calls, new Promise<'waited'>((resolve) => { guard = setTimeout(() => resolve('waited'), 30_000) })])
  clearTimeout(guard)
  t.not(after, 'waited', 'the calls did not wait for the dead endpoint to reconnect (connectionTimeout 120 s)')
  if (after !== 'waited') t.same(new Set(after.map(text)), new Set([String(two.child.pid)]), 'read-only calls fail over to the live endpoint')
})
