import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import { connect as tcpConnect } from 'node:net'
import { join } from 'node:path'
import t from 'tap'

import { alive, connect, echoFixture, STATELESS_VERSION, postStatelessOnce, tempDir, waitFor } from '../helpers.js'
import { backendWithGrandchild, pidIn, processesWith, startServe } from '../process-helpers.js'

// Signals sent to a real `1mcp serve` process, as a supervisor or an operator sends them.

t.setTimeout(120_000)

interface Health { backends: Array<{ name: string, state: string }> }

async function health (base: string): Promise<Health> {
  return await (await fetch(`${base}/health`)).json() as Health
}

t.test('SIGHUP reloads the config and the gateway goes on serving (issue 18.3)', async (t) => {
  const dir = await tempDir(t, '1mcp-hup-')
  const configPath = join(dir, 'config.json')
  // a minute's debounce: the file watcher cannot apply the edit before the test ends, only SIGHUP can
  const write = (servers: Record<string, unknown>) => writeFile(configPath, JSON.stringify({ reloadDebounceMs: 60_000, loadShedding: false, mcpServers: servers }))
  await write({ a: echoFixture('a') })
  const gateway = startServe(t, ['--config', configPath, '--port', '0', '--no-auth'])
  const base = await gateway.base()
  await waitFor(async () => (await health(base)).backends.some((b) => b.name === 'a' && b.state === 'ready'), 'backend a ready', 20_000)

  await write({ a: echoFixture('a'), b: echoFixture('b') })
  gateway.child.kill('SIGHUP')
  const names = await waitFor(async () => {
    const backends = (await health(base)).backends
    return backends.some((b) => b.name === 'b' && b.state === 'ready') && backends.map((b) => b.name).sort()
  }, 'backend b ready after SIGHUP', 20_000)
  t.same(names, ['a', 'b'], '/health lists the backend the edited file added')
  t.ok(alive(gateway.child.pid!), 'the gateway is still running')
  t.equal(gateway.child.exitCode, null)
  t.match(gateway.stdout(), /SIGHUP: reloading the config/)

  gateway.child.kill('SIGTERM')
  t.equal((await gateway.exited()).code, 0, 'SIGTERM still stops it, with 0')
})

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`${signal}: the gateway exits 0 and leaves nothing of its backends behind (issue 17.4)`, async (t) => {
    const dir = await tempDir(t, '1mcp-term-')
    const backend = backendWithGrandchild(dir, 'a')
    t.teardown(() => { for (const pid of processesWith(backend.marker)) process.kill(pid, 'SIGKILL') })
    const configPath = join(dir, 'config.json')
    await writeFile(configPath, JSON.stringify({ loadShedding: false, mcpServers: { a: backend.config } }))
    const gateway = startServe(t, ['--config', configPath, '--port', '0', '--no-auth'])
    const base = await gateway.base()
    await waitFor(async () => (await health(base)).backends.some((b) => b.state === 'ready'), 'backend a ready', 20_000)
    const pid = pidIn(backend.pidFile)
    t.ok(pid && alive(pid), 'the backend runs')
    t.equal(processesWith(backend.marker).length, 1, 'and so does the grandchild it started (sleep)')

    gateway.child.kill(signal)
    t.equal((await gateway.exited()).code, 0, 'exit code 0')
    t.notOk(alive(pid!), 'the backend is gone')
    await waitFor(() => processesWith(backend.marker).length === 0, 'the grandchild to be gone', 2000).catch(() => {})
    t.same(processesWith(backend.marker), [], 'the grandchild in its process group is gone too')
  })
}

t.test('a call that outlives the grace period is cancelled with a clear error (issue 17.4)', async (t) => {
  const dir = await tempDir(t, '1mcp-grace-')
  const configPath = join(dir, 'config.json')
  await writeFile(configPath, JSON.stringify({ shutdownGraceMs: 500, loadShedding: false, mcpServers: { a: echoFixture('a') } }))
  const gateway = startServe(t, ['--config', configPath, '--port', '0', '--no-auth'])
  const base = await gateway.base()
  const client = await connect(t, `${base}/mcp`)
  await waitFor(async () => (await client.listTools()).tools.some((tool) => tool.name === 'a_1mcp_slow'), 'the slow tool')
  // both calls are known to be running at their backend once each reported progress
  let quickStarted = false
  let slowStarted = false
  const quick = client.callTool({ name: 'a_1mcp_slow', arguments: { ms: 600, steps: 3 } }, undefined, { onprogress: () => { quickStarted = true } })
  const slow = client.callTool({ name: 'a_1mcp_slow', arguments: { ms: 30_000, steps: 300 } }, undefined, { onprogress: () => { slowStarted = true } })
    .then(() => undefined, (err: Error) => err)
  await waitFor(() => quickStarted && slowStarted, 'both calls in flight')
  gateway.child.kill('SIGTERM')
  t.same((await quick).content, [{ type: 'text', text: 'a: waited 600 ms' }], 'a call that fits in the grace period finishes')
  const err = await slow
  t.match(err?.message, /the gateway is shutting down/, `the one that does not is cancelled, and says why: ${err?.message}`)
  t.equal((await gateway.exited()).code, 0, 'exit code 0')
  t.notMatch(gateway.stdout(), /AVV_ERR_READY_TIMEOUT/, 'no misleading plugin timeout')
  t.notMatch(gateway.stdout(), /killed by timeout/, 'the close fitted in close-with-grace\'s delay')
})

/** Whether a new TCP connection to `port` is refused. */
async function refused (port: number): Promise<boolean> {
  const socket = tcpConnect(port, '127.0.0.1')
  try {
    await once(socket, 'connect')
    return false
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ECONNREFUSED'
  } finally {
    socket.destroy()
  }
}

t.test('on SIGTERM new connections are refused at once and a request on a connection already open is served, not reset nor 503 (issue 17.4)', async (t) => {
  const dir = await tempDir(t, '1mcp-drain-')
  const configPath = join(dir, 'config.json')
  await writeFile(configPath, JSON.stringify({ shutdownGraceMs: 5000, loadShedding: false, mcpServers: { a: echoFixture('a') } }))
  const gateway = startServe(t, ['--config', configPath, '--port', '0', '--no-auth'])
  const base = await gateway.base()
  const port = Number(new URL(base).port)
  const client = await connect(t, `${base}/mcp`)
  await waitFor(async () => (await client.listTools()).tools.some((tool) => tool.name === 'a_1mcp_slow'), 'the slow tool')
  // a call in flight keeps the gateway draining while the rest is tried
  let started = false
  const inFlight = client.callTool({ name: 'a_1mcp_slow', arguments: { ms: 1500, steps: 3 } }, undefined, { onprogress: () => { started = true } })
  await waitFor(() => started, 'the call in flight')
  // a connection a proxy opened just before the signal, its request not yet sent
  const open = tcpConnect(port, '127.0.0.1')
  await once(open, 'connect')
  t.teardown(() => open.destroy())
  gateway.child.kill('SIGTERM')
  t.ok(await waitFor(() => refused(port), 'a new connection to be refused', 1000), 'a new connection is refused while the call in flight goes on')
  const message = { id: 1, method: 'tools/call', params: { name: 'a_1mcp_slow', arguments: { ms: 10, steps: 1 }, _meta: { 'io.modelcontextprotocol/protocolVersion': STATELESS_VERSION, 'io.modelcontextprotocol/clientCapabilities': {} } } }
  const answer = await postStatelessOnce(`${base}/mcp`, message, open)
  const text = JSON.stringify(answer.json)
  t.equal(answer.status, 200, `the request on the open connection is served: ${text.slice(0, 200)}`)
  t.match(text, /a: waited 10 ms/, 'with its result')
  t.equal(answer.connection, 'close', 'and the connection is closed after it')
  t.same((await inFlight).content, [{ type: 'text', text: 'a: waited 1500 ms' }], 'the call in flight finished')
  t.equal((await gateway.exited()).code, 0, 'exit code 0')
})

t.test('a backend that dies takes what it started with it; the restarted one serves (issue 17.4)', async (t) => {
  const dir = await tempDir(t, '1mcp-crash-')
  const backend = backendWithGrandchild(dir, 'a')
  t.teardown(() => { for (const pid of processesWith(backend.marker)) process.kill(pid, 'SIGKILL') })
  const configPath = join(dir, 'config.json')
  await writeFile(configPath, JSON.stringify({ loadShedding: false, mcpServers: { a: { ...backend.config, restart: { initialDelayMs: 50 } } } }))
  const gateway = startServe(t, ['--config', configPath, '--port', '0', '--no-auth'])
  const base = await gateway.base()
  await waitFor(async () => (await health(base)).backends.some((b) => b.state === 'ready'), 'backend a ready', 20_000)
  const first = pidIn(backend.pidFile)!
  const [orphan] = processesWith(backend.marker)
  t.ok(orphan, 'the backend started a grandchild')

  process.kill(first, 'SIGKILL')
  await waitFor(() => !alive(orphan), 'the grandchild of the dead backend to be gone', 5000).catch(() => {})
  t.notOk(alive(orphan), 'the grandchild of the dead backend is gone (its process group was killed)')
  await waitFor(async () => pidIn(backend.pidFile) !== first && (await health(base)).backends.some((b) => b.state === 'ready'), 'the restarted backend', 20_000)
  t.equal(processesWith(backend.marker).length, 1, 'only the restarted backend\'s grandchild runs')
  gateway.child.kill('SIGTERM')
  t.equal((await gateway.exited()).code, 0)
})
