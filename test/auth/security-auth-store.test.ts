import { chmod, readdir, stat } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { buildApp } from '../../app.js'
import { FETCH_FAILED } from '../../auth/client-metadata.js'
import { AuthStore } from '../../auth/store.js'
import { forgeToken, postForm, testPassphraseHash } from '../auth-helpers.js'
import { startGateway, tempDir } from '../helpers.js'

// Issue 16, items 3, 5 (part), 6 (part), 8b and 8c: SSRF through client metadata documents, DNS
// rebinding on the OAuth endpoints, bad Basic escapes, the client store's growth and expiry, a
// world-writable data dir, and plugin routes protected with correct metadata.

/** A loopback listener serving one valid client metadata document, counting every request it gets. */
async function recordingDocServer (t: Test): Promise<{ base: string, hits: () => number }> {
  let hits = 0
  const server = createServer((req, res) => {
    hits++
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ client_id: `${base}${req.url}`, client_name: 'Recorded Client', redirect_uris: ['http://127.0.0.1:9/cb'] }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }))
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits }
}

/** A loopback port nothing listens on (taken, then released). */
async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function tokenAnswer (base: string, clientId: string): Promise<{ status: number, body: unknown }> {
  const res = await postForm(`${base}/token`, { grant_type: 'authorization_code', client_id: clientId, code: 'x', code_verifier: 'v'.repeat(50) })
  return { status: res.status, body: await res.json() }
}

function authorizeUrl (base: string, clientId: string): string {
  const q = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: 'http://127.0.0.1:9/cb', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })
  return `${base}/authorize?${q}`
}

t.test('client metadata SSRF: private, link-local and unreachable targets get one generic error (gateway on loopback)', async (t) => {
  const docs = await recordingDocServer(t)
  const gw = await startGateway(t, { auth: true })
  const refusing = await closedPort()
  const generic = { status: 401, body: { error: 'invalid_client', error_description: FETCH_FAILED } }
  const targets = {
    'a 10.x address': 'http://10.0.0.1/client.json',
    'a 192.168.x address': 'http://192.168.1.1/client.json',
    'the cloud metadata address': 'http://169.254.169.254/latest/meta-data/',
    'an IPv6 link-local address': 'http://[fe80::1]/client.json',
    'an IPv4-mapped private address': 'http://[::ffff:a00:1]/client.json',
    'a loopback port that refuses': `http://127.0.0.1:${refusing}/client.json`,
    'a host that does not resolve': 'http://no-such-host.invalid/client.json'
  }
  for (const [what, clientId] of Object.entries(targets)) {
    t.same(await tokenAnswer(gw.base, clientId), generic, `${what}: /token answers the generic error`)
    const page = await fetch(authorizeUrl(gw.base, clientId), { redirect: 'manual' })
    t.equal(page.status, 400, `${what}: /authorize refuses with a 400`)
    t.match(await page.text(), FETCH_FAILED, `${what}: the page says only the generic error`)
  }
  const details = gw.logs.audits('token').map((e) => e.detail as string)
  for (const clientId of Object.values(targets).slice(0, 5)) {
    const host = new URL(clientId).hostname.replace(/^\[|\]$/g, '')
    t.ok(details.some((d) => d.startsWith(`refused without connecting: ${host} resolves to`)), `${host} is refused before any connection (the audit log says why)`)
  }
  t.ok(details.some((d) => /ECONNREFUSED/.test(d)), 'the refusing loopback port was tried (loopback is allowed in this mode)')
  t.ok(details.some((d) => /ENOTFOUND|EAI_AGAIN/.test(d)), 'the unresolvable host is in the log, not in the answer')

  t.equal(docs.hits(), 0)
  const allowed = await fetch(authorizeUrl(gw.base, `${docs.base}/client.json`), { redirect: 'manual' })
  t.equal(allowed.status, 200, 'a loopback document is fetched while the gateway runs on loopback')
  t.match(await allowed.text(), /Recorded Client/)
  t.equal(docs.hits(), 1, 'the loopback listener saw the one fetch')
})

t.test('client metadata SSRF: a gateway not on loopback never fetches loopback', async (t) => {
  const docs = await recordingDocServer(t)
  const gw = await startGateway(t, { auth: true, config: { mcpServers: {}, externalUrl: 'https://gw.example.com' } })
  const port = new URL(docs.base).port
  for (const clientId of [`https://localhost:${port}/client.json`, `https://127.0.0.1:${port}/client.json`, `https://[::1]:${port}/client.json`]) {
    t.same(await tokenAnswer(gw.base, clientId), { status: 401, body: { error: 'invalid_client', error_description: FETCH_FAILED } }, clientId)
  }
  t.equal(docs.hits(), 0, 'the loopback listener got no request')
})

t.test('DNS rebinding: the OAuth endpoints and /health refuse a foreign Host like /mcp', async (t) => {
  const gw = await startGateway(t, { auth: true })
  const evil = { host: 'evil.example' }
  const form = { ...evil, 'content-type': 'application/x-www-form-urlencoded' }
  const requests = [
    { method: 'POST' as const, url: '/mcp', headers: { ...evil, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, payload: '{}' },
    { method: 'GET' as const, url: '/authorize?client_id=x', headers: evil },
    { method: 'POST' as const, url: '/token', headers: form, payload: 'grant_type=authorization_code&client_id=x' },
    { method: 'POST' as const, url: '/register', headers: { ...evil, 'content-type': 'application/json' }, payload: JSON.stringify({ redirect_uris: ['http://127.0.0.1:9/cb'], token_endpoint_auth_method: 'none' }) },
    { method: 'POST' as const, url: '/revoke', headers: form, payload: 'client_id=x&token=y' },
    { method: 'GET' as const, url: '/health', headers: evil },
    { method: 'GET' as const, url: '/.well-known/oauth-authorization-server', headers: evil }
  ]
  for (const request of requests) {
    const res = await gw.app.inject(request)
    t.equal(res.statusCode, 403, `${request.method} ${request.url}`)
    t.equal(res.json().code, 'GW_HOST_NOT_ALLOWED', `${request.method} ${request.url}: the Host guard answered`)
  }
  t.equal(gw.app.auth.embedded!.store.clientCount, 0, 'the refused registration stored nothing')
  t.equal((await gw.app.inject({ method: 'GET', url: '/health', headers: { host: `127.0.0.1:${new URL(gw.base).port}` } })).statusCode, 200, 'the gateway\'s own Host is served')
  t.equal((await gw.app.inject({ method: 'GET', url: '/health/live', headers: evil })).statusCode, 200, 'the liveness probe stays open to orchestrators (it tells nothing)')
  const cors = await gw.app.inject({ method: 'POST', url: '/register', headers: { origin: 'https://inspector.example', 'content-type': 'application/json' }, payload: JSON.stringify({ redirect_uris: ['http://127.0.0.1:9/cb'], token_endpoint_auth_method: 'none' }) })
  t.equal(cors.statusCode, 201, 'a browser client of another origin may still register (CORS): only the Host is checked')
})

t.test('Basic credentials with a bad % escape are a 400, not a 500', async (t) => {
  const gw = await startGateway(t, { auth: true })
  for (const credentials of ['%zz:secret', 'client:%E0%A4%A']) {
    const authorization = `Basic ${Buffer.from(credentials).toString('base64')}`
    for (const [path, values] of [['/token', { grant_type: 'authorization_code', code: 'x' }], ['/revoke', { token: 'x' }]] as const) {
      const res = await postForm(`${gw.base}${path}`, values, { authorization })
      t.same({ status: res.status, body: await res.json() }, { status: 400, body: { error: 'invalid_request', error_description: 'malformed Basic credentials: bad percent-encoding' } }, `${path} with ${credentials}`)
    }
  }
})

/** Every file under a folder: relative path → size and modification time. */
async function filesUnder (dir: string): Promise<Map<string, { size: number, mtimeMs: number }>> {
  const out = new Map<string, { size: number, mtimeMs: number }>()
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue
    const path = join(entry.parentPath, entry.name)
    const info = await stat(path)
    out.set(path.slice(dir.length + 1), { size: info.size, mtimeMs: info.mtimeMs })
  }
  return out
}

t.test('registrations: one small file each, bounded metadata', async (t) => {
  const gw = await startGateway(t, { auth: { rateLimit: { max: 100000 } } })
  const register = (body: Record<string, unknown>) => gw.app.inject({ method: 'POST', url: '/register', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) })
  const client = (i: number) => ({
    client_name: `client ${i} `.padEnd(200, 'x'),
    client_uri: `https://client-${i}.example/`.padEnd(1000, 'y'),
    redirect_uris: [`https://client-${i}.example/cb`, 'http://127.0.0.1:9/cb'],
    token_endpoint_auth_method: 'none'
  })
  for (let i = 0; i < 400; i++) {
    const res = await register(client(i))
    if (res.statusCode !== 201) t.fail(`registration ${i} answered ${res.statusCode}: ${res.body}`)
  }
  await gw.app.auth.embedded!.store.flushed()
  const before = await filesUnder(gw.dataDir)
  const clientFiles = [...before.keys()].filter((p) => p.startsWith('clients/'))
  t.equal(clientFiles.length, 400, 'one file per client')
  const largest = Math.max(...[...before.values()].map((f) => f.size))
  t.ok(largest <= 8 * 1024 + 1024, `no file of the data dir is over 9 KB after 400 registrations (largest: ${largest} bytes)`)
  t.notOk(before.has('clients.json'), 'no file holds every client')

  t.equal((await register(client(400))).statusCode, 201)
  await gw.app.auth.embedded!.store.flushed()
  const after = await filesUnder(gw.dataDir)
  const added = [...after.keys()].filter((p) => !before.has(p))
  const changed = [...before].filter(([p, f]) => after.get(p)?.mtimeMs !== f.mtimeMs || after.get(p)?.size !== f.size).map(([p]) => p)
  t.equal(added.length, 1, 'a registration writes one new file')
  t.match(added[0], /^clients\/[0-9a-f-]{36}\.json$/)
  t.same(changed, [], 'and touches no other file')

  const big = await register({ redirect_uris: Array.from({ length: 20 }, (_, i) => `https://big.example/${i}/`.padEnd(1000, 'z')), token_endpoint_auth_method: 'none' })
  t.match({ status: big.statusCode, body: big.json() }, { status: 400, body: { error: 'invalid_client_metadata', error_description: /at most 8192 are accepted/ } }, '20 KB of metadata is refused')
  const longUri = await register({ redirect_uris: [`https://long.example/${'u'.repeat(3000)}`], token_endpoint_auth_method: 'none' })
  t.match({ status: longUri.statusCode, body: longUri.json() }, { status: 400, body: { error: 'invalid_redirect_uri' } }, 'a 3 KB redirect URI is refused')
  t.equal(gw.app.auth.embedded!.store.clientCount, 401, 'the refused ones stored nothing')
})

t.test('an unused registration expires (auth.registrationTtlSeconds)', async (t) => {
  const gw = await startGateway(t, { auth: { registrationTtlSeconds: 1 } })
  const res = await fetch(`${gw.base}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: ['http://127.0.0.1:9/cb'], token_endpoint_auth_method: 'none' }) })
  const { client_id: clientId } = await res.json() as { client_id: string }
  const file = join(gw.dataDir, 'clients', `${clientId}.json`)
  t.ok((await stat(file)).isFile(), 'the registration is on disk')
  // the TTL is in whole seconds since client_id_issued_at (seconds): past 2 s it has lapsed for sure
  await new Promise((resolve) => setTimeout(resolve, 2200))
  t.same(await tokenAnswer(gw.base, clientId), { status: 401, body: { error: 'invalid_client', error_description: 'unknown client_id' } }, 'the expired client is unknown')
  let gone = false
  for (let i = 0; i < 50 && !gone; i++) {
    gone = await stat(file).then(() => false, () => true)
    if (!gone) await new Promise((resolve) => setTimeout(resolve, 20))
  }
  t.ok(gone, 'its file is deleted')
})

t.test('expiry counts use, and a live refresh grant keeps its client', async (t) => {
  const dir = await tempDir(t)
  let now = Date.parse('2026-01-01T00:00:00Z')
  const day = 86400 * 1000
  const store = await AuthStore.open(dir, { now: () => now, registrationTtlSeconds: 30 * 86400 })
  const meta = { redirect_uris: ['http://127.0.0.1:9/cb'], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' as const }
  const idle = (await store.registerClient(meta)).client
  const used = (await store.registerClient(meta)).client
  const granted = (await store.registerClient(meta)).client
  await store.createFamily({ clientId: granted.client_id, subject: 'owner', scope: 'mcp', audience: 'http://x/mcp' }, 90 * 86400)
  now += 20 * day
  t.ok(await store.findClient(used.client_id), 'day 20: used')
  await store.clientUsed(used)
  now += 20 * day
  store.prune()
  await store.flushed()
  t.notOk(await store.findClient(idle.client_id), 'day 40: the client unused since day 0 is gone')
  t.ok(await store.findClient(used.client_id), 'the client used on day 20 is kept')
  t.ok(await store.findClient(granted.client_id), 'the client with a live refresh grant is kept')
  const names = await readdir(join(dir, 'clients'))
  t.same(names.sort(), [`${used.client_id}.json`, `${granted.client_id}.json`].sort(), 'the expired file is deleted')

  const reopened = await AuthStore.open(dir, { now: () => now + 31 * day, registrationTtlSeconds: 30 * 86400 })
  t.notOk(await reopened.findClient(used.client_id), 'a restart drops what expired meanwhile')
  t.ok(await reopened.findClient(granted.client_id), 'and keeps the granted client')
})

t.test('a world-writable data dir is refused', async (t) => {
  const dataDir = await tempDir(t)
  await chmod(dataDir, 0o777)
  await t.rejects(buildApp({ logger: false, config: { mcpServers: {}, auth: { dataDir, passphraseHash: await testPassphraseHash() } } }), {
    message: `data dir ${dataDir} is writable by every user (mode 0777): run "chmod 700 ${dataDir}" and check that its files are yours, or point auth.dataDir elsewhere`
  })
  t.same(await readdir(dataDir), [], 'nothing was written into it')
})

t.test('a plugin route protected with onRequest: app.auth.protect names metadata that exists', async (t) => {
  const plugin = fileURLToPath(new URL('../fixtures/protected-plugin.mjs', import.meta.url))
  const gw = await startGateway(t, { auth: true, config: { mcpServers: {}, plugins: [plugin] } })
  const denied = await fetch(`${gw.base}/hello/world`)
  t.equal(denied.status, 401)
  const metadataUrl = /resource_metadata="([^"]+)"/.exec(denied.headers.get('www-authenticate') ?? '')?.[1]
  t.equal(metadataUrl, `${gw.base}/.well-known/oauth-protected-resource/hello/world`)
  const metadata = await fetch(metadataUrl!)
  t.equal(metadata.status, 200, 'the metadata URL of the 401 is served')
  t.match(await metadata.json(), { resource: `${gw.base}/hello/world`, authorization_servers: [gw.base], bearer_methods_supported: ['header'] })
  t.equal((await fetch(`${gw.base}/.well-known/oauth-protected-resource/open`)).status, 404, 'an unprotected route has no metadata')
  const wildcard = await fetch(`${gw.base}/files/a/b.txt`)
  t.equal(wildcard.headers.get('www-authenticate'), `Bearer resource_metadata="${gw.base}/.well-known/oauth-protected-resource/files/a/b.txt"`)
  t.match(await (await fetch(`${gw.base}/.well-known/oauth-protected-resource/files/a/b.txt`)).json(), { resource: `${gw.base}/files/a/b.txt` }, 'a wildcard route too')

  const token = await forgeToken(gw.dataDir, { sub: 'owner', client_id: 'c1', scope: 'mcp', aud: `${gw.base}/hello/world`, iss: gw.base })
  const allowed = await fetch(`${gw.base}/hello/world`, { headers: { authorization: `Bearer ${token}` } })
  t.same({ status: allowed.status, body: await allowed.json() }, { status: 200, body: { hello: 'world', subject: 'owner' } })
  t.equal((await fetch(`${gw.base}/open`)).status, 200, 'a route without protect stays open')
  t.equal((await gw.app.inject({ method: 'GET', url: '/open', headers: { host: 'evil.example' } })).statusCode, 403, 'plugin routes have the Host guard')
})
