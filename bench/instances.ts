/**
 * Several instances behind nginx (issue 20): calls/s of an echo call through nginx round robin
 * (docs/deploy/nginx-instances.conf, its upstream cut to 1 or 2 instances sharing one session key),
 * and what sealing and opening a 2025 session id costs (mcp/session-seal.ts, timed in process).
 */
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SessionSealer, type SealedSession } from '../mcp/session-seal.js'
import { McpHttp, runLoad, summarize, type LoadResult } from './load.js'
import { fixtureServer, PROTECTION } from './fixture.js'
import { freePort, poll, start, stop, timeToHttp, type Proc } from './procs.js'
import { CONCURRENT_MS, progress } from './options.js'
import type { Launch } from './replicas.js'

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)))
const CONF = join(ROOT, 'docs/deploy/nginx-instances.conf')
const NGINX = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/bin/nginx'].find((path) => existsSync(path))
const WORKERS = 8
const SEALS = 20_000

export interface InstancesReport {
  one: LoadResult
  two: LoadResult
  ratio: number
  /** sessions each of the 2 instances held after the run (opened there or rebuilt from their ids): the load reached both */
  heldByTwo: number[]
  seal: { sealUs: number, openUs: number, idBytes: number }
}

/** The documented nginx file with this run's listen port, `upstreams` as its servers and every path in `dir`. */
function nginxConf (dir: string, port: number, upstreams: string[]): string {
  const doc = readFileSync(CONF, 'utf8')
  const servers = upstreams.map((u) => `        server ${u};`).join('\n')
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `    ${kind}_temp_path ${join(dir, 'temp', kind)};`).join('\n')
  const text = doc
    .replace(/(^\s*server 127\.0\.0\.1:\d+;\n)+/m, `${servers}\n`)
    .replace(/^\s*listen 80;$/m, `        listen 127.0.0.1:${port};`)
    .replace(/^http \{$/m, `http {\n${temp}\n    access_log off;`)
  if (text.includes('listen 80;') || !text.includes(servers)) throw new Error(`${CONF} no longer has the listen line and upstream servers this bench rewrites`)
  return text
}

async function startNginx (dir: string, upstreams: string[]): Promise<{ proc: Proc, origin: string }> {
  if (!NGINX) throw new Error('nginx is not installed: apt-get install -y nginx-light')
  const port = await freePort()
  mkdirSync(join(dir, 'temp'), { recursive: true })
  mkdirSync(join(dir, 'logs'), { recursive: true })
  writeFileSync(join(dir, 'nginx.conf'), nginxConf(dir, port, upstreams))
  const globals = `daemon off; pid ${join(dir, 'nginx.pid')}; error_log ${join(dir, 'error.log')} warn;${process.getuid?.() === 0 ? ' user root;' : ''}`
  const proc = start('nginx', NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', globals])
  const origin = `http://127.0.0.1:${port}`
  await timeToHttp(proc, `${origin}/health/live`)
  return { proc, origin }
}

/** Calls/s of echo over WORKERS sessions opened through nginx in front of `count` instances. */
async function throughNginx (launch: Launch, dir: string, count: number): Promise<{ load: LoadResult, held: number[] }> {
  const key = randomBytes(32).toString('base64')
  const config = join(dir, `instances-${count}.json`)
  writeFileSync(config, JSON.stringify({ mcpServers: { bench: fixtureServer('bench') }, sessions: { key }, ...PROTECTION }))
  const gateways = await Promise.all(Array.from({ length: count }, (_, i) => launch(`gateway-instance-${count}-${i + 1}`, config)))
  const nginxDir = join(dir, `nginx-${count}`)
  const nginx = await startNginx(nginxDir, gateways.map((g) => new URL(g.origin).host))
  const client = new McpHttp(nginx.origin, '/mcp', WORKERS)
  try {
    for (const gw of gateways) {
      await poll(async () => {
        const health = await (await fetch(`${gw.origin}/health`)).json() as { backends: Array<{ tools: number, state: string }> }
        return health.backends[0]?.tools && health.backends[0].state === 'ready' ? true : undefined
      }, `instance ${gw.origin} ready`)
    }
    const sessions = await Promise.all(Array.from({ length: WORKERS }, () => client.initialize()))
    const call = (sid: string) => client.callTool(sid, 'bench_1mcp_echo', { text: 'x' })
    // the warm-up also lets every instance rebuild every session from its sealed id once
    await runLoad({ workers: sessions, durationMs: 500, maxCalls: 100_000, call })
    const load = summarize([await runLoad({ workers: sessions, durationMs: CONCURRENT_MS * 2, maxCalls: 1_000_000, call })])
    const held = await Promise.all(gateways.map(async (gw) => ((await (await fetch(`${gw.origin}/health`)).json()) as { sessions: number }).sessions))
    return { load, held }
  } finally {
    await client.close()
    await stop(nginx.proc)
    await Promise.all(gateways.map((g) => stop(g.proc)))
  }
}

/** Microseconds per seal and per open of a typical 2025 session id, over a bounded loop. */
export function sealCost (count = SEALS): InstancesReport['seal'] {
  const sealer = new SessionSealer(randomBytes(32))
  const state: SealedSession = {
    p: '2025-11-25',
    ci: { name: 'claude-code', version: '2.0.0' },
    cc: { sampling: {}, elicitation: {}, roots: { listChanged: true } },
    f: 'tags=web,preset=dev',
    o: 'owner|client-0123456789abcdef|mcp',
    c: 'owner|client-0123456789abcdef',
    l: 'info',
    t: Date.now(),
    n: randomBytes(12).toString('base64url')
  }
  const ids: string[] = []
  const t0 = performance.now()
  for (let i = 0; i < count; i++) ids.push(sealer.seal(state))
  const t1 = performance.now()
  let opened = 0
  for (const id of ids) if (sealer.open(id)) opened++
  const t2 = performance.now()
  if (opened !== count) throw new Error(`only ${opened} of ${count} sealed ids opened`)
  return { sealUs: ((t1 - t0) * 1000) / count, openUs: ((t2 - t1) * 1000) / count, idBytes: ids[0].length }
}

export async function instancesBench (launch: Launch, dir: string): Promise<InstancesReport> {
  progress('instances: echo through nginx round robin to 1 and to 2 instances (one session key); sealing cost')
  const { load: one } = await throughNginx(launch, dir, 1)
  const { load: two, held } = await throughNginx(launch, dir, 2)
  return { one, two, ratio: two.rps / one.rps, heldByTwo: held, seal: sealCost() }
}

export function instancesLines (r: InstancesReport): string {
  const { one, two, ratio, seal, heldByTwo } = r
  return [
    `1 vs 2 instances behind nginx, echo, ${WORKERS} sessions: 1 instance ${one.rps.toFixed(0)} calls/s (p50 ${one.p50.toFixed(1)} ms), 2 instances ${two.rps.toFixed(0)} calls/s (p50 ${two.p50.toFixed(1)} ms): ${ratio.toFixed(2)}x (sessions held by each of the 2: ${heldByTwo.join(', ')}); errors ${one.errors + two.errors}${one.firstError ?? two.firstError ? ` (${one.firstError ?? two.firstError})` : ''}`,
    `session id sealing (AES-256-GCM, ${seal.idBytes}-char id, ${SEALS} each): seal ${seal.sealUs.toFixed(1)} µs, open ${seal.openUs.toFixed(1)} µs`,
    ''
  ].join('\n')
}
