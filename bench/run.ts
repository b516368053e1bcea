/**
 * `npm run bench`: the gateway measured against (a) the same fixture served directly over Streamable
 * HTTP by the SDK and (b) a bare Fastify route answering JSON-RPC at once (the ceiling of one HTTP
 * hop), all in the same run, on loopback, with real processes. See docs/benchmark.md.
 *
 *   npm run bench [-- --json] [-- --quick] [-- --profile DIR] [-- --log-level LEVEL] [-- --calls-only] [-- --compiled]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { McpHttp, median, runLoad, summarize, type LoadResult, type Sample } from './load.js'
import { FIXTURE, fixtureServer, PROTECTION } from './fixture.js'
import { cpuMs, freePort, poll, rssMb, start, stop, stopAll, timeToHttp, type Proc } from './procs.js'

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)))
const CEILING = join(ROOT, 'bench/fixtures/ceiling.mjs')
const FLOOR = join(ROOT, 'bench/fixtures/proxy-floor.mjs')

const { values: flags } = parseArgs({
  options: {
    json: { type: 'boolean' },
    quick: { type: 'boolean' },
    profile: { type: 'string' },
    'log-level': { type: 'string' },
    'calls-only': { type: 'boolean' },
    compiled: { type: 'boolean' }
  },
  strict: true
})
const scale = flags.quick ? 0.4 : 1
const WARMUP_MS = 700 * scale
const SEQUENTIAL_MS = 2100 * scale
const CONCURRENT_MS = 2400 * scale
const LIST_MS = 1200 * scale
const IDLE_SESSIONS = 1000
const LIST_BACKENDS = 20
const TOOLS_PER_BACKEND = 50
const TRIALS = 3
const ROUNDS = 3

type Target = 'gateway' | 'direct' | 'floor' | 'ceiling'

interface Endpoint {
  target: Target
  proc: Proc
  client: McpHttp
  /** the name the echo tool has at this endpoint */
  echo: string
  /** the stdio backend behind a gateway (or the floor) */
  backendPid?: number
}

const progress = (text: string) => { if (!flags.json) process.stderr.write(`  ${text}\n`) }

async function startGateway (name: string, configPath: string, profileDir?: string) {
  const port = await freePort()
  const nodeArgs = profileDir ? ['--cpu-prof', '--cpu-prof-interval', '250', '--cpu-prof-dir', profileDir] : []
  const cli = ['server.ts', '--config', configPath, '--port', String(port), '--no-auth']
  if (flags['log-level']) cli.push('--log-level', flags['log-level'])
  // as `npm start` runs it (tsx), or the `npm run build` output with --compiled
  const entry = flags.compiled ? ['dist/server.js', ...cli.slice(1)] : ['--import', 'tsx', ...cli]
  const proc = start(name, process.execPath, [...nodeArgs, ...entry], { cwd: ROOT })
  const origin = `http://127.0.0.1:${port}`
  const live = await timeToHttp(proc, `${origin}/health/live`)
  return { proc, origin, live }
}

/** Milliseconds from spawn until /health lists `count` backends, all ready (and their tools indexed). */
async function timeToAllReady (proc: Proc, origin: string, count: number): Promise<number> {
  return poll(async () => {
    const health = await (await fetch(`${origin}/health`)).json() as { backends: Array<{ state: string, tools: number }> }
    const ready = health.backends.filter((b) => b.state === 'ready' && b.tools > 0).length
    return ready === count ? performance.now() - proc.startedAt : undefined
  }, `${count} backends ready`, 60_000, 5)
}

async function startHttpFixture (name: string, script: string, env: NodeJS.ProcessEnv, mode: string[] = []) {
  const port = await freePort()
  const proc = start(name, process.execPath, [script, ...mode, String(port)], { env })
  const origin = `http://127.0.0.1:${port}`
  const live = await timeToHttp(proc, `${origin}/health/live`)
  return { proc, origin, live }
}

/** The process id of the stdio backend behind an endpoint (its `pid` tool). */
async function backendPid (ep: Endpoint): Promise<number> {
  const session = await ep.client.initialize()
  const result = await ep.client.callTool(session, 'bench_1mcp_pid', {}) as { content: Array<{ text: string }> }
  return Number(result.content[0].text)
}

interface Throughput {
  sequential: LoadResult
  concurrent: LoadResult
  /** CPU time per call at 8x4, µs: the endpoint's own process, and with its backend process */
  cpuPerCallUs: number
  cpuPerCallWithBackendUs: number
}

/**
 * tools/call echo at each endpoint: sequential, then 8 sessions x 4 in flight. Each figure is
 * measured in ROUNDS short runs interleaved across the endpoints, so a burst of noise on the machine
 * lands on all of them alike.
 */
async function throughput (eps: Endpoint[]): Promise<Record<Target, Throughput>> {
  const sessions = await Promise.all(eps.map((ep) => Promise.all(Array.from({ length: 8 }, () => ep.client.initialize()))))
  const calls = eps.map((ep) => (sid: string) => ep.client.callTool(sid, ep.echo, { text: 'hello' }))
  const workers = sessions.map((list) => list.flatMap((s) => [s, s, s, s]))
  for (const [i] of eps.entries()) await runLoad({ workers: workers[i], durationMs: WARMUP_MS, maxCalls: 200_000, call: calls[i] })
  const sequential: Sample[][] = eps.map(() => [])
  const concurrent: Sample[][] = eps.map(() => [])
  const cpu = eps.map(() => [0, 0])
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i] of eps.entries()) {
      sequential[i].push(await runLoad({ workers: [sessions[i][0]], durationMs: SEQUENTIAL_MS / ROUNDS, maxCalls: 200_000, call: calls[i] }))
    }
    for (const [i, ep] of eps.entries()) {
      const pids = [ep.proc.child.pid!, ...(ep.backendPid ? [ep.backendPid] : [])]
      const before = pids.map(cpuMs)
      const from = performance.now() - ep.proc.startedAt
      concurrent[i].push(await runLoad({ workers: workers[i], durationMs: CONCURRENT_MS / ROUNDS, maxCalls: 500_000, call: calls[i] }))
      pids.forEach((pid, k) => { cpu[i][k] += cpuMs(pid) - before[k] })
      if (flags.profile) progress(`${ep.target} 8x4 load from ${from.toFixed(0)} to ${(performance.now() - ep.proc.startedAt).toFixed(0)} ms after its start (for bench/profile.ts)`)
    }
  }
  const out = {} as Record<Target, Throughput>
  for (const [i, ep] of eps.entries()) {
    const seq = summarize(sequential[i])
    const conc = summarize(concurrent[i])
    out[ep.target] = {
      sequential: seq,
      concurrent: conc,
      cpuPerCallUs: cpu[i][0] * 1000 / conc.calls,
      cpuPerCallWithBackendUs: (cpu[i][0] + cpu[i][1]) * 1000 / conc.calls
    }
    progress(`${ep.target}: ${Math.round(seq.rps)} req/s sequential, ${Math.round(conc.rps)} req/s at 8x4, ${out[ep.target].cpuPerCallUs.toFixed(0)} µs CPU per call`)
  }
  return out
}

interface Memory { idleMb: number, withSessionsMb: number, perSessionKb: number }

async function idleSessions (ep: Endpoint): Promise<Memory> {
  const pid = ep.proc.child.pid!
  const idleMb = rssMb(pid)
  let opened = 0
  const open = async () => { while (opened < IDLE_SESSIONS) { opened++; await ep.client.initialize() } }
  await Promise.all(Array.from({ length: 16 }, open))
  await sleep(300)
  const withSessionsMb = rssMb(pid)
  return { idleMb, withSessionsMb, perSessionKb: (withSessionsMb - idleMb) * 1024 / IDLE_SESSIONS }
}

/**
 * tools/list of 1,000 tools, sequential, in rounds interleaved across the endpoints: the time until the
 * whole answer has arrived. The first answer is parsed and checked; later ones only have to be as
 * long, since parsing 250 KB of JSON in the client would cost more than the gateway's part.
 */
async function listLatency (eps: Endpoint[], expected: number): Promise<Record<Target, LoadResult>> {
  const sids = await Promise.all(eps.map((ep) => ep.client.initialize()))
  const sizes = await Promise.all(eps.map(async (ep, i) => {
    const result = await ep.client.request(sids[i], 'tools/list', {})
    const count = (result.tools as unknown[]).length
    if (count !== expected) throw new Error(`tools/list at ${ep.target} returned ${count} tools, expected ${expected}`)
    return JSON.stringify(result).length
  }))
  const calls = eps.map((ep, i) => async (s: string) => {
    const { status, text } = await ep.client.postRaw({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }, s)
    if (status !== 200 || text.length < sizes[i]) throw new Error(`tools/list at ${ep.target}: HTTP ${status}, ${text.length} bytes`)
  })
  for (const [i] of eps.entries()) await runLoad({ workers: [sids[i]], durationMs: WARMUP_MS / 2, maxCalls: 50_000, call: calls[i] })
  const samples: Sample[][] = eps.map(() => [])
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i] of eps.entries()) samples[i].push(await runLoad({ workers: [sids[i]], durationMs: LIST_MS / ROUNDS, maxCalls: 50_000, call: calls[i] }))
  }
  const out = {} as Record<Target, LoadResult>
  for (const [i, ep] of eps.entries()) {
    out[ep.target] = summarize(samples[i])
    progress(`tools/list ${ep.target}: p50 ${out[ep.target].p50.toFixed(2)} ms`)
  }
  return out
}

interface CrashTrial {
  /** SIGKILL → the call in flight fails */
  detectMs: number
  /** SIGKILL → a new call succeeds */
  recoverMs: number
}

/** SIGKILLs a backend with a call in flight: time until that call fails, and until a new call succeeds. */
async function crashTrial (client: McpHttp, sid: string, backend: string): Promise<CrashTrial> {
  const pidResult = await client.callTool(sid, `${backend}_1mcp_pid`, {}) as { content: Array<{ text: string }> }
  const pid = Number(pidResult.content[0].text)
  const inflight = client.callTool(sid, `${backend}_1mcp_sleep`, { ms: 20_000 }).then(
    () => { throw new Error(`the call in flight to ${backend} succeeded although its process was killed`) },
    () => performance.now()
  )
  await sleep(100)
  const t0 = performance.now()
  process.kill(pid, 'SIGKILL')
  const failedAt = await Promise.race([inflight, sleep(10_000).then(() => { throw new Error(`the call in flight to ${backend} did not fail within 10 s`) })])
  const recoveredAt = await poll(() => client.callTool(sid, `${backend}_1mcp_echo`, { text: 'again' }).then(() => performance.now()), `${backend} to answer again`, 10_000, 10)
  return { detectMs: failedAt - t0, recoverMs: recoveredAt - t0 }
}

/** The fixture's own start time: spawn to a finished `initialize`, with the SDK client over stdio. */
async function fixtureStartMs (): Promise<number> {
  const t0 = performance.now()
  const client = new Client({ name: 'bench', version: '1.0.0' })
  const transport = new StdioClientTransport({ command: process.execPath, args: [FIXTURE], env: { FIXTURE_NAME: 'own' } as Record<string, string> })
  await client.connect(transport)
  const ms = performance.now() - t0
  await client.close()
  return ms
}

interface ReloadTrial {
  /** save → the gateway lists the new server (debounce, read, validate, diff) */
  seenMs: number
  /** save → the new server is ready (its process started and initialized) */
  readyMs: number
  /** save → a call to one of its tools succeeds */
  callableMs: number
}

/**
 * Adds a server to the watched config file: time from the save until its tools answer. Polls every
 * 10 ms, not faster: on a small machine a tighter loop would slow the very start it measures.
 */
async function reloadTrial (client: McpHttp, origin: string, sid: string, configPath: string, config: { mcpServers: Record<string, unknown> }, name: string): Promise<ReloadTrial> {
  config.mcpServers[name] = fixtureServer(name)
  const t0 = performance.now()
  writeFileSync(configPath, JSON.stringify(config, null, 2))
  let seenMs = NaN
  let readyMs = NaN
  const callableMs = await poll(async () => {
    if (Number.isNaN(readyMs)) {
      const health = await (await fetch(`${origin}/health`)).json() as { backends: Array<{ name: string, state: string }> }
      const entry = health.backends.find((b) => b.name === name)
      if (entry && Number.isNaN(seenMs)) seenMs = performance.now() - t0
      if (entry?.state === 'ready') readyMs = performance.now() - t0
    }
    return client.callTool(sid, `${name}_1mcp_echo`, { text: 'new' }).then(() => performance.now() - t0)
  }, `${name} to be callable`, 30_000, 10)
  return { seenMs, readyMs, callableMs }
}

async function main () {
  const dir = mkdtempSync(join(tmpdir(), '1mcp-bench-'))
  const profileDir = flags.profile ? resolve(flags.profile) : undefined
  const started = performance.now()
  const loadAtStart = loadavg()[0]
  const endpoints: Endpoint[] = []
  try {
    // --- call throughput and latency, and memory, against one stdio backend
    progress('starting the gateway (1 stdio backend), the direct SDK server, the stdio proxy floor and the ceiling')
    const configA = join(dir, 'one.json')
    writeFileSync(configA, JSON.stringify({ mcpServers: { bench: fixtureServer('bench') }, ...PROTECTION }))
    const gwA = await startGateway('gateway', configA, profileDir)
    await timeToAllReady(gwA.proc, gwA.origin, 1)
    const direct = await startHttpFixture('direct', FIXTURE, {}, ['http'])
    const floor = await startHttpFixture('floor', FLOOR, {})
    const ceiling = await startHttpFixture('ceiling', CEILING, { TOOL_COUNT: String(LIST_BACKENDS * TOOLS_PER_BACKEND) })
    endpoints.push(
      { target: 'gateway', proc: gwA.proc, client: new McpHttp(gwA.origin, '/mcp', 40), echo: 'bench_1mcp_echo' },
      { target: 'direct', proc: direct.proc, client: new McpHttp(direct.origin, '/mcp', 40), echo: 'echo' },
      { target: 'floor', proc: floor.proc, client: new McpHttp(floor.origin, '/mcp', 40), echo: 'bench_1mcp_echo' },
      { target: 'ceiling', proc: ceiling.proc, client: new McpHttp(ceiling.origin, '/mcp', 40), echo: 'echo' }
    )
    await Promise.all(endpoints.slice(0, 3).filter((ep) => ep.target !== 'direct').map(async (ep) => { ep.backendPid = await backendPid(ep) }))
    const calls = await throughput(endpoints)
    const memory = {} as Record<Target, Memory>
    for (const ep of endpoints) memory[ep.target] = await idleSessions(ep)
    progress(`memory with ${IDLE_SESSIONS} sessions: gateway ${memory.gateway.withSessionsMb.toFixed(0)} MB, direct ${memory.direct.withSessionsMb.toFixed(0)} MB`)
    await Promise.all([stop(gwA.proc), stop(direct.proc), stop(floor.proc)])
    await Promise.all(endpoints.splice(0, 3).map((ep) => ep.client.close()))
    if (flags['calls-only']) {
      process.stdout.write(JSON.stringify({ calls, memory }, null, 2) + '\n')
      return
    }

    // --- tools/list of 1,000 tools, start-up, crash recovery and hot reload, with 20 backends
    progress(`starting the gateway with ${LIST_BACKENDS} backends of ${TOOLS_PER_BACKEND} tools`)
    const configB = join(dir, 'many.json')
    const many = { mcpServers: {} as Record<string, unknown>, ...PROTECTION }
    for (let i = 0; i < LIST_BACKENDS; i++) many.mcpServers[`b${String(i).padStart(2, '0')}`] = fixtureServer(`b${i}`, TOOLS_PER_BACKEND)
    writeFileSync(configB, JSON.stringify(many, null, 2))
    const gwB = await startGateway('gateway-20', configB)
    const allReady = await timeToAllReady(gwB.proc, gwB.origin, LIST_BACKENDS)
    const directList = await startHttpFixture('direct-1000', FIXTURE, { TOOL_COUNT: String(LIST_BACKENDS * TOOLS_PER_BACKEND) }, ['http'])
    const gwBep: Endpoint = { target: 'gateway', proc: gwB.proc, client: new McpHttp(gwB.origin, '/mcp', 8), echo: '' }
    const directListEp: Endpoint = { target: 'direct', proc: directList.proc, client: new McpHttp(directList.origin, '/mcp', 8), echo: 'echo' }
    endpoints.push(gwBep, directListEp)
    const lists = await listLatency([gwBep, directListEp, endpoints[0]], LIST_BACKENDS * TOOLS_PER_BACKEND)

    progress('crash recovery: SIGKILL a backend with a call in flight')
    const sid = await gwBep.client.initialize()
    const crashes: CrashTrial[] = []
    for (let i = 0; i < TRIALS; i++) crashes.push(await crashTrial(gwBep.client, sid, `b${String(i).padStart(2, '0')}`))

    progress('hot reload: add a server to the config file')
    const ownStart: number[] = []
    for (let i = 0; i < TRIALS; i++) ownStart.push(await fixtureStartMs())
    const reloads: ReloadTrial[] = []
    for (let i = 0; i < TRIALS; i++) reloads.push(await reloadTrial(gwBep.client, gwB.origin, sid, configB, many, `hot${i}`))

    const report = {
      machine: { node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, loadAverageAtStart: loadAtStart },
      durationSeconds: 0,
      calls,
      memory,
      toolsList: lists,
      startup: {
        gateway: { liveMs: gwA.live, liveMs20: gwB.live, allReadyMs20: allReady },
        direct: { liveMs: direct.live },
        floor: { liveMs: floor.live },
        ceiling: { liveMs: ceiling.live }
      },
      crash: {
        trials: crashes,
        detectMs: median(crashes.map((c) => c.detectMs)),
        recoverMs: median(crashes.map((c) => c.recoverMs))
      },
      reload: {
        trials: reloads,
        ms: median(reloads.map((r) => r.callableMs)),
        seenMs: median(reloads.map((r) => r.seenMs)),
        readyMs: median(reloads.map((r) => r.readyMs)),
        fixtureStartMs: median(ownStart)
      }
    }
    report.durationSeconds = Math.round((performance.now() - started) / 100) / 10
    if (flags.json) process.stdout.write(JSON.stringify({ ...report, targets: targets(report) }, null, 2) + '\n')
    else process.stdout.write(table(report))
  } finally {
    await Promise.all(endpoints.map((ep) => ep.client.close().catch(() => {})))
    await stopAll()
    rmSync(dir, { recursive: true, force: true })
  }
}

type Report = {
  machine: { node: string, cpus: number, cpu?: string, loadAverageAtStart: number }
  durationSeconds: number
  calls: Record<Target, Throughput>
  memory: Record<Target, Memory>
  /** the floor does not serve tools/list */
  toolsList: Record<Exclude<Target, 'floor'>, LoadResult> & { floor?: LoadResult }
  startup: { gateway: { liveMs: number, liveMs20: number, allReadyMs20: number }, direct: { liveMs: number }, floor: { liveMs: number }, ceiling: { liveMs: number } }
  crash: { detectMs: number, recoverMs: number }
  reload: { ms: number, seenMs: number, readyMs: number, fixtureStartMs: number }
}

function targets (r: Report) {
  const gw = r.calls.gateway
  return [
    { target: 'throughput 8x4 >= 0.5x ceiling', value: gw.concurrent.rps / r.calls.ceiling.concurrent.rps, limit: 0.5, pass: gw.concurrent.rps >= 0.5 * r.calls.ceiling.concurrent.rps },
    { target: 'throughput 8x4 > direct SDK server', value: gw.concurrent.rps / r.calls.direct.concurrent.rps, limit: 1, pass: gw.concurrent.rps > r.calls.direct.concurrent.rps },
    { target: 'added p50, sequential (gateway - direct) <= 1 ms', value: gw.sequential.p50 - r.calls.direct.sequential.p50, limit: 1, pass: gw.sequential.p50 - r.calls.direct.sequential.p50 <= 1 },
    { target: 'tools/list of 1,000 tools p50 <= 2 ms', value: r.toolsList.gateway.p50, limit: 2, pass: r.toolsList.gateway.p50 <= 2 },
    { target: 'crash: SIGKILL to next successful call < 5 s', value: r.crash.recoverMs, limit: 5000, pass: r.crash.recoverMs < 5000 },
    { target: 'reload: save to callable < own start + 1 s', value: r.reload.ms - r.reload.fixtureStartMs, limit: 1000, pass: r.reload.ms - r.reload.fixtureStartMs < 1000 }
  ]
}

function table (r: Report): string {
  const f = (n: number, digits = 2) => Number.isFinite(n) ? n.toFixed(digits) : '-'
  const x = (a: number, b: number) => Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : '-'
  const rows: string[][] = [['', 'gateway', 'direct SDK', 'stdio floor', 'ceiling', 'gw/direct', 'gw/floor', 'gw/ceiling', 'floor/ceiling']]
  const add = (label: string, [g, d, fl, c]: number[], digits = 2) => rows.push([label, f(g, digits), f(d, digits), f(fl, digits), f(c, digits), x(g, d), x(g, fl), x(g, c), x(fl, c)])
  const { gateway: g, direct: d, floor: fl, ceiling: c } = r.calls
  const each = (pick: (t: Throughput) => number) => [g, d, fl, c].map(pick)
  add('tools/call 1 client   req/s', each((t) => t.sequential.rps), 0)
  add('tools/call 1 client   p50 ms', each((t) => t.sequential.p50))
  add('tools/call 1 client   p99 ms', each((t) => t.sequential.p99))
  add('tools/call 8x4        req/s', each((t) => t.concurrent.rps), 0)
  add('tools/call 8x4        p50 ms', each((t) => t.concurrent.p50))
  add('tools/call 8x4        p99 ms', each((t) => t.concurrent.p99))
  add('CPU per call at 8x4   µs', each((t) => t.cpuPerCallUs), 0)
  add('  with the backend    µs', each((t) => t.cpuPerCallWithBackendUs), 0)
  const lists = [r.toolsList.gateway, r.toolsList.direct, r.toolsList.floor, r.toolsList.ceiling]
  add('tools/list 1000 tools p50 ms', lists.map((l) => l?.p50 ?? NaN))
  add('tools/list 1000 tools p99 ms', lists.map((l) => l?.p99 ?? NaN))
  const mem = [r.memory.gateway, r.memory.direct, r.memory.floor, r.memory.ceiling]
  add('RSS after load        MB', mem.map((m) => m.idleMb), 0)
  add(`RSS ${IDLE_SESSIONS} sessions    MB`, mem.map((m) => m.withSessionsMb), 0)
  add('  per session         KB', mem.map((m) => m.perSessionKb), 1)
  add('start to /health/live ms', [r.startup.gateway.liveMs, r.startup.direct.liveMs, r.startup.floor.liveMs, r.startup.ceiling.liveMs], 0)
  const errors = [g, d, fl, c].flatMap((t) => [t.sequential, t.concurrent]).reduce((n, l) => n + l.errors, 0)
  const widths = rows[0].map((_h, i) => Math.max(...rows.map((row) => row[i].length)))
  const line = (row: string[]) => row.map((cell, i) => i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])).join('  ')
  const out = [
    '',
    `1MCP gateway benchmark (node ${r.machine.node}, ${r.machine.cpus} CPUs, load average ${r.machine.loadAverageAtStart.toFixed(1)} at start, ${r.durationSeconds} s;`,
    'loopback; 8x4 = 8 sessions x 4 calls in flight;',
    `gateway run ${flags.compiled ? 'from dist/ (npm run build)' : 'through tsx (as npm start runs it)'})`,
    '',
    line(rows[0]),
    ...rows.slice(1).map(line),
    '',
    `gateway with ${LIST_BACKENDS} stdio backends: /health/live after ${f(r.startup.gateway.liveMs20, 0)} ms, all ready after ${f(r.startup.gateway.allReadyMs20, 0)} ms`,
    `crash recovery (median of ${TRIALS}): SIGKILL to the in-flight call failing ${f(r.crash.detectMs, 1)} ms, to the next successful call ${f(r.crash.recoverMs, 0)} ms`,
    `  (that is the restart delay, 100 ms +-25% at the first failure, plus the server's own start: ${f(r.reload.fixtureStartMs, 0)} ms)`,
    `hot reload (median of ${TRIALS}): config saved to the new server's tools callable ${f(r.reload.ms, 0)} ms (the server's own start: ${f(r.reload.fixtureStartMs, 0)} ms;`,
    `  listed in /health after ${f(r.reload.seenMs, 0)} ms, ready after ${f(r.reload.readyMs, 0)} ms)`,
    `failed calls during load: ${errors}`,
    ...(['gateway', 'direct', 'floor', 'ceiling'] as Target[]).flatMap((t) => {
      const failed = [r.calls[t].sequential, r.calls[t].concurrent].find((l) => l.firstError)
      return failed ? [`  ${t}, first failure: ${failed.firstError}`] : []
    }),
    '',
    'targets:',
    ...targets(r).map((t) => `  ${t.pass ? 'PASS' : 'FAIL'}  ${t.target}: ${f(t.value)}`),
    `  (for scale: the stdio floor, a bare relay with no features, reached ${x(fl.concurrent.rps, c.concurrent.rps)} of the ceiling at 8x4,`,
    `   the gateway ${x(g.concurrent.rps, fl.concurrent.rps)} of the floor)`,
    ''
  ]
  return out.join('\n')
}

const onSignal = () => { void stopAll().finally(() => process.exit(130)) }
// every wait above is bounded; this bounds the whole run, whatever goes wrong
const WATCHDOG_MS = 300_000
setTimeout(() => {
  process.stderr.write(`bench: still running after ${WATCHDOG_MS / 1000} s; stopping\n`)
  void stopAll().finally(() => process.exit(1))
}, WATCHDOG_MS).unref()
process.once('SIGINT', onSignal)
process.once('SIGTERM', onSignal)
main().catch(async (err: Error) => {
  process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`)
  await stopAll()
  process.exitCode = 1
})
