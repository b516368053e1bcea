import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import cors from '@fastify/cors'
import Fastify from 'fastify'
import { buildApp, gateway } from '../../app.js'
import { parseServeArgs } from '../../cli/serve-args.js'
import { alive, connect, echoFixture, settle, startGateway, uncoveredChildEnv, waitFor } from '../helpers.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

t.test('the root plugin is the public API: another app registers it and adds routes', async (t) => {
  const app = Fastify({ logger: false })
  await app.register(gateway, { config: { mcpServers: { alpha: echoFixture('alpha') } }, noAuth: true })
  app.get('/my/tools', async () => ({
    backends: app.backends.names(),
    tools: app.capabilities.list('tools', {}).map((tool) => tool.name),
    sessions: app.sessions.size
  }))
  t.teardown(() => app.close())
  await app.ready()
  await settle(app)
  const res = await app.inject('/my/tools')
  t.equal(res.statusCode, 200)
  t.same(res.json().backends, ['alpha'])
  t.ok(res.json().tools.includes('alpha_1mcp_echo'))
})

t.test('third-party plugins named in the config are registered after the gateway', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), '1mcp-plugin-'))
  const configPath = join(dir, 'config.json')
  writeFileSync(configPath, JSON.stringify({
    mcpServers: { alpha: echoFixture('alpha') },
    plugins: [fileURLToPath(new URL('../fixtures/hello-plugin.mjs', import.meta.url))]
  }))
  const gw = await startGateway(t, { configPath, watch: false })
  const res = await fetch(`${gw.base}/hello`)
  t.same(await res.json(), { backends: ['alpha'], tools: gw.app.capabilities.list('tools', {}).length })
})

t.test('a plugin named by npm package is loaded from the node_modules beside the config; a missing one is named', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), '1mcp-npm-plugin-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const pkg = join(dir, 'node_modules', '@acme', 'gw-hello')
  mkdirSync(join(pkg, 'lib'), { recursive: true })
  // ESM only, with conditional exports: what `require.resolve` cannot find
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: '@acme/gw-hello', type: 'module', exports: { '.': { import: './lib/index.js' }, './extra': { default: './lib/extra.js' } } }))
  writeFileSync(join(pkg, 'lib', 'index.js'), "export default async function (app) { app.get('/acme', async () => ({ from: 'beside the config' })) }\n")
  writeFileSync(join(pkg, 'lib', 'extra.js'), "export default async function (app) { app.get('/acme/extra', async () => ({ extra: true })) }\n")
  const configPath = join(dir, 'config.json')
  writeFileSync(configPath, JSON.stringify({ mcpServers: {}, plugins: ['@acme/gw-hello', '@acme/gw-hello/extra'] }))
  const gw = await startGateway(t, { configPath, watch: false })
  t.same(await (await fetch(`${gw.base}/acme`)).json(), { from: 'beside the config' })
  t.same(await (await fetch(`${gw.base}/acme/extra`)).json(), { extra: true })

  writeFileSync(configPath, JSON.stringify({ mcpServers: {}, plugins: ['@acme/not-installed'] }))
  await t.rejects(buildApp({ configPath, noAuth: true, logger: false, watch: false }), new RegExp(`plugin '@acme/not-installed' \\(named in "plugins"\\) was not found from ${dir}: install it there`))
})

t.test('embedded in an app with @fastify/cors, its own bodyLimit and no trustProxy: the gateway fits in, or says what it cannot do', async (t) => {
  const host = Fastify({ logger: false, bodyLimit: 1024 })
  t.teardown(() => host.close())
  await host.register(cors, { origin: 'https://app.example' })
  const dataDir = mkdtempSync(join(tmpdir(), '1mcp-embed-data-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  // auth on: the OAuth routes (and their preflights) are what clashed with @fastify/cors
  await host.register(gateway, { config: { mcpServers: {}, bodyLimit: 8 * 1024 * 1024, loadShedding: false, auth: { dataDir } }, announcePassphrase: () => {} })
  host.post('/mine', async (request) => ({ got: typeof request.body }))
  await host.ready()
  const preflight = await host.inject({ method: 'OPTIONS', url: '/token', headers: { origin: 'https://x.example', 'access-control-request-method': 'POST' } })
  t.equal(preflight.statusCode, 204, 'a preflight to the gateway is answered (by the host\'s CORS, which runs first: its policy)')
  const hostPreflight = await host.inject({ method: 'OPTIONS', url: '/mine', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } })
  t.equal(hostPreflight.headers['access-control-allow-origin'], 'https://app.example', "the host's CORS answers the host's routes")
  const register = await host.inject({ method: 'POST', url: '/register', payload: { redirect_uris: Array.from({ length: 12 }, (_v, i) => `http://127.0.0.1:9/callback/${i}/${'p'.repeat(90)}`), client_name: 'embedded' } })
  t.equal(register.statusCode, 201, "the config's bodyLimit holds on the gateway's routes, not the host's 1 KB")
  const discovery = await host.inject({ url: '/.well-known/oauth-protected-resource', headers: { origin: 'https://x.example' } })
  t.equal(discovery.headers['access-control-allow-origin'], '*', "the gateway's discovery documents stay readable by any origin")
  const mine = await host.inject({ method: 'POST', url: '/mine', payload: { x: 'y'.repeat(2000) } })
  t.equal(mine.statusCode, 413, "the host's own limit holds on its routes")

  const plain = Fastify({ logger: false })
  t.teardown(() => plain.close())
  await t.rejects(async () => { await plain.register(gateway, { config: { mcpServers: {}, trustProxy: '127.0.0.1' }, noAuth: true }).ready() },
    /"trustProxy" in the config \("127.0.0.1"\) cannot take effect: the app the gateway is registered in was created with trustProxy false\. Pass trustProxy to Fastify\(\)/)
  const matching = Fastify({ logger: false, trustProxy: '127.0.0.1' })
  t.teardown(() => matching.close())
  await matching.register(gateway, { config: { mcpServers: {}, trustProxy: '127.0.0.1' }, noAuth: true })
  await t.resolves(async () => { await matching.ready() }, 'the same setting on both sides is fine')
})

t.test('command line: flags override the config, env vars stand in for flags', async (t) => {
  const args = parseServeArgs(['--config', 'x.json', '--port', '4000', '--host', '::1', '--no-auth'], {})
  t.same(args.overrides, { port: 4000, host: '::1' })
  t.same(args.config, { path: resolve('x.json'), source: 'named' })
  t.equal(args.noAuth, true)
  const env = parseServeArgs([], { ONEMCP_PORT: '4100', ONEMCP_EXTERNAL_URL: 'https://mcp.example.com', ONEMCP_CONFIG: 'y.json' })
  t.same(env.overrides, { port: 4100, externalUrl: 'https://mcp.example.com' })
  t.same(env.config, { path: resolve('y.json'), source: 'named' })
  t.throws(() => parseServeArgs(['--port', 'abc'], {}), /--port must be a whole number/)
  t.throws(() => parseServeArgs(['--bogus'], {}), /bogus/)
})

t.test('behind a reverse proxy: externalUrl host is accepted, X-Forwarded-For only with trustProxy', async (t) => {
  const behind = await buildApp({ noAuth: true, logger: false, config: { mcpServers: {}, externalUrl: 'https://mcp.example.com/', trustProxy: true } })
  t.teardown(() => behind.close())
  behind.get('/whoami', async (request) => ({ ip: request.ip, protocol: request.protocol }))
  const gw = { app: behind }
  const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }
  const res = await gw.app.inject({
    method: 'POST',
    url: '/mcp',
    payload: init,
    headers: { host: 'mcp.example.com', origin: 'https://mcp.example.com', 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
  })
  t.equal(res.statusCode, 200)
  const who = await gw.app.inject({ url: '/whoami', headers: { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' } })
  t.same(who.json(), { ip: '203.0.113.9', protocol: 'https' })

  const plain = await buildApp({ noAuth: true, logger: false, config: { mcpServers: {} } })
  t.teardown(() => plain.close())
  plain.get('/whoami', async (request) => ({ ip: request.ip }))
  const spoof = await plain.inject({ url: '/whoami', headers: { 'x-forwarded-for': '203.0.113.9' } })
  t.not(spoof.json().ip, '203.0.113.9', 'forwarded headers are not believed by default')
})

t.test('npm start equivalent: SIGTERM lets calls finish and leaves no child process', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), '1mcp-serve-'))
  const configPath = join(dir, 'config.json')
  writeFileSync(configPath, JSON.stringify({ mcpServers: { a: echoFixture('a'), b: echoFixture('b') } }))
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'server.ts'), '--config', configPath, '--port', '0', '--no-auth'], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: uncoveredChildEnv()
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  child.stdout.on('data', (chunk) => { out += chunk })
  const base = await waitFor(() => /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1], 'the listen line', 20_000)
  await waitFor(async () => (await (await fetch(`${base}/health`)).json()).backends.every((b: { state: string }) => b.state === 'ready'), 'backends ready', 20_000)
  const health = await (await fetch(`${base}/health`)).json()
  t.equal(health.auth.enabled, false)
  const client = await connect(t, `${base}/mcp`)
  await waitFor(async () => (await client.listTools()).tools.length >= 20, 'tools of both backends')
  const pids = [...out.matchAll(/"pid":(\d+)/g)].map((m) => Number(m[1]))
  t.ok(pids.length > 0)
  const call = client.callTool({ name: 'a_1mcp_slow', arguments: { ms: 600 } })
  await new Promise((resolve) => setTimeout(resolve, 150))
  child.kill('SIGTERM')
  const result = await call
  t.same(result.content, [{ type: 'text', text: 'a: waited 600 ms' }], 'the call in flight finished')
  const [code] = await once(child, 'exit')
  t.equal(code, 0)
  const backendPids = [...out.matchAll(/"backendPid":(\d+)/g)].map((m) => Number(m[1]))
  t.equal(backendPids.length, 2, 'both backend pids were logged')
  for (const pid of backendPids) t.notOk(alive(pid), `backend ${pid} is gone`)
})

t.test('first run with no ./config.json: the user config file is created and named, nothing is written to the current folder', async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), '1mcp-empty-cwd-'))
  const home = mkdtempSync(join(tmpdir(), '1mcp-home-'))
  t.teardown(() => { rmSync(cwd, { recursive: true, force: true }); rmSync(home, { recursive: true, force: true }) })
  const child = spawn(process.execPath, [join(ROOT, 'bin', '1mcp.mjs'), 'serve', '--port', '0'], {
    cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...uncoveredChildEnv(), ONEMCP_HOME: home, ONEMCP_CONFIG: '' }
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  child.stdout.on('data', (chunk) => { out += chunk })
  child.stderr.on('data', (chunk) => { out += chunk })
  await waitFor(() => /Server listening at/.test(out), 'the listen line', 20_000)
  const userConfig = join(home, '.config', '1mcp', 'config.json')
  t.same(JSON.parse(readFileSync(userConfig, 'utf8')), { mcpServers: {} }, 'an empty config was created for the user')
  t.equal(statSync(userConfig).mode & 0o777, 0o600)
  const warning = out.split('\n').find((line) => line.includes('no ./config.json here'))
  t.ok(warning, out)
  t.match(JSON.parse(warning!), { level: 40, config: userConfig, msg: /1mcp mcp add NAME/ })
  t.ok(existsSync(join(home, '.config', '1mcp', '.data', 'owner.json')), 'the auth data lives beside the config')
  t.same(readdirSync(cwd), [], 'nothing was written to the current folder')
  child.kill('SIGTERM')
  await once(child, 'exit')
})

t.test('--config naming a file that does not exist: one clear line, exit 1', async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), '1mcp-missing-'))
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }))
  const child = spawn(process.execPath, [join(ROOT, 'bin', '1mcp.mjs'), 'serve', '--config', 'missing.json'], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: uncoveredChildEnv() })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let err = ''
  child.stderr.on('data', (chunk) => { err += chunk })
  const [code] = await once(child, 'exit')
  t.equal(code, 1)
  t.equal(err, `1mcp: config file ${join(realpathSync(cwd), 'missing.json')} does not exist: check --config (or ONEMCP_CONFIG), or create it with \`1mcp mcp add NAME -- COMMAND ARGS...\`\n`)
})
