import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { tempDir } from './auth-helpers.js'
import { alive, echoFixture, waitFor } from './helpers.js'
import { startServe } from './process-helpers.js'

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
