#!/usr/bin/env node
// Runs the official MCP conformance suite (server scenarios, `--suite all`) against the gateway, with
// test/fixtures/conformance-server.mjs as its one backend, at /mcp/conformance.
//
//   npm run conformance                      # through the gateway
//   npm run conformance -- --direct          # the fixture alone, over test/fixtures/serve-http.mjs
//   npm run conformance -- --scenario tools-call-sampling
//
// The suite needs Node >= 22; it and a Node 22 binary (the npm registry's node-<os>-<arch> package)
// are installed once into a cache outside the repository: $CONFORMANCE_CACHE, else
// $XDG_CACHE_HOME/1mcp-conformance, else ~/.cache/1mcp-conformance. The gateway itself runs on the
// Node running this script. Prints the suite's summary and its `Total:` line, then each failed check;
// exits non-zero on any failure. Everything it starts is stopped before it exits, within bounded time.
import { spawn, execFileSync } from 'node:child_process'
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const FIXTURE = join(ROOT, 'test/fixtures/conformance-server.mjs')
const SERVE_HTTP = join(ROOT, 'test/fixtures/serve-http.mjs')
const SUITE_VERSION = process.env.CONFORMANCE_SUITE_VERSION ?? '0.1.16'
const NODE_MAJOR = '22'
const SUITE_TIMEOUT_MS = Number(process.env.CONFORMANCE_TIMEOUT_MS ?? 600_000)
const START_TIMEOUT_MS = 60_000
const STOP_GRACE_MS = 20_000 // above the gateway's own drain of calls in flight

const { values: options } = parseArgs({
  options: {
    direct: { type: 'boolean', default: false },
    scenario: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false }
  }
})
if (options.help) {
  process.stdout.write('usage: node scripts/conformance.mjs [--direct] [--scenario NAME]\n')
  process.exit(0)
}

const say = (line) => process.stderr.write(`conformance: ${line}\n`)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function cacheDir () {
  if (process.env.CONFORMANCE_CACHE) return resolve(process.env.CONFORMANCE_CACHE)
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), '1mcp-conformance')
}

function nodePackage () {
  const os = { linux: 'linux', darwin: 'darwin' }[process.platform]
  const arch = { x64: 'x64', arm64: 'arm64' }[process.arch]
  if (!os || !arch) throw new Error(`no Node ${NODE_MAJOR} package for ${process.platform}-${process.arch}`)
  return `node-${os}-${arch}`
}

/** Installs the suite and Node 22 once into the cache; returns their paths. */
function ensureSuite () {
  const pkg = nodePackage()
  const dir = join(cacheDir(), `suite-${SUITE_VERSION}-node${NODE_MAJOR}`)
  const paths = {
    node: join(dir, 'node_modules', pkg, 'bin', 'node'),
    cli: join(dir, 'node_modules/@modelcontextprotocol/conformance/dist/index.js')
  }
  if (existsSync(join(dir, '.ready'))) return paths
  say(`installing @modelcontextprotocol/conformance@${SUITE_VERSION} and ${pkg}@${NODE_MAJOR} into ${dir}`)
  mkdirSync(dirname(dir), { recursive: true })
  const staging = mkdtempSync(`${dir}.tmp-`)
  try {
    writeFileSync(join(staging, 'package.json'), JSON.stringify({ name: 'conformance-runner', private: true }) + '\n')
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', `@modelcontextprotocol/conformance@${SUITE_VERSION}`, `${pkg}@${NODE_MAJOR}`], {
      cwd: staging, stdio: ['ignore', 'inherit', 'inherit'], timeout: 600_000
    })
    const version = execFileSync(join(staging, 'node_modules', pkg, 'bin', 'node'), ['--version'], { encoding: 'utf8' }).trim()
    if (!version.startsWith(`v${NODE_MAJOR}.`)) throw new Error(`${pkg} gave Node ${version}, not ${NODE_MAJOR}`)
    writeFileSync(join(staging, '.ready'), `${version}\n`)
    rmSync(dir, { recursive: true, force: true })
    renameSync(staging, dir)
  } finally {
    rmSync(staging, { recursive: true, force: true })
  }
  return paths
}

/** Every child still running, stopped (newest first) before the script exits. */
const children = new Set()

/** A child in its own process group (so stopping it stops what it started), its output to `logFile`. */
function startProcess (command, args, logFile, extra = {}) {
  const child = spawn(command, args, { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'], ...extra })
  children.add(child)
  const log = createWriteStream(logFile)
  const lines = []
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      log.write(line + '\n')
      lines.push(line)
      child.emit('line', line)
    })
  }
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  child.exited.then(() => { children.delete(child); log.end() })
  child.lines = lines
  return child
}

/** Stops a process group: SIGTERM, then SIGKILL after a grace period. */
async function stopProcess (child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return
  const group = (signal) => { try { process.kill(-child.pid, signal) } catch {} }
  group('SIGTERM')
  const timer = sleep(STOP_GRACE_MS).then(() => 'timeout')
  if (await Promise.race([child.exited, timer]) === 'timeout') {
    say(`pid ${child.pid} did not stop within ${STOP_GRACE_MS} ms; killing it`)
    group('SIGKILL')
    await child.exited
  }
  group('SIGKILL') // anything left in the group (a backend that outlived the gateway)
}

/** Resolves with the first capture of `pattern` in the child's output. */
function waitForLine (child, pattern, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`${what}: nothing within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS)
    const onLine = (line) => { const m = pattern.exec(line); if (m) finish(null, m[1]) }
    const onExit = ({ code, signal }) => finish(new Error(`${what}: exited (${signal ?? code}) before it was ready`))
    function finish (err, value) {
      clearTimeout(timer)
      child.off('line', onLine)
      if (err) reject(err)
      else resolve(value)
    }
    for (const line of child.lines) { const m = pattern.exec(line); if (m) { clearTimeout(timer); return resolve(m[1]) } }
    child.on('line', onLine)
    child.exited.then(onExit)
  })
}

/** Waits until the gateway's `conformance` backend is ready and its tools are indexed. */
async function waitForBackend (base) {
  const deadline = Date.now() + START_TIMEOUT_MS
  let last = 'no answer'
  while (Date.now() < deadline) {
    try {
      const report = await (await fetch(`${base}/health`)).json()
      const backend = report.backends?.find((b) => b.name === 'conformance')
      if (backend?.state === 'ready' && backend.tools > 0) return
      last = JSON.stringify(backend ?? report)
    } catch (err) {
      last = err.message
    }
    await sleep(100)
  }
  throw new Error(`the conformance backend did not become ready within ${START_TIMEOUT_MS} ms (last: ${last})`)
}

async function startGateway (work) {
  const config = join(work, 'gateway.json')
  writeFileSync(config, JSON.stringify({ mcpServers: { conformance: { command: process.execPath, args: [FIXTURE] } } }, null, 2))
  const gateway = startProcess(process.execPath, ['--import', 'tsx', 'server.ts', '--config', config, '--port', '0', '--host', '127.0.0.1', '--no-auth'], join(work, 'gateway.log'))
  const base = await waitForLine(gateway, /Server listening at (http:\/\/127\.0\.0\.1:\d+)/, 'the gateway')
  await waitForBackend(base)
  return { child: gateway, url: `${base}/mcp/conformance` }
}

async function startDirect (work) {
  const server = startProcess(process.execPath, [SERVE_HTTP, FIXTURE, '--port', '0'], join(work, 'fixture.log'))
  return { child: server, url: await waitForLine(server, /listening on (\S+)/, 'the fixture') }
}

/** Every failed check the suite wrote to `outDir`, as `scenario / check: message` lines. */
function failedChecks (outDir) {
  if (!existsSync(outDir)) return []
  const failed = []
  for (const entry of readdirSync(outDir).sort()) {
    const file = join(outDir, entry, 'checks.json')
    if (!existsSync(file)) continue
    const scenario = entry.replace(/^server-/, '').replace(/-\d{4}-\d\d-\d\dT.*$/, '')
    for (const check of JSON.parse(readFileSync(file, 'utf8'))) {
      if (check.status === 'FAILURE') failed.push(`${scenario} / ${check.id}: ${check.errorMessage ?? check.description}`)
    }
  }
  return failed
}

async function runSuite (suite, url, work) {
  const outDir = join(work, 'results')
  const selection = options.scenario ? ['--scenario', options.scenario] : ['--suite', 'all']
  const env = { ...process.env, PATH: `${dirname(suite.node)}:${process.env.PATH ?? ''}` }
  const run = startProcess(suite.node, [suite.cli, 'server', '--url', url, ...selection, '-o', outDir], join(work, 'suite.log'), { env })
  const timer = setTimeout(() => { say(`the suite ran past ${SUITE_TIMEOUT_MS} ms; stopping it`); void stopProcess(run) }, SUITE_TIMEOUT_MS)
  const { code, signal } = await run.exited
  clearTimeout(timer)
  const counts = report(run.lines, outDir)
  const ok = code === 0 && counts !== undefined && Number(counts[1]) > 0 && Number(counts[2]) === 0
  if (!ok && !counts) say(`the suite ended (${signal ?? code}) without a result line`)
  return ok
}

/** Prints the suite's summary and failed checks; returns its `passed, failed` counts, if it printed them. */
function report (lines, outDir) {
  const summary = lines.indexOf('=== SUMMARY ===')
  const shown = summary >= 0 ? lines.slice(summary) : lines.filter((l) => /passed|failed|Error/i.test(l))
  process.stdout.write(shown.join('\n') + '\n')
  const failures = failedChecks(outDir)
  if (failures.length) process.stdout.write(`\nFailed checks:\n${failures.map((f) => `  ✗ ${f}`).join('\n')}\n`)
  const total = lines.map((l) => /^Total: (\d+) passed, (\d+) failed/.exec(l)).find(Boolean)
  return total ?? lines.map((l) => /^Passed: (\d+)\/\d+, (\d+) failed/.exec(l)).find(Boolean)
}

const work = mkdtempSync(join(tmpdir(), '1mcp-conformance-'))
async function cleanup () {
  for (const child of [...children].reverse()) await stopProcess(child)
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    say(`${signal}: stopping what was started`)
    void cleanup().finally(() => process.exit(130))
  })
}

let ok = false
try {
  const suite = ensureSuite()
  const target = options.direct ? await startDirect(work) : await startGateway(work)
  say(`running the suite against ${target.url}`)
  ok = await runSuite(suite, target.url, work)
} catch (err) {
  say(`error: ${err.message}`)
} finally {
  await cleanup()
}
if (ok) {
  rmSync(work, { recursive: true, force: true })
} else {
  say(`FAILED; logs and per-check results kept in ${work}`)
  process.exitCode = 1
}
