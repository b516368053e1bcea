import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { waitFor } from './helpers.js'

// nginx in front of gateways, for test/nginx.test.ts and test/ops/nginx-instances.test.ts

export const NGINX_CONF = fileURLToPath(new URL('../docs/deploy/nginx.conf', import.meta.url))
const NGINX = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/bin/nginx'].find((path) => existsSync(path))

export async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** docs/deploy/nginx.conf with this test's addresses, and every path inside `dir` (nginx runs unprivileged there). */
export async function nginxConfig (dir: string, listenPort: number, upstreams: string[], confPath = NGINX_CONF): Promise<string> {
  const doc = await readFile(confPath, 'utf8')
  const servers = [...doc.matchAll(/^\s*server 127\.0\.0\.1:\d+;$/gm)]
  if (servers.length !== upstreams.length || !/^\s*listen 80;$/m.test(doc)) throw new Error(`${confPath} no longer has the upstream servers and the listen line this test rewrites`)
  let text = doc.replace(/^\s*listen 80;$/m, `        listen 127.0.0.1:${listenPort};`)
  for (const [i, upstream] of upstreams.entries()) text = text.replace(servers[i][0], `        server ${upstream};`)
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `    ${kind}_temp_path ${join(dir, 'temp', kind)};`).join('\n')
  return text.replace(/^http \{$/m, `http {\n${temp}\n    access_log ${join(dir, 'access.log')};`)
}

/** Starts nginx on `conf` in the foreground; stopped at teardown. */
export async function startNginx (t: Test, dir: string, conf: string, port: number): Promise<ChildProcess> {
  if (!NGINX) throw new Error('nginx is not installed: apt-get install -y nginx-light (.ci/run does this)')
  await mkdir(join(dir, 'temp'), { recursive: true })
  await mkdir(join(dir, 'logs'), { recursive: true })
  await writeFile(join(dir, 'nginx.conf'), conf)
  const globals = `daemon off; pid ${join(dir, 'nginx.pid')}; error_log ${join(dir, 'error.log')} warn;${process.getuid?.() === 0 ? ' user root;' : ''}`
  const nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', globals], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  nginx.stderr!.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  t.teardown(async () => {
    if (nginx.exitCode !== null || nginx.signalCode !== null) return
    nginx.kill('SIGTERM')
    await once(nginx, 'exit')
  })
  await waitFor(async () => {
    if (nginx.exitCode !== null) throw new Error(`nginx exited: ${stderr}${await readFile(join(dir, 'error.log'), 'utf8').catch(() => '')}`)
    return fetch(`http://127.0.0.1:${port}/health/live`).then((res) => res.ok, () => false)
  }, 'nginx to answer', 10_000)
  return nginx
}
