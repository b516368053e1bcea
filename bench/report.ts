/** The benchmark's report: the targets it checks and the table it prints. */
import type { LoadResult } from './load.js'
import type { Memory, Throughput } from './measure.js'
import { flags, IDLE_SESSIONS, LIST_BACKENDS, TRIALS, type Target } from './options.js'

export type Report = {
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

export function targets (r: Report) {
  const gw = r.calls.gateway
  return [
    { target: 'throughput 8x4 >= 0.5x ceiling', value: gw.concurrent.rps / r.calls.ceiling.concurrent.rps, limit: 0.5, pass: gw.concurrent.rps >= 0.5 * r.calls.ceiling.concurrent.rps },
    { target: 'throughput 8x4 > direct SDK server', value: gw.concurrent.rps / r.calls.direct.concurrent.rps, limit: 1, pass: gw.concurrent.rps > r.calls.direct.concurrent.rps },
    { target: 'added p50, sequential (gateway - direct) <= 1 ms', value: gw.sequential.p50 - r.calls.direct.sequential.p50, limit: 1, pass: gw.sequential.p50 - r.calls.direct.sequential.p50 <= 1 },
    { target: 'tools/list of 1,000 tools p50 <= 2 ms', value: r.toolsList.gateway.p50, limit: 2, pass: r.toolsList.gateway.p50 <= 2 },
    { target: 'crash: SIGKILL to next successful call < 5 s', value: r.crash.recoverMs, limit: 5000, pass: r.crash.recoverMs < 5000 },
    // the lean-runtime targets (issue 25): the gateway against the bare stdio relay of the same run
    { target: 'start to /health/live (npm start) <= 2x the stdio floor\'s', value: r.startup.gateway.liveMs / r.startup.floor.liveMs, limit: 2, pass: r.startup.gateway.liveMs <= 2 * r.startup.floor.liveMs },
    { target: 'RSS after load <= 1.5x the stdio floor\'s', value: r.memory.gateway.idleMb / r.memory.floor.idleMb, limit: 1.5, pass: r.memory.gateway.idleMb <= 1.5 * r.memory.floor.idleMb },
    { target: 'throughput 8x4 >= 0.95x the stdio floor', value: gw.concurrent.rps / r.calls.floor.concurrent.rps, limit: 0.95, pass: gw.concurrent.rps >= 0.95 * r.calls.floor.concurrent.rps },
    { target: 'sequential p50 <= 1.15x the stdio floor\'s', value: gw.sequential.p50 / r.calls.floor.sequential.p50, limit: 1.15, pass: gw.sequential.p50 <= 1.15 * r.calls.floor.sequential.p50 },
    { target: 'reload: save to callable < own start + 1 s', value: r.reload.ms - r.reload.fixtureStartMs, limit: 1000, pass: r.reload.ms - r.reload.fixtureStartMs < 1000 }
  ]
}

export function table (r: Report): string {
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
  add('RSS idle, before load MB', mem.map((m) => m.beforeLoadMb ?? NaN), 0)
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
    `gateway run ${flags.source ? 'from the sources through tsx (as npm run dev runs it)' : 'from dist/ (as npm start runs it)'})`,
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
