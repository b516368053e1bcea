import { readFile } from 'node:fs/promises'
import t from 'tap'

// Issue 17, "Done means": docs/deploy/ holds the files an operator copies; their key lines are checked
// here, and the nginx config is the one test/ops/nginx.test.ts runs.

const read = (file: string) => readFile(new URL(`../../docs/deploy/${file}`, import.meta.url), 'utf8')

t.test('the systemd unit restarts on failure, waits for readiness, stops the whole group after the grace period', async (t) => {
  const unit = await read('1mcp.service')
  for (const line of ['Restart=on-failure', 'KillMode=control-group', 'KillSignal=SIGTERM', 'ExecReload=/bin/kill -HUP $MAINPID']) {
    t.match(unit, new RegExp(`^${line.replace(/[$]/g, '\\$')}$`, 'm'), line)
  }
  t.match(unit, /^ExecStartPost=.*curl -fsS[^\n]*\/health\/ready/m, 'a readiness check on /health/ready')
  const stop = Number(/^TimeoutStopSec=(\d+)s$/m.exec(unit)?.[1])
  t.ok(stop * 1000 > 10_000 + 5000, `TimeoutStopSec (${stop} s) exceeds the default grace period and the backends' stop`)
  t.notMatch(unit, /^User=root$/m, 'not as root')
})

t.test('the Dockerfile runs as a user of its own and checks its health', async (t) => {
  const docker = await read('Dockerfile')
  const user = /^USER (\S+)$/m.exec(docker)?.[1]
  t.ok(user && user !== 'root' && user !== '0', `USER ${user}`)
  t.match(docker, /^HEALTHCHECK [^\n]*\\\n\s+CMD node -e "fetch\('http:\/\/127\.0\.0\.1:3050\/health\/live'\)/m, 'HEALTHCHECK asks /health/live')
  t.match(docker, /^ENTRYPOINT \["node", "bin\/1mcp\.mjs", "serve"\]$/m)
})

t.test('nginx.conf: buffering by header, long stream timeouts, the body limit, forwarded headers; the nginx test runs it', async (t) => {
  const conf = await read('nginx.conf')
  for (const line of ['client_max_body_size 4m;', 'proxy_next_upstream error timeout;', 'proxy_read_timeout 1h;', 'proxy_set_header Host $host;', 'proxy_set_header X-Forwarded-For $remote_addr;', 'proxy_set_header X-Forwarded-Proto $scheme;', 'proxy_http_version 1.1;']) {
    t.ok(conf.split('\n').some((l) => l.trim() === line), line)
  }
  const directives = conf.split('\n').filter((l) => !l.trim().startsWith('#')).join('\n')
  t.notMatch(directives, /non_idempotent|proxy_add_x_forwarded_for|^\s*keepalive\b/m, 'no retry of calls that reached a gateway, no forged X-Forwarded-For, no upstream keepalive')
  // test/ops/nginx.test.ts runs nginx on this very file, through test/nginx-helpers.ts
  const helpers = await readFile(new URL('../nginx-helpers.ts', import.meta.url), 'utf8')
  t.match(helpers, /NGINX_CONF = fileURLToPath\(new URL\('\.\.\/docs\/deploy\/nginx\.conf', import\.meta\.url\)\)/, 'the nginx helpers load this file')
  const nginxTest = await readFile(new URL('./nginx.test.ts', import.meta.url), 'utf8')
  t.match(nginxTest, /nginxConfig\(/, 'test/ops/nginx.test.ts runs it')
})
