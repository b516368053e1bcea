#!/usr/bin/env node
// Runs the official MCP conformance suite (server scenarios) against the gateway, for both protocol
// generations, with our own fixture backends (one per generation):
//
//   run      suite                       scenarios                              target
//   legacy   0.1.16                      --suite all                            /mcp/conformance       (v1 fixture)
//   2025     0.2.0-alpha.12              --spec-version 2025-11-25 --suite all  /mcp/conformance       (v1 fixture)
//   2026     0.2.0-alpha.12              --spec-version 2026-07-28 --suite all  /mcp/conformance-2026  (v2 fixture)
//   2025x    (with --cross) as 2025,     against                                /mcp/conformance-2026  (a 2025 client, a 2026 backend)
//   ext      (with --extensions) 0.2.0-alpha.12, each [extension] scenario      /mcp/conformance-2026  (tasks-*, sep-2640-skills-*)
//
// The v1 fixture is test/fixtures/conformance-server.mjs (SDK 1.x, 2025-era), the v2 fixture
// test/fixtures/conformance-server-2026.mjs (`@modelcontextprotocol/server` 2.x; it serves both eras).
//
//   npm run conformance                               # legacy, 2025 and 2026 through one gateway
//   npm run conformance -- --cross --extensions       # and 2025x and ext
//   npm run conformance -- --direct                   # the fixtures alone, over test/fixtures/serve-http.mjs
//   npm run conformance -- --spec 2026-07-28          # only the runs of one generation (legacy counts as 2025)
//   npm run conformance -- --run legacy,2026          # only the named runs
//   npm run conformance -- --requirements             # the frozen required sets (--requirements REV) instead of --suite all
//   npm run conformance -- --scenario tools-call-sampling --run 2025
//   npm run conformance -- --suite-version 0.2.0-alpha.13 --legacy-suite-version 0.1.16
//
// The suite needs Node >= 22; each suite version and a Node 22 binary (the npm registry's
// node-<os>-<arch> package) are installed once into a cache outside the repository, one folder per
// suite version: $CONFORMANCE_CACHE, else $XDG_CACHE_HOME/1mcp-conformance, else
// ~/.cache/1mcp-conformance. The gateway runs on the Node running this script. Prints each run's
// summary, its `Total:` line and failed checks, then every run's `Total:` line with its label; exits
// non-zero on any failure. Everything it starts is stopped before it exits, within bounded time.
import { spawn, execFileSync } from 'node:child_process'
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const SERVE_HTTP = join(ROOT, 'test/fixtures/serve-http.mjs')
/** The fixture backends, by the gateway server name each gets. */
const FIXTURES = {
  conformance: join(ROOT, 'test/fixtures/conformance-server.mjs'),
  'conformance-2026': join(ROOT, 'test/fixtures/conformance-server-2026.mjs')
}
const NODE_MAJOR = '22'
const SUITE_TIMEOUT_MS = Number(process.env.CONFORMANCE_TIMEOUT_MS ?? 600_000)
const START_TIMEOUT_MS = 60_000
const STOP_GRACE_MS = 20_000 // above the gateway's own drain of calls in flight

const { values: options } = parseArgs({
  options: {
    direct: { type: 'boolean', default: false },
    scenario: { type: 'string' },
    run: { type: 'string' },
    spec: { type: 'string' },
    cross: { type: 'boolean', default: false },
    extensions: { type: 'boolean', default: false },
    requirements: { type: 'boolean', default: false },
    'suite-version': { type: 'string', default: process.env.CONFORMANCE_SUITE_VERSION ?? '0.2.0-alpha.12' },
    'legacy-suite-version': { type: 'string', default: process.env.CONFORMANCE_LEGACY_SUITE_VERSION ?? '0.1.16' },
    help: { type: 'boolean', short: 'h', default: false }
  }
})
if (options.help) {
  process.stdout.write('usage: node scripts/conformance.mjs [--direct] [--run legacy,2025,2026,2025x,ext] [--spec 2025-11-25|2026-07-28]\n' +
    '         [--cross] [--extensions] [--requirements] [--scenario NAME] [--suite-version V] [--legacy-suite-version V]\n')
  process.exit(0)
}

/**
 * Every run the script knows. `spec` is the protocol revision the run's client speaks; `server` the
 * gateway server (and fixture) it targets; `legacy` runs use the 0.1 suite, which has no revisions.
 */
const RUNS = [
  { id: 'legacy', spec: '2025-11-25', server: 'conformance', legacy: true },
  { id: '2025', spec: '2025-11-25', server: 'conformance' },
  { id: '2026', spec: '2026-07-28', server: 'conformance-2026' },
  { id: '2025x', spec: '2025-11-25', server: 'conformance-2026', cross: true },
  { id: 'ext', spec: '2026-07-28', server: 'conformance-2026', extensions: true }
]

function selectRuns () {
  const named = options.run?.split(',').map((id) => id.trim()).filter(Boolean)
  for (const id of named ?? []) {
    if (!RUNS.some((run) => run.id === id)) throw new Error(`unknown run ${id} (known: ${RUNS.map((r) => r.id).join(', ')})`)
  }
  if (options.spec && !RUNS.some((run) => run.spec === options.spec)) throw new Error(`unknown --spec ${options.spec} (2025-11-25 or 2026-07-28)`)
  const optional = (run) => (run.cross && !options.cross) || (run.extensions && !options.extensions)
  return RUNS.filter((run) => named ? named.includes(run.id) : !optional(run))
    .filter((run) => !options.spec || run.spec === options.spec)
    .map((run) => ({ ...run, suiteVersion: run.legacy ? options['legacy-suite-version'] : options['suite-version'] }))
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

/** Installs a suite version and Node 22 once into the cache (one folder per version); returns their paths. */
function ensureSuite (version) {
  const pkg = nodePackage()
  const dir = join(cacheDir(), `suite-${version}-node${NODE_MAJOR}`)
  const paths = {
    node: join(dir, 'node_modules', pkg, 'bin', 'node'),
    cli: join(dir, 'node_modules/@modelcontextprotocol/conformance/dist/index.js')
  }
  if (existsSync(join(dir, '.ready'))) return paths
  say(`installing @modelcontextprotocol/conformance@${version} and ${pkg}@${NODE_MAJOR} into ${dir}`)
  mkdirSync(dirname(dir), { recursive: true })
  const staging = mkdtempSync(`${dir}.tmp-`)
  try {
    writeFileSync(join(staging, 'package.json'), JSON.stringify({ name: 'conformance-runner', private: true }) + '\n')
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', `@modelcontextprotocol/conformance@${version}`, `${pkg}@${NODE_MAJOR}`], {
      cwd: staging, stdio: ['ignore', 'inherit', 'inherit'], timeout: 600_000
    })
    const nodeVersion = execFileSync(join(staging, 'node_modules', pkg, 'bin', 'node'), ['--version'], { encoding: 'utf8' }).trim()
    if (!nodeVersion.startsWith(`v${NODE_MAJOR}.`)) throw new Error(`${pkg} gave Node ${nodeVersion}, not ${NODE_MAJOR}`)
    writeFileSync(join(staging, '.ready'), `${nodeVersion}\n`)
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

/** Waits until each named gateway backend is ready and its tools are indexed. */
async function waitForBackends (base, names) {
  const deadline = Date.now() + START_TIMEOUT_MS
  let last = 'no answer'
  while (Date.now() < deadline) {
    try {
      const report = await (await fetch(`${base}/health`)).json()
      const backends = names.map((name) => report.backends?.find((b) => b.name === name))
      if (backends.every((backend) => backend?.state === 'ready' && backend.tools > 0)) return
      last = JSON.stringify(backends.map((backend, i) => backend ?? `${names[i]}: absent`))
    } catch (err) {
      last = err.message
    }
    await sleep(100)
  }
  throw new Error(`the backends ${names.join(', ')} did not become ready within ${START_TIMEOUT_MS} ms (last: ${last})`)
}

/** One gateway whose backends are the fixtures `names`; resolves with the URL of each at /mcp/<name>. */
async function startGateway (work, names) {
  const config = join(work, 'gateway.json')
  const mcpServers = Object.fromEntries(names.map((name) => [name, { command: process.execPath, args: [FIXTURES[name]] }]))
  writeFileSync(config, JSON.stringify({ mcpServers }, null, 2))
  const gateway = startProcess(process.execPath, ['--import', 'tsx', 'server.ts', '--config', config, '--port', '0', '--host', '127.0.0.1', '--no-auth'], join(work, 'gateway.log'))
  const base = await waitForLine(gateway, /Server listening at (http:\/\/127\.0\.0\.1:\d+)/, 'the gateway')
  await waitForBackends(base, names)
  return Object.fromEntries(names.map((name) => [name, `${base}/mcp/${name}`]))
}

/** Each fixture `names` alone over Streamable HTTP; resolves with the URL of each. */
async function startDirect (work, names) {
  const urls = {}
  for (const name of names) {
    const server = startProcess(process.execPath, [SERVE_HTTP, FIXTURES[name], '--port', '0'], join(work, `fixture-${name}.log`))
    urls[name] = await waitForLine(server, /listening on (\S+)/, `the fixture ${name}`)
  }
  return urls
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

/** The suite's arguments that pick the scenarios of `run`. */
function selection (run) {
  if (run.extensions) return ['--scenario', options.scenario ?? '<each [extension] scenario>']
  if (run.legacy) return options.scenario ? ['--scenario', options.scenario] : ['--suite', 'all']
  if (options.scenario) return ['--scenario', options.scenario, '--spec-version', run.spec]
  if (options.requirements) return ['--requirements', run.spec]
  return ['--spec-version', run.spec, '--suite', 'all']
}

const label = (run, url) => `${run.id}: suite ${run.suiteVersion} ${selection(run).join(' ')} @ ` +
  (options.direct ? `${FIXTURES[run.server].slice(ROOT.length + 1)} alone` : new URL(url).pathname)

/**
 * Runs the suite for `run` against `url`; prints its summary and failed checks; resolves with its
 * label, its `Total:` line and whether it passed.
 */
async function runSuite (run, url, work) {
  if (run.extensions && !options.scenario) return runExtensions(run, url, work)
  const suite = ensureSuite(run.suiteVersion)
  const outDir = join(work, `results-${run.id}`)
  const name = label(run, url)
  process.stdout.write(`\n##### ${name}\n`)
  const { code, signal, lines } = await suiteProcess(suite, ['--url', url, ...selection(run), '-o', outDir], join(work, `suite-${run.id}.log`), run.id)
  const counts = report(lines, outDir)
  if (!counts) say(`${run.id}: the suite ended (${signal ?? code}) without a result line`)
  return { name, total: counts?.[0] ?? `no Total line (exit ${signal ?? code})`, ok: passed(code, counts) }
}

/** The suite's extension scenarios (`list --server` marks them `[extension]`). */
function extensionScenarios (suite) {
  const listing = execFileSync(suite.node, [suite.cli, 'list', '--server'], { encoding: 'utf8', timeout: 60_000 })
  return listing.split('\n').map((line) => /^\s*-\s+(\S+)\s+\[extension\]/.exec(line)?.[1]).filter(Boolean)
}

/** Runs the suite once with `args`, bounded by SUITE_TIMEOUT_MS; resolves with its exit and output lines. */
async function suiteProcess (suite, args, logFile, what) {
  const env = { ...process.env, PATH: `${dirname(suite.node)}:${process.env.PATH ?? ''}` }
  const child = startProcess(suite.node, [suite.cli, 'server', ...args], logFile, { env })
  const timer = setTimeout(() => { say(`${what}: the suite ran past ${SUITE_TIMEOUT_MS} ms; stopping it`); void stopProcess(child) }, SUITE_TIMEOUT_MS)
  const { code, signal } = await child.exited
  clearTimeout(timer)
  return { code, signal, lines: child.lines }
}

/** One extension scenario: its `Passed: a/b, c failed` counts (undefined if none) and whether it passed. */
async function runScenario (suite, url, scenario, outDir, logFile) {
  const { code, signal, lines } = await suiteProcess(suite, ['--url', url, '--scenario', scenario, '-o', outDir], logFile, scenario)
  const counts = lines.map((l) => /^Passed: (\d+)\/\d+, (\d+) failed/.exec(l)).find(Boolean)
  const fine = code === 0 && counts !== undefined && Number(counts[2]) === 0
  process.stdout.write(`${fine ? '✓' : '✗'} ${scenario}: ${counts ? `${counts[1]} passed, ${counts[2]} failed` : `no result line (exit ${signal ?? code})`}\n`)
  return { passed: Number(counts?.[1] ?? 0), failed: Number(counts?.[2] ?? 1), fine }
}

/**
 * The `ext` run: each extension scenario in turn (`--suite all` at a revision leaves them out), with
 * one summary line each and a `Total:` line summed by this script.
 */
async function runExtensions (run, url, work) {
  const suite = ensureSuite(run.suiteVersion)
  const outDir = join(work, `results-${run.id}`)
  const name = label(run, url)
  process.stdout.write(`\n##### ${name}\n`)
  const scenarios = extensionScenarios(suite)
  const sums = { passed: 0, failed: 0, ok: scenarios.length > 0 }
  for (const scenario of scenarios) {
    const one = await runScenario(suite, url, scenario, outDir, join(work, `suite-${run.id}-${scenario}.log`))
    sums.passed += one.passed
    sums.failed += one.failed
    sums.ok &&= one.fine
  }
  const total = `Total: ${sums.passed} passed, ${sums.failed} failed`
  process.stdout.write(`\n${total}\n`)
  const failures = failedChecks(outDir)
  if (failures.length) process.stdout.write(`\nFailed checks:\n${failures.map((f) => `  ✗ ${f}`).join('\n')}\n`)
  return { name, total, ok: sums.ok }
}

/** A run passed when the suite exited 0 and passed checks, none failing (with --requirements its exit code decides:
 * it exits 0 when only not-scored scenarios, extensions and pending ones, fail). */
function passed (code, counts) {
  if (code !== 0 || counts === undefined || Number(counts[1]) === 0) return false
  return options.requirements || Number(counts[2]) === 0
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
const results = []
try {
  const runs = selectRuns()
  if (runs.length === 0) throw new Error('no run selected')
  const names = [...new Set(runs.map((run) => run.server))]
  for (const version of new Set(runs.map((run) => run.suiteVersion))) ensureSuite(version)
  const urls = options.direct ? await startDirect(work, names) : await startGateway(work, names)
  for (const run of runs) {
    say(`${run.id}: running suite ${run.suiteVersion} against ${urls[run.server]}`)
    results.push(await runSuite(run, urls[run.server], work))
  }
  ok = results.every((result) => result.ok)
} catch (err) {
  say(`error: ${err.message}`)
} finally {
  await cleanup()
}
if (results.length) {
  process.stdout.write(`\n##### ${options.direct ? 'fixtures alone (--direct)' : 'through the gateway'}\n`)
  for (const result of results) process.stdout.write(`${result.ok ? '✓' : '✗'} ${result.name}\n    ${result.total}\n`)
}
if (ok) {
  rmSync(work, { recursive: true, force: true })
} else {
  say(`FAILED; logs and per-check results kept in ${work}`)
  process.exitCode = 1
}
