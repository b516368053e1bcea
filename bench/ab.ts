/**
 * `npm run bench:ab -- DIR_A DIR_B [--reps N] [--calls N]`: the gateway's CPU time per call at 8x4 in two checkouts
 * (say, `git worktree add /tmp/before HEAD~3` against this one), in interleaved runs. Each gateway runs on
 * CPU 0 alone, its stdio backend and the load on CPU 1 (Linux `taskset`), so the figure is the gateway's
 * own work, not what it lost to the other processes; steadier than `npm run bench` for a before/after.
 * A checkout without node_modules uses this one's (a symlink is made). `--env-b KEY=VALUE` (repeatable) sets an
 * environment variable for the second gateway only: the same checkout twice, say, with tracing off and on.
 * `--alloc` also counts the KB each gateway allocates per call (bench/fixtures/alloc-meter.mjs): a figure that,
 * unlike CPU time on a shared machine, barely moves from run to run.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { McpHttp, median, runLoad, summarize } from './load.js'
import { fixtureServer, PROTECTION } from './fixture.js'
import { cpuMs, freePort, poll, start, stop, stopAll, timeToHttp } from './procs.js'

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)))
const { values: flags, positionals: dirs } = parseArgs({ options: { reps: { type: 'string' }, calls: { type: 'string' }, 'env-b': { type: 'string', multiple: true }, alloc: { type: 'boolean' } }, allowPositionals: true, strict: true })
const REPS = Number(flags.reps ?? 3)
/** calls measured per run (after as many again to warm up) */
const CALLS = Number(flags.calls ?? 25_000)
/** the environment of the second gateway, over this one's */
const ENV_B = Object.fromEntries((flags['env-b'] ?? []).map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]))

if (dirs.length !== 2 || !dirs.every((d) => existsSync(join(d, 'server.ts')))) {
  process.stderr.write('usage: npm run bench:ab -- DIR_A DIR_B [--reps N] [--calls N]   (two checkouts of the gateway)\n')
  process.exit(2)
}

const pin = (cpu: number, pid: number) => execFileSync('taskset', ['-pc', String(cpu), String(pid)])

/** One run: the gateway of `dir` under 8x4 load until CALLS calls; its CPU time per call in µs. */
async function run (dir: string, config: string, env: NodeJS.ProcessEnv): Promise<{ us: number, rps: number, kb?: number }> {
  const port = await freePort()
  const allocOut = join(config, '..', `alloc-${port}.json`)
  const meter = flags.alloc ? ['--import', join(ROOT, 'bench/fixtures/alloc-meter.mjs')] : []
  const gw = start('gateway', 'taskset', ['-c', '0', process.execPath, '--import', 'tsx', ...meter, join(dir, 'server.ts'), '--config', config, '--port', String(port), '--no-auth'], { cwd: dir, env: { ...env, ALLOC_METER_OUT: allocOut } })
  const client = new McpHttp(`http://127.0.0.1:${port}`, '/mcp', 40)
  try {
    await timeToHttp(gw, `http://127.0.0.1:${port}/health/live`)
    const sessions = await Promise.all(Array.from({ length: 8 }, () => client.initialize()))
    const backend = await poll(async () => Number(((await client.callTool(sessions[0], 'bench_1mcp_pid', {})) as { content: Array<{ text: string }> }).content[0].text), 'the backend')
    pin(1, backend)
    const workers = sessions.flatMap((s) => [s, s, s, s])
    const call = (sid: string) => client.callTool(sid, 'bench_1mcp_echo', { text: 'hello' })
    await runLoad({ workers, durationMs: 1500, maxCalls: CALLS, call })
    if (flags.alloc) process.kill(gw.child.pid!, 'SIGWINCH')
    const before = cpuMs(gw.child.pid!)
    const result = summarize([await runLoad({ workers, durationMs: 15_000, maxCalls: CALLS, call })])
    const us = (cpuMs(gw.child.pid!) - before) * 1000 / result.calls
    if (result.errors) throw new Error(`${result.errors} calls failed in ${dir}: ${result.firstError}`)
    if (!flags.alloc) return { us, rps: result.rps }
    process.kill(gw.child.pid!, 'SIGWINCH')
    const { bytes } = await poll(async () => JSON.parse(readFileSync(allocOut, 'utf8')) as { bytes: number }, 'the allocation count')
    return { us, rps: result.rps, kb: bytes / 1024 / result.calls }
  } finally {
    await client.close()
    await stop(gw)
  }
}

function printMedians (dir: string, us: number[], kb: number[]) {
  process.stdout.write(`${dir}: median ${median(us).toFixed(1)} µs of gateway CPU per call at 8x4  [${us.map((v) => v.toFixed(0)).join(' ')}]\n`)
  if (kb.length) process.stdout.write(`${dir}: median ${median(kb).toFixed(2)} KB allocated per call at 8x4  [${kb.map((v) => v.toFixed(2)).join(' ')}]\n`)
}

const allocated = (kb?: number) => kb === undefined ? '' : `, ${kb.toFixed(2)} KB allocated per call`

async function main () {
  pin(1, process.pid)
  const work = mkdtempSync(join(tmpdir(), '1mcp-ab-'))
  const config = join(work, 'config.json')
  writeFileSync(config, JSON.stringify({ mcpServers: { bench: fixtureServer('bench') }, ...PROTECTION }))
  for (const dir of dirs) if (!existsSync(join(dir, 'node_modules'))) symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
  const runs: number[][] = dirs.map(() => [])
  const kbs: number[][] = dirs.map(() => [])
  try {
    for (let rep = 0; rep < REPS; rep++) {
      for (const [i, dir] of dirs.entries()) {
        const { us, rps, kb } = await run(resolve(dir), config, i === 1 ? ENV_B : {})
        runs[i].push(us)
        if (kb !== undefined) kbs[i].push(kb)
        process.stderr.write(`  ${dir}${i === 1 && flags['env-b'] ? ' (env-b)' : ''}: ${us.toFixed(1)} µs per call (${Math.round(rps)} req/s)${allocated(kb)}\n`)
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
  for (const [i, dir] of dirs.entries()) printMedians(dir, runs[i], kbs[i])
}

const WATCHDOG_MS = 600_000
setTimeout(() => { process.stderr.write('bench:ab: still running after 10 minutes; stopping\n'); void stopAll().finally(() => process.exit(1)) }, WATCHDOG_MS).unref()
process.once('SIGINT', () => { void stopAll().finally(() => process.exit(130)) })
main().catch(async (err: Error) => {
  process.stderr.write(`bench:ab failed: ${err.stack ?? err.message}\n`)
  await stopAll()
  process.exitCode = 1
})
