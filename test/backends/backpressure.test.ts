import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { connect, echoFixture, uncoveredChildEnv, waitFor } from '../helpers.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const FLOOD = fileURLToPath(new URL('../fixtures/flood-server.mjs', import.meta.url))
/** the reproduction ran 60 s; a third of it keeps the flooder writing as fast as it can through 100-200 rounds of
 * calls and RSS samples, and saves 40 s of a full core on the 2-core CI machine; the rest of the file is quick */
const FLOOD_MS = 20_000

/** The value of one sample line (`name{labels} value`), or undefined when absent. */
function sample (text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

function text (result: unknown): string {
  return ((result as { content?: Array<{ text?: string }> }).content ?? []).map((c) => c.text ?? '').join('')
}

t.test('a backend flooding notifications: bounded memory, other calls answered, its pings answered, list_changed coalesced', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), '1mcp-backpressure-'))
  const configPath = join(dir, 'config.json')
  // a restarted flooder floods again (FLOOD_STATE), as a noisy server does whenever it runs
  const flooder = { command: process.execPath, args: [FLOOD], env: { FLOOD_STATE: join(dir, 'flood-until') }, pingInterval: 1000 }
  writeFileSync(configPath, JSON.stringify({
    loadShedding: false,
    rateLimit: false,
    logLevel: 'info',
    mcpServers: { flood: flooder, lister: { command: process.execPath, args: [FLOOD] }, calm: echoFixture('calm') }
  }))
  // the gateway as it runs in production: its own process, whose memory is measured
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'server.ts'), '--config', configPath, '--port', '0', '--no-auth'], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: uncoveredChildEnv()
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const logLines: Array<{ level: number, msg: string }> = []
  let pending = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => {
    pending += chunk
    const lines = pending.split('\n')
    pending = lines.pop() ?? ''
    for (const line of lines) if (line.startsWith('{')) logLines.push(JSON.parse(line))
  })
  const base = await waitFor(() => logLines.map((l) => /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(l.msg)?.[1]).find(Boolean), 'the listen line', 20_000)
  await waitFor(async () => (await (await fetch(`${base}/health`)).json()).backends.every((b: { state: string }) => b.state === 'ready'), 'backends ready', 20_000)
  const client = await connect(t, `${base}/mcp`)
  await waitFor(async () => (await client.listTools()).tools.some((tool) => tool.name === 'calm_1mcp_echo'), 'the tools')
  const metrics = async () => await (await fetch(`${base}/metrics`)).text()
  const rss = async () => sample(await metrics(), 'process_resident_memory_bytes') ?? 0
  const call = async (name: string, args: Record<string, unknown> = {}) => text(await client.callTool({ name, arguments: args }))

  const pid = await call('flood_1mcp_pid')
  for (let i = 0; i < 20; i++) t.equal(await call('calm_1mcp_echo', { text: `warm ${i}` }), `calm: warm ${i}`)
  const idle = await rss()
  t.ok(idle > 0, `idle RSS ${Math.round(idle / 1e6)} MB`)

  await t.test('1,000 tools/list_changed cost at most two listings, and no warn line each', async (t) => {
    const before = Number(await call('lister_1mcp_list_requests'))
    const warnsBefore = logLines.filter((l) => l.level >= 40).length
    t.equal(await call('lister_1mcp_list_flood', { count: 1000 }), 'sent 1000')
    // the notifications were read before the answer; the listing they caused shows the added tool
    await waitFor(async () => (await client.listTools()).tools.some((tool) => tool.name === 'lister_1mcp_added_1'), 'the added tool to be listed')
    const listings = Number(await call('lister_1mcp_list_requests')) - before
    t.ok(listings >= 1 && listings <= 2, `${listings} tools/list for 1,000 notifications (one in flight, one pending)`)
    const warns = logLines.filter((l) => l.level >= 40).slice(warnsBefore)
    t.ok(warns.length <= 2, `${warns.length} warn lines: ${JSON.stringify(warns.map((w) => w.msg))}`)
  })

  await t.test(`a flood of notifications/message for ${FLOOD_MS / 1000} s`, async (t) => {
    t.equal(await call('flood_1mcp_flood', { ms: FLOOD_MS }), 'flooding')
    const started = Date.now()
    let peak = idle
    const samples: number[] = []
    let calm = 0
    let own = 0
    let failed = 0
    // bounded in count and time: one round every ~100 ms for the flood's length
    for (let round = 0; round < 2000 && Date.now() - started < FLOOD_MS; round++) {
      const answer = await call('calm_1mcp_echo', { text: `r${round}` }).catch((err: Error) => err.message)
      if (answer === `calm: r${round}`) calm++
      else failed++
      if (round % 10 === 0) {
        // an ordinary call to the flooder itself goes through the flood
        if (await call('flood_1mcp_pid').catch(() => undefined) === pid) own++
        else failed++
        samples.push(await rss())
        peak = Math.max(peak, samples[samples.length - 1])
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const text = await metrics()
    const dropped = sample(text, 'onemcp_backend_notifications_dropped_total{backend="flood"}') ?? 0
    t.equal(failed, 0, `every call answered (${calm} to the other backend, ${own} to the flooder)`)
    t.ok(calm > 40, 'the other backend was called throughout')
    const mb = (bytes: number) => Math.round(bytes / 1e6)
    const every = Math.max(1, Math.floor(samples.length / 8))
    t.ok(peak < 2 * idle, `RSS stayed under 2x idle: idle ${mb(idle)} MB, peak ${mb(peak)} MB (MB over the flood: ${samples.filter((_, i) => i % every === 0).map(mb).join(' ')})`)
    t.ok(dropped > 0, `${dropped} unheard notifications dropped and counted`)
    t.equal(sample(text, 'onemcp_backend_restarts_total{backend="flood"}'), 0, 'the flooder answered its pings: never restarted')
    t.equal(await call('flood_1mcp_pid'), pid, 'the same process')
    t.equal(sample(text, 'onemcp_backend_state{backend="flood",state="ready"}'), 1)
  })

  child.kill('SIGTERM')
  await new Promise((resolve) => child.once('exit', resolve))
})
