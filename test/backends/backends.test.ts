import t from 'tap'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { LogCapture } from '../auth-helpers.js'
import { ECHO_SERVER, echoFixture, startGateway, connect, waitFor, alive, settle } from '../helpers.js'
import { exposedName } from '../../mcp/capability-names.js'

t.test('names: long, illegal and colliding names are exposed, never dropped', async (t) => {
  const long = 'a_very_long_tool_name_that_goes_on_and_on_well_past_the_sixty_four_character_limit'
  const gw = await startGateway(t, {
    config: {
      mcpServers: {
        x: echoFixture('x', { EXTRA_TOOLS: `y_1mcp_z,${long},dotted.name` }),
        x_1mcp_y: echoFixture('x_1mcp_y', { EXTRA_TOOLS: 'z' })
      }
    }
  })
  const client = await connect(t, gw.url)
  const { tools } = await client.listTools()
  const names = tools.map((tool) => tool.name)
  for (const name of names) t.match(name, /^[a-zA-Z0-9_-]{1,64}$/, `${name} is valid for LLM APIs`)
  t.equal(names.length, new Set(names).size, 'all distinct')

  const longName = exposedName('x', long)
  t.ok(longName.length <= 64)
  t.equal(longName, exposedName('x', long), 'deterministic')
  t.ok(names.includes(longName))
  const r1 = await client.callTool({ name: longName, arguments: {} })
  t.same(r1.content, [{ type: 'text', text: `x:${long}` }], 'the shortened name reaches the original tool')

  const dotted = exposedName('x', 'dotted.name')
  t.match(dotted, /^x_1mcp_dotted_name_[0-9a-f]{8}$/)
  const r2 = await client.callTool({ name: dotted, arguments: {} })
  t.same(r2.content, [{ type: 'text', text: 'x:dotted.name' }])

  // x + y_1mcp_z and x_1mcp_y + z both want x_1mcp_y_1mcp_z
  const clash = gw.app.capabilities.collisions.find((c) => c.name === 'x_1mcp_y_1mcp_z')
  t.ok(clash, 'the collision is reported')
  t.same(clash?.backends.sort(), ['x', 'x_1mcp_y'])
  const both = await Promise.all(tools.filter((tool) => tool.description?.startsWith('extra tool ') && ['y_1mcp_z', 'z'].some((n) => tool.description === `extra tool ${n}`))
    .map((tool) => client.callTool({ name: tool.name, arguments: {} })))
  t.same(both.map((r) => (r.content as Array<{ text: string }>)[0].text).sort(), ['x:y_1mcp_z', 'x_1mcp_y:z'], 'both tools stay callable')
  const health = await (await fetch(`${gw.base}/health`)).json()
  t.equal(health.collisions.length, 1)
  t.equal(health.status, 'degraded')
})

t.test('a backend that fails to start never stops the gateway', async (t) => {
  const gw = await startGateway(t, {
    config: {
      mcpServers: {
        good: echoFixture('good'),
        bad: echoFixture('bad', { FAIL_START: '1' }, { restart: { maxRetries: 2, initialDelayMs: 10, maxDelayMs: 20 } }),
        missing: { command: '/nonexistent/binary-for-test', restart: { maxRetries: 0 } },
        nopkg: { command: process.execPath, args: ['-e', "console.error('npm error code E404'); console.error('npm error 404 Not Found - GET https://registry.npmjs.org/@nope%2fnothing'); process.exit(1)"], restart: { maxRetries: 0 } },
        nocwd: { command: process.execPath, cwd: 'no-such-dir-for-test', restart: { maxRetries: 0 } }
      }
    }
  })
  await waitFor(() => gw.app.backends.get('bad')?.state === 'crash-loop', 'bad to be parked')
  const client = await connect(t, gw.url)
  const result = await client.callTool({ name: 'good_1mcp_echo', arguments: { text: 'still here' } })
  t.same(result.content, [{ type: 'text', text: 'good: still here' }])
  const health = await (await fetch(`${gw.base}/health`)).json()
  t.equal(health.status, 'degraded')
  const bad = health.backends.find((b: { name: string }) => b.name === 'bad')
  t.equal(bad.state, 'crash-loop')
  t.match(bad.lastError, /exited with code 3/)
  const missing = health.backends.find((b: { name: string }) => b.name === 'missing')
  t.match(missing.lastError, /command '…\/binary-for-test' not found \(ENOENT\); check "command" in the config/, 'the command is named')
  const nopkg = health.backends.find((b: { name: string }) => b.name === 'nopkg')
  t.match(nopkg.lastError, /exited with code 1; its stderr ended with: npm error code E404 \| npm error 404 Not Found/, 'why it exited is in /health')
  const nocwd = health.backends.find((b: { name: string }) => b.name === 'nocwd')
  t.match(nocwd.lastError, /the working directory .*no-such-dir-for-test does not exist \(check "cwd"\)/)
  t.notMatch(missing.lastError, /\/nonexistent\//, 'paths are stripped from errors')
  const err = await client.callTool({ name: 'bad_1mcp_echo', arguments: {} }).catch((e) => e)
  t.equal(err.code, -32602, 'tools of a backend that never started are unknown')
  const ready = await fetch(`${gw.base}/health/ready`)
  t.equal(ready.status, 200)
})

t.test('with no backend ready, /health is 503 and /health/ready says why', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { bad: echoFixture('bad', { FAIL_START: '1' }, { restart: { maxRetries: 0 } }) } } })
  const health = await fetch(`${gw.base}/health`)
  t.equal(health.status, 503)
  t.equal((await health.json()).status, 'unhealthy')
  const ready = await fetch(`${gw.base}/health/ready`)
  t.equal(ready.status, 503)
  t.same(await ready.json(), { ready: false, reason: 'no backend is ready' })
  const live = await fetch(`${gw.base}/health/live`)
  t.equal(live.status, 200)
})

t.test('list_changed: the index is rebuilt and clients are told', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { alpha: echoFixture('alpha') } } })
  const client = await connect(t, gw.url)
  let told = 0
  client.setNotificationHandler((await import('@modelcontextprotocol/sdk/types.js')).ToolListChangedNotificationSchema, async () => { told++ })
  // open the standing GET stream the notification travels on
  await waitFor(() => [...gw.app.sessions.all()].some((s) => s.standalone), 'the GET stream')
  await client.callTool({ name: 'alpha_1mcp_grow', arguments: { tool: 'sprout' } })
  await waitFor(() => told > 0, 'tools/list_changed')
  await settle(gw.app)
  const { tools } = await client.listTools()
  t.ok(tools.some((tool) => tool.name === 'alpha_1mcp_sprout'))
  const result = await client.callTool({ name: 'alpha_1mcp_sprout', arguments: {} })
  t.same(result.content, [{ type: 'text', text: 'sprout' }])
})

t.test('closing the gateway stops every backend process', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { a: echoFixture('a'), b: echoFixture('b') } } })
  const pids = [...gw.app.backends.all()].map((b) => b.pid!)
  t.equal(pids.length, 2)
  for (const pid of pids) t.ok(alive(pid))
  await gw.app.close()
  for (const pid of pids) t.notOk(alive(pid), `backend ${pid} is gone`)
})

t.test('stopping a backend kills its whole process group (wrappers and what they started)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), '1mcp-group-'))
  const pidFile = join(dir, 'sleeper.pid')
  // the wrapper starts a background helper that holds no pipe of ours, then runs the server in the foreground
  const script = `sleep 300 & echo $! > "${pidFile}"; "${process.execPath}" "${ECHO_SERVER}"; echo done`
  const gw = await startGateway(t, { config: { mcpServers: { wrapped: { command: 'sh', args: ['-c', script], env: { FIXTURE_NAME: 'wrapped' } } } } })
  const client = await connect(t, gw.url)
  const result = await client.callTool({ name: 'wrapped_1mcp_pid', arguments: {} })
  const server = Number((result.content as Array<{ text: string }>)[0].text)
  const shell = gw.app.backends.get('wrapped')!.pid!
  const sleeper = Number(readFileSync(pidFile, 'utf8'))
  t.teardown(() => { for (const pid of [sleeper, server]) { try { process.kill(pid, 'SIGKILL') } catch {} } })
  t.not(server, shell, 'the server runs under a shell')
  t.ok(alive(sleeper), 'the background helper runs')
  await gw.app.close()
  await waitFor(() => !alive(server) && !alive(shell) && !alive(sleeper), 'the whole group to be gone')
  t.same({ server: alive(server), shell: alive(shell), sleeper: alive(sleeper) }, { server: false, shell: false, sleeper: false },
    'no orphan left: the server, its shell and the background helper are gone')
})

t.test('a backend that asks for roots with no client call in flight is told there are none (server-everything logs no failure)', async (t) => {
  const capture = new LogCapture()
  const everything = { command: process.execPath, args: [fileURLToPath(new URL('../../node_modules/@modelcontextprotocol/server-everything/dist/index.js', import.meta.url)), 'stdio'] }
  const gw = await startGateway(t, { config: { mcpServers: { everything } }, logger: { level: 'debug', stream: capture.stream } })
  t.equal(gw.app.backends.get('everything')!.state, 'ready')
  // server-everything asks for the roots 350 ms after its initialization; a failure goes to its stderr
  await waitFor(() => capture.lines.some((line) => /answered with no roots|Failed to request roots/.test(line)), 'the roots request', 10_000)
  await gw.app.close()
  t.notOk(capture.lines.some((line) => line.includes('Failed to request roots')), 'no failure logged by the backend')
  t.ok(capture.lines.some((line) => line.includes('answered with no roots')))
})
