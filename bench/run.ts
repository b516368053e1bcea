/**
 * `npm run bench`: the gateway measured against (a) the same fixture served directly over Streamable
 * HTTP by the SDK and (b) a bare Fastify route answering JSON-RPC at once (the ceiling of one HTTP
 * hop), all in the same run, on loopback, with real processes. See docs/benchmark.md.
 *
 *   npm run bench [-- --json] [-- --quick] [-- --profile DIR] [-- --log-level LEVEL] [-- --calls-only] [-- --replicas-only] [-- --instances-only] [-- --source]
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { McpHttp, median } from './load.js'
import { FIXTURE, fixtureServer, PROTECTION } from './fixture.js'
import { freePort, poll, rssMb, start, stop, stopAll, timeToHttp, type Proc } from './procs.js'
import { flags, IDLE_SESSIONS, LIST_BACKENDS, progress, TOOLS_PER_BACKEND, TRIALS, type Target } from './options.js'
import { idleSessions, listLatency, throughput, type Endpoint, type Memory } from './measure.js'
import { crashTrial, fixtureStartMs, reloadTrial, type CrashTrial, type ReloadTrial } from './trials.js'
import { table, targets } from './report.js'
import { replicaBench, replicaLines, type Launch } from './replicas.js'
import { instancesBench, instancesLines } from './instances.js'
import { discoveryBench } from './discovery.js'

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)))
const CEILING = join(ROOT, 'bench/fixtures/ceiling.mjs')
const FLOOR = join(ROOT, 'bench/fixtures/proxy-floor.mjs')

async function startGateway (name: string, configPath: string, profileDir?: string) {
  const port = await freePort()
  const nodeArgs = profileDir ? ['--cpu-prof', '--cpu-prof-interval', '250', '--cpu-prof-dir', profileDir] : []
  const cli = ['serve', '--config', configPath, '--port', String(port), '--no-auth']
  if (flags['log-level']) cli.push('--log-level', flags['log-level'])
  // as `npm start` runs it (the compiled CLI from dist/, built in main()), or as `npm run dev` does with --source
  const entry = flags.source ? ['bin/1mcp.mjs', ...cli] : ['bin/1mcp.mjs', '--dist', ...cli]
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

/** The gateway runs as `npm start` does, from dist/: built first from these sources, as `npm install` does. */
function build () {
  if (flags.source) return
  progress('building dist/ (npm run build, as npm install does through prepare)')
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] })
}

async function main () {
  build()
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
    // RSS started and idle (one session, its backend ready, before any load)
    const beforeLoad = Object.fromEntries(endpoints.map((ep) => [ep.target, rssMb(ep.proc.child.pid!)])) as Record<Target, number>
    const calls = await throughput(endpoints)
    const memory = {} as Record<Target, Memory>
    for (const ep of endpoints) memory[ep.target] = { beforeLoadMb: beforeLoad[ep.target], ...await idleSessions(ep) }
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

    const replicas = await replicaBench((name, config) => startGateway(name, config), dir)
    const instances = await instancesBench((name, config) => startGateway(name, config), dir)

    const report = {
      replicas,
      instances,
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
    else process.stdout.write(table(report) + replicaLines(replicas) + instancesLines(instances))
  } finally {
    await Promise.all(endpoints.map((ep) => ep.client.close().catch(() => {})))
    await stopAll()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** One part alone (`--replicas-only`, `--instances-only`): its JSON under `key`, or its lines. */
async function only<R> (key: string, bench: (launch: Launch, dir: string) => Promise<R>, lines: (r: R) => string) {
  const dir = mkdtempSync(join(tmpdir(), '1mcp-bench-'))
  try {
    const result = await bench((name, config) => startGateway(name, config), dir)
    process.stdout.write(flags.json ? JSON.stringify({ [key]: result }, null, 2) + '\n' : lines(result))
  } finally {
    await stopAll()
    rmSync(dir, { recursive: true, force: true })
  }
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
// progressive tool discovery last (its own JSON: npm run bench:discovery -- --json)
;(flags['replicas-only'] ? only('replicas', replicaBench, replicaLines) : flags['instances-only'] ? only('instances', instancesBench, instancesLines) : main().then(() => flags.json || flags['calls-only'] || process.exitCode ? undefined : discoveryBench())).catch(async (err: Error) => {
  process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`)
  await stopAll()
  process.exitCode = 1
})
