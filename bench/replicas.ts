/**
 * Replicas and breakers (issue 23): a CPU-bound tool (~2 ms of CPU a call, the test fixture's `burn`)
 * through the gateway at `replicas: 1` and `replicas: 2`, and how fast a call fails while a dead
 * remote's circuit breaker is open.
 */
import { writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { McpHttp, quantile, runLoad, summarize, type LoadResult } from './load.js'
import { PROTECTION } from './fixture.js'
import { freePort, poll, start, stop, type Proc } from './procs.js'
import { CONCURRENT_MS, progress } from './options.js'

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)))
const ECHO = join(ROOT, 'test/fixtures/echo-server.mjs')
const HTTP_ECHO = join(ROOT, 'test/fixtures/http-echo.mjs')
const WORKERS = 8
const FAIL_FAST_CALLS = 500

export type Launch = (name: string, configPath: string) => Promise<{ proc: Proc, origin: string }>

export interface ReplicaReport {
  cpuTool: { one: LoadResult, two: LoadResult, ratio: number }
  breakerOpen: { calls: number, allFailedFast: boolean, p50Ms: number, p99Ms: number }
}

/** Calls/s of `burn` over WORKERS sessions against a gateway whose one server has `replicas` replicas. */
async function cpuThroughput (launch: Launch, dir: string, replicas: number): Promise<LoadResult> {
  const config = join(dir, `replicas-${replicas}.json`)
  writeFileSync(config, JSON.stringify({ mcpServers: { cpu: { command: process.execPath, args: [ECHO], env: { FIXTURE_NAME: 'cpu' }, replicas } }, ...PROTECTION }))
  const gw = await launch(`gateway-replicas-${replicas}`, config)
  const client = new McpHttp(gw.origin, '/mcp', WORKERS)
  try {
    await poll(async () => {
      const health = await (await fetch(`${gw.origin}/health`)).json() as { backends: Array<{ tools: number, replicas: Array<{ state: string }> }> }
      return health.backends[0]?.tools && health.backends[0].replicas.every((r) => r.state === 'ready') ? true : undefined
    }, `${replicas} replicas ready`)
    const sessions = await Promise.all(Array.from({ length: WORKERS }, () => client.initialize()))
    const call = (sid: string) => client.callTool(sid, 'cpu_1mcp_burn', { ms: 2 })
    await runLoad({ workers: sessions, durationMs: 500, maxCalls: 100_000, call })
    return summarize([await runLoad({ workers: sessions, durationMs: CONCURRENT_MS * 2, maxCalls: 1_000_000, call })])
  } finally {
    await client.close()
    await stop(gw.proc)
  }
}

/** Latency of calls to a remote that died, once its breaker is open (halfOpenAfterMs is long: it stays open). */
async function breakerFailFast (launch: Launch, dir: string): Promise<ReplicaReport['breakerOpen']> {
  const port = await freePort()
  const remote = start('remote', process.execPath, [HTTP_ECHO], { env: { ...process.env, PORT: String(port) } })
  await poll(async () => (await fetch(`http://127.0.0.1:${port}/mcp`, { method: 'GET' }).then(() => true, () => undefined)), 'the remote to listen')
  const config = join(dir, 'breaker.json')
  writeFileSync(config, JSON.stringify({ mcpServers: { remote: { url: `http://127.0.0.1:${port}/mcp`, pingInterval: 0, breaker: { consecutiveFailures: 3, halfOpenAfterMs: 600_000 } } }, ...PROTECTION }))
  const gw = await launch('gateway-breaker', config)
  const client = new McpHttp(gw.origin, '/mcp', 1)
  try {
    await poll(async () => {
      const health = await (await fetch(`${gw.origin}/health`)).json() as { backends: Array<{ tools: number }> }
      return health.backends[0]?.tools ? true : undefined
    }, 'the remote indexed')
    const sid = await client.initialize()
    await stop(remote, 0)
    const attempt = async () => {
      const t0 = performance.now()
      const message = await client.callTool(sid, 'remote_1mcp_echo', { text: 'x' }).then(() => 'answered', (e: Error) => e.message)
      return { ms: performance.now() - t0, open: /circuit breaker is open/.test(message) }
    }
    for (let i = 0; i < 3; i++) await attempt()
    const samples = []
    for (let i = 0; i < FAIL_FAST_CALLS; i++) samples.push(await attempt())
    const sorted = Float64Array.from(samples.map((s) => s.ms)).sort()
    return { calls: samples.length, allFailedFast: samples.every((s) => s.open), p50Ms: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99) }
  } finally {
    await client.close()
    await stop(gw.proc)
  }
}

export async function replicaBench (launch: Launch, dir: string): Promise<ReplicaReport> {
  progress('replicas: a ~2 ms CPU tool at replicas 1 and 2; then a dead remote behind its open breaker')
  const one = await cpuThroughput(launch, dir, 1)
  const two = await cpuThroughput(launch, dir, 2)
  const breakerOpen = await breakerFailFast(launch, dir)
  return { cpuTool: { one, two, ratio: two.rps / one.rps }, breakerOpen }
}

export function replicaLines (r: ReplicaReport): string {
  const { one, two, ratio } = r.cpuTool
  return [
    '',
    `replicas, ~2 ms CPU tool, ${WORKERS} sessions: 1 replica ${one.rps.toFixed(0)} calls/s (p50 ${one.p50.toFixed(1)} ms), 2 replicas ${two.rps.toFixed(0)} calls/s (p50 ${two.p50.toFixed(1)} ms): ${ratio.toFixed(2)}x; errors ${one.errors + two.errors}`,
    `breaker open on a dead remote, ${r.breakerOpen.calls} calls: ${r.breakerOpen.allFailedFast ? 'all' : 'NOT all'} failed fast, p50 ${r.breakerOpen.p50Ms.toFixed(2)} ms, p99 ${r.breakerOpen.p99Ms.toFixed(2)} ms`,
    ''
  ].join('\n')
}
