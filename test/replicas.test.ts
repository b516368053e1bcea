import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js'
import { connect, echoFixture, startGateway, waitFor } from './helpers.js'
import type { ReplicaSet } from '../backends/replica-set.js'

const HTTP_ECHO = fileURLToPath(new URL('./fixtures/http-echo.mjs', import.meta.url))

const text = (result: unknown): string => ((result as { content: Array<{ text: string }> }).content[0]!.text)

/** Calls `tool` `count` times at once; each outcome as it settled. */
function concurrently (client: Client, tool: string, count: number, args: Record<string, unknown>): Promise<PromiseSettledResult<unknown>[]> {
  return Promise.allSettled(Array.from({ length: count }, () => client.callTool({ name: tool, arguments: args }, undefined, { timeout: 20_000 })))
}

/** SIGKILLs replica 1 once both replicas have calls in flight; resolves with its pid and its calls in flight then. */
async function killFirstWhenBusy (set: ReplicaSet): Promise<{ pid: number, inFlight: number }> {
  const [one, two] = set.replicas
  await waitFor(() => one!.active > 0 && two!.active > 0, 'calls in flight on both replicas')
  const pid = one!.pid!
  const inFlight = one!.active
  process.kill(-pid, 'SIGKILL')
  return { pid, inFlight }
}

t.test('replicas: 2 of a stdio server', async (t) => {
  const gw = await startGateway(t, {
    config: { mcpServers: { rep: echoFixture('rep', {}, { replicas: 2, restart: { initialDelayMs: 50, maxDelayMs: 200 } }) } }
  })
  const set = gw.app.backends.get('rep')!
  t.equal(set.replicas.length, 2)
  t.equal(set.state, 'ready')
  const client = await connect(t, gw.url)

  t.test('calls spread over two processes', async (t) => {
    const pids = new Set<string>()
    for (let i = 0; i < 20; i++) pids.add(text(await client.callTool({ name: 'rep_1mcp_whoami', arguments: {} })))
    t.same([...pids].sort(), set.replicas.map((r) => String(r.pid)).sort(), 'both replicas answered, no other process')
    const tools = await client.listTools()
    t.equal(tools.tools.filter((tool) => tool.name === 'rep_1mcp_whoami').length, 1, 'the list comes from one replica')
  })

  t.test('/health and /metrics show each replica', async (t) => {
    const health = await (await fetch(`${gw.base}/health`)).json() as { backends: Array<{ name: string, state: string, replicas: Array<{ replica: number, state: string, pid: number }> }> }
    const rep = health.backends.find((b) => b.name === 'rep')!
    t.equal(rep.state, 'ready', 'the server as before')
    t.same(rep.replicas.map((r) => [r.replica, r.state, r.pid]), set.replicas.map((r, i) => [i + 1, 'ready', r.pid]))
    const metrics = await (await fetch(`${gw.base}/metrics`)).text()
    t.match(metrics, /onemcp_backend_replica_state\{backend="rep",replica="2",state="ready"\} 1/)
    t.match(metrics, /onemcp_backend_replica_in_flight\{backend="rep",replica="1"\} 0/)
  })

  t.test('SIGKILL of one replica during 200 read-only calls: no client sees a failure', async (t) => {
    const calls = concurrently(client, 'rep_1mcp_whoami', 200, { ms: 100 })
    const killed = await killFirstWhenBusy(set)
    const results = await calls
    const failed = results.filter((r) => r.status === 'rejected')
    t.equal(failed.length, 0, `0 of 200 failed (${killed.inFlight} were in flight on the killed replica)`)
    t.ok(results.some((r) => r.status === 'fulfilled' && text(r.value) !== String(killed.pid)), 'the sibling answered')
    await waitFor(() => set.replicas.every((r) => r.state === 'ready'), 'the killed replica to restart')
  })

  t.test('SIGKILL during 200 non-idempotent calls: only that replica\'s calls in flight fail, naming it', async (t) => {
    const calls = concurrently(client, 'rep_1mcp_bump', 200, { ms: 300 })
    const killed = await killFirstWhenBusy(set)
    const results = await calls
    const failed = results.flatMap((r) => r.status === 'rejected' ? [r.reason as Error & { code?: number, data?: { replica?: number, pid?: number } }] : [])
    t.ok(failed.length > 0, 'the calls in flight on the killed replica failed')
    t.ok(failed.length <= killed.inFlight + 1, `no more than its calls in flight (${failed.length} failed, ${killed.inFlight} in flight)`)
    for (const err of failed) {
      t.equal(err.code, -32000)
      t.match(err.message, 'backend \'rep\' is unavailable')
      t.match(err.message, `replica 1 of 2 (pid ${killed.pid})`)
      t.same([err.data?.replica, err.data?.pid], [1, killed.pid])
    }
    const answered = results.flatMap((r) => r.status === 'fulfilled' ? [text(r.value).split(' ')[0]] : [])
    t.equal(answered.length + failed.length, 200)
    t.notOk(answered.includes(String(killed.pid)) && failed.length === 0, 'the killed process did not answer them all')
    await waitFor(() => set.replicas.every((r) => r.state === 'ready'), 'the killed replica to restart')
  })
})

t.test('retryTools: true sends any tool call again on a sibling', async (t) => {
  const gw = await startGateway(t, {
    config: { mcpServers: { rep: echoFixture('rep', {}, { replicas: 2, retryTools: true, restart: { initialDelayMs: 50, maxDelayMs: 200 } }) } }
  })
  const client = await connect(t, gw.url)
  const calls = concurrently(client, 'rep_1mcp_bump', 40, { ms: 300 })
  await killFirstWhenBusy(gw.app.backends.get('rep')!)
  const failed = (await calls).filter((r) => r.status === 'rejected')
  t.equal(failed.length, 0, 'every call answered')
})

t.test('a server→client request goes to the session whose call is on the replica that asked', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { rep: echoFixture('rep', {}, { replicas: 2 }) } } })
  const set = gw.app.backends.get('rep')!
  const a = await connect(t, gw.url, { sampling: {} }, 'client-a')
  const b = await connect(t, gw.url, { sampling: {} }, 'client-b')
  const asked: string[] = []
  for (const [client, who] of [[a, 'a'], [b, 'b']] as const) {
    client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
      asked.push(`${who}: ${(request.params.messages[0]!.content as { text: string }).text}`)
      return { role: 'assistant', model: 'test', content: { type: 'text', text: `from ${who}` } }
    })
  }
  const slow = b.callTool({ name: 'rep_1mcp_slow', arguments: { ms: 1500, steps: 1 } })
  await waitFor(() => set.active === 1, 'b\'s call in flight on one replica')
  const sampled = await a.callTool({ name: 'rep_1mcp_sample', arguments: { prompt: 'q' } })
  t.same(sampled.content, [{ type: 'text', text: 'sampled: from a' }], 'the least-loaded replica took a\'s call and its request reached a')
  t.same(asked, ['a: q'], 'b was not asked')
  await slow
})

t.test('urls: one replica per equivalent remote endpoint', async (t) => {
  const [one, two] = await Promise.all([startRemote(t), startRemote(t)])
  const gw = await startGateway(t, {
    config: { mcpServers: { remote: { urls: [`http://127.0.0.1:${one.port}/mcp`, `http://127.0.0.1:${two.port}/mcp`], pingInterval: 0 } } }
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
  const after = await Promise.all(Array.from({ length: 6 }, () => client.callTool({ name: 'remote_1mcp_whoami', arguments: {} })))
  t.same(new Set(after.map(text)), new Set([String(two.child.pid)]), 'read-only calls fail over to the live endpoint')
})

/** Starts the remote fixture on `port` (0: any); resolves with the child and its port. */
async function startRemote (t: Test, port = 0): Promise<{ child: ChildProcess, port: number }> {
  const child = spawn(process.execPath, [HTTP_ECHO], { env: { ...process.env, PORT: String(port), FIXTURE_NAME: 'remote' }, stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { child.kill('SIGKILL') })
  let out = ''
  child.stdout!.on('data', (chunk) => { out += chunk })
  const chosen = await waitFor(() => /listening (\d+)/.exec(out)?.[1], 'the remote fixture to listen')
  return { child, port: Number(chosen) }
}

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
