/** The load measurements: tools/call throughput and CPU, memory with idle sessions, tools/list latency. */
import { setTimeout as sleep } from 'node:timers/promises'
import { runLoad, summarize, type LoadResult, type McpHttp, type Sample } from './load.js'
import { cpuMs, rssMb, type Proc } from './procs.js'
import { CONCURRENT_MS, flags, IDLE_SESSIONS, LIST_MS, progress, ROUNDS, SEQUENTIAL_MS, WARMUP_MS, type Target } from './options.js'

export interface Endpoint {
  target: Target
  proc: Proc
  client: McpHttp
  /** the name the echo tool has at this endpoint */
  echo: string
  /** the stdio backend behind a gateway (or the floor) */
  backendPid?: number
}

export interface Throughput {
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
export async function throughput (eps: Endpoint[]): Promise<Record<Target, Throughput>> {
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

/** RSS before any load (started, backend ready), after the load (`idleMb`), and with IDLE_SESSIONS sessions open */
export interface Memory { beforeLoadMb?: number, idleMb: number, withSessionsMb: number, perSessionKb: number }

export async function idleSessions (ep: Endpoint): Promise<Memory> {
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
export async function listLatency (eps: Endpoint[], expected: number): Promise<Record<Target, LoadResult>> {
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
