import { once } from 'node:events'
import { chmod, mkdir, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { canWrite, testPassphraseHash } from '../auth-helpers.js'
import { alive, tempDir, waitFor } from '../helpers.js'
import { backendWithGrandchild, pidIn, processesWith, startServe } from '../process-helpers.js'

// Issue 17, item 1: every fatal boot error ends the real process within seconds, non-zero, with one
// line on stderr naming the cause, and leaves no backend (nor what it started) behind.

t.setTimeout(120_000)
// each case is one process that mostly waits: several at a time keep the file short
t.jobs = 3

interface Case {
  name: string
  /** writes what makes the start fail; returns the config's extra keys */
  arrange: (dir: string, t: Test) => Promise<Record<string, unknown>>
  cause: RegExp
  /** the failure comes after the backends started (listen): the backend must have run */
  backendStarts?: boolean
  noAuth?: boolean
}

async function auth (dataDir: string): Promise<Record<string, unknown>> {
  return { auth: { dataDir, passphraseHash: await testPassphraseHash() } }
}

const cases: Case[] = [
  {
    name: 'the port is in use (EADDRINUSE)',
    noAuth: true,
    backendStarts: true,
    arrange: async (_dir, t) => {
      const blocker = createServer()
      blocker.listen(0, '127.0.0.1')
      await once(blocker, 'listening')
      t.teardown(() => blocker.close())
      return { port: (blocker.address() as { port: number }).port }
    },
    cause: /^1mcp: cannot listen on 127\.0\.0\.1:\d+: the address is already in use \(EADDRINUSE\); stop the other process or choose another port/
  },
  {
    name: 'a plugin that cannot be found',
    noAuth: true,
    arrange: async () => ({ plugins: ['./no-such-plugin.mjs'] }),
    cause: /^1mcp: plugin '\.\/no-such-plugin\.mjs' \(named in "plugins"\) was not found from .+: install it there .+ or fix the name$/
  },
  {
    name: 'an empty signing-key.json',
    arrange: async (dir) => {
      await mkdir(join(dir, 'data'), { mode: 0o700 })
      await writeFile(join(dir, 'data', 'signing-key.json'), '', { mode: 0o600 })
      return auth(join(dir, 'data'))
    },
    cause: /^1mcp: signing key \S+signing-key\.json is empty: delete it to create a new one/
  },
  {
    name: 'a corrupt signing-key.json',
    arrange: async (dir) => {
      await mkdir(join(dir, 'data'), { mode: 0o700 })
      await writeFile(join(dir, 'data', 'signing-key.json'), '{"kid": ', { mode: 0o600 })
      return auth(join(dir, 'data'))
    },
    cause: /^1mcp: signing key \S+signing-key\.json is not valid JSON: delete it to create a new one/
  },
  {
    name: 'an unwritable data dir',
    arrange: async (dir, t) => {
      // a 0500 folder; root writes there anyway (these tests run as root in CI), so for root a sysfs
      // folder, which nobody may write
      let dataDir = join(dir, 'data')
      await mkdir(dataDir, { mode: 0o500 })
      t.teardown(() => chmod(dataDir, 0o700).catch(() => {}))
      if (await canWrite(dataDir)) dataDir = '/sys'
      t.notOk(await canWrite(dataDir), `${dataDir} cannot be written by this process`)
      return auth(dataDir)
    },
    cause: /^1mcp: data dir \S+ is not writable \((EACCES|EPERM|EROFS)\): make it writable/
  },
  {
    name: 'a data dir that is a file',
    arrange: async (dir) => {
      await writeFile(join(dir, 'data'), 'not a folder')
      return auth(join(dir, 'data'))
    },
    cause: /^1mcp: data dir \S+ is not a directory \(a file is in the way\)/
  },
  {
    name: 'a badly shaped clients.json',
    arrange: async (dir) => {
      await mkdir(join(dir, 'data'), { mode: 0o700 })
      await writeFile(join(dir, 'data', 'clients.json'), JSON.stringify({ clients: { not: 'a list' } }), { mode: 0o600 })
      return auth(join(dir, 'data'))
    },
    cause: /^1mcp: client registrations \S+clients\.json is not in the expected shape/
  }
]

for (const c of cases) {
  t.test(`a failed start ends the process: ${c.name}`, async (t) => {
    const dir = await tempDir(t, '1mcp-boot-')
    const backend = backendWithGrandchild(dir, 'a')
    const extra = await c.arrange(dir, t)
    const configPath = join(dir, 'config.json')
    await writeFile(configPath, JSON.stringify({ port: 0, host: '127.0.0.1', loadShedding: false, mcpServers: { a: backend.config }, ...extra }))
    const gateway = startServe(t, ['--config', configPath, ...(c.noAuth ? ['--no-auth'] : [])])
    t.teardown(() => { for (const pid of processesWith(backend.marker)) process.kill(pid, 'SIGKILL') })

    // bounded from the spawn: a slow start on a busy machine takes seconds; the old code never ended
    const { code } = await gateway.exited(40_000)
    t.not(code, 0, 'a non-zero exit code')
    const lines = gateway.stderr().split('\n').filter((line) => line.trim() !== '')
    t.equal(lines.length, 1, `one line on stderr: ${gateway.stderr()}`)
    t.match(lines[0], c.cause, 'it names the cause and the fix')

    const pid = pidIn(backend.pidFile)
    if (c.backendStarts) t.ok(pid, 'the backend had started before the failure')
    if (pid !== undefined) t.notOk(alive(pid), `the backend ${pid} is gone`)
    // the grandchild is killed with its group; allow the kernel a moment to reap it
    await waitFor(() => processesWith(backend.marker).length === 0, 'the backend\'s grandchild to be gone', 2000).catch(() => {})
    t.same(processesWith(backend.marker), [], 'nothing the backend started is left')
  })
}
