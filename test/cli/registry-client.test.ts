import { createServer } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { RegistryClient, type RegistryClientOptions } from '../../cli/registry/client.js'
import { RegistryResponseError, RegistryUnreachableError, ServerNotFoundError } from '../../cli/registry/errors.js'
// @ts-expect-error: a plain .mjs fixture without types
import { entry, startRegistry } from '../fixtures/registry-server.mjs'

interface Registry { url: string, requests: string[], close: () => Promise<void> }

async function registry (t: Test, options: object = {}): Promise<Registry> {
  const reg = await startRegistry(options) as Registry
  t.teardown(() => reg.close())
  return reg
}

async function cacheDir (t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), '1mcp-registry-cache-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

async function client (t: Test, url: string, options: RegistryClientOptions = {}): Promise<RegistryClient> {
  return new RegistryClient({ url, cacheDir: await cacheDir(t), ...options })
}

/** A port nothing listens on: bound, noted, closed. */
async function deadUrl (): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return `http://127.0.0.1:${port}`
}

t.test('search pages through the registry with its cursor and sees every latest version once', async (t) => {
  const reg = await registry(t)
  const c = await client(t, reg.url)
  const names: string[] = []
  let cursor: string | undefined
  for (let page = 0; page < 20; page++) {
    const result = await c.search('', { limit: 4, cursor })
    t.ok(result.servers.length <= 4)
    names.push(...result.servers.map((s) => s.server.name))
    cursor = result.nextCursor
    if (!cursor) break
  }
  t.equal(cursor, undefined, 'the last page has no cursor')
  t.equal(new Set(names).size, names.length, 'no server twice')
  t.equal(names.filter((n) => n === 'io.github.acme/weather').length, 1, 'only the latest of three versions')
  t.ok(names.includes('io.github.filler/tool-11'))
  t.ok(reg.requests.every((r) => r.startsWith('/v0.1/servers?')), 'the stable API version is used')
})

t.test('search matches a substring of the name', async (t) => {
  const reg = await registry(t)
  const c = await client(t, reg.url)
  const result = await c.search('weather')
  t.same(result.servers.map((s) => s.server.name).sort(), ['io.github.acme/weather', 'io.github.acme/weather-py'])
  t.equal(result.servers.find((s) => s.server.name === 'io.github.acme/weather')?.server.version, '2.0.0')
})

t.test('get and versions read one server; a base URL naming an API version is kept', async (t) => {
  const reg = await registry(t)
  const c = await client(t, `${reg.url}/v0`)
  const latest = await c.get('io.github.acme/weather')
  t.equal(latest.server.version, '2.0.0')
  const old = await c.get('io.github.acme/weather', '1.0.0')
  t.equal(old.server.packages?.[0].version, '1.0.0')
  const versions = await c.versions('io.github.acme/weather')
  t.same(versions.map((v) => v.server.version), ['2.0.0', '1.1.0', '1.0.0'])
  t.ok(reg.requests.some((r) => r.startsWith('/v0/servers/io.github.acme%2Fweather/versions')), 'names are URL-encoded in the path')
})

t.test('a name not found comes with near matches; an unknown version points at the versions', async (t) => {
  const reg = await registry(t)
  const c = await client(t, reg.url)
  const err = await c.get('io.github.acme/wether').catch((e: unknown) => e)
  t.ok(err instanceof ServerNotFoundError)
  t.match((err as ServerNotFoundError).nearMatches, ['io.github.acme/weather'])
  t.equal((err as ServerNotFoundError).nearMatches[0], 'io.github.acme/weather', 'the closest first')
  t.match((err as Error & { hint: string }).hint, /did you mean: io\.github\.acme\/weather/)

  const typoNamespace = await c.versions('com.exampel/search').catch((e: unknown) => e) as ServerNotFoundError
  t.same(typoNamespace.nearMatches, ['com.example/search'])

  const nothingClose = await c.get('org.nowhere/zzzzzz').catch((e: unknown) => e) as ServerNotFoundError
  t.same(nothingClose.nearMatches, [])
  t.match(nothingClose.hint, /1mcp registry search zzzzzz/)

  const badVersion = await c.get('io.github.acme/weather', '9.9.9').catch((e: unknown) => e) as ServerNotFoundError
  t.ok(badVersion instanceof ServerNotFoundError)
  t.match(badVersion.message, /has no version 9\.9\.9/)
  t.match(badVersion.hint, /1mcp registry versions io\.github\.acme\/weather/)
})

t.test('a fresh cached answer is used without asking the registry; a stale one is fetched again', async (t) => {
  const reg = await registry(t)
  const dir = await cacheDir(t)
  let now = 1_000_000
  const make = () => new RegistryClient({ url: reg.url, cacheDir: dir, cacheTtlMs: 60_000, now: () => now })
  await make().get('io.github.acme/weather')
  const asked = reg.requests.length
  t.equal(asked, 1)
  now += 59_000
  await make().get('io.github.acme/weather')
  t.equal(reg.requests.length, asked, 'within the TTL: served from disk by a new client')
  now += 2_000
  await make().get('io.github.acme/weather')
  t.equal(reg.requests.length, asked + 1, 'past the TTL: asked again')
  await new RegistryClient({ url: reg.url, cacheDir: dir, cacheTtlMs: 60_000, now: () => now, refresh: true }).get('io.github.acme/weather')
  t.equal(reg.requests.length, asked + 2, '--refresh skips a fresh cache')
})

t.test('registry unreachable: a cached answer young enough stands in, and says so', async (t) => {
  const reg = await registry(t)
  const dir = await cacheDir(t)
  let now = 5_000_000
  const notices: string[] = []
  const options = { cacheDir: dir, cacheTtlMs: 1_000, maxStaleMs: 3_600_000, now: () => now, onNotice: (m: string) => notices.push(m) }
  const first = await new RegistryClient({ url: reg.url, ...options }).search('acme')
  await reg.close()

  now += 60_000
  const again = await new RegistryClient({ url: reg.url, ...options }).search('acme')
  t.same(again.servers.map((s) => s.server.name), first.servers.map((s) => s.server.name))
  t.equal(notices.length, 1)
  t.match(notices[0], /unreachable \(ECONNREFUSED\); using the cached answer from 60 s ago/)

  now += 3_600_000
  const tooOld = await new RegistryClient({ url: reg.url, ...options }).search('acme').catch((e: unknown) => e) as RegistryUnreachableError
  t.ok(tooOld instanceof RegistryUnreachableError)
  t.match(tooOld.message, /cannot reach the MCP Registry at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/)
  t.match(tooOld.message, /cached answer exists but is 61 min old, past the 60 min limit/)
  t.match(tooOld.hint, /--registry-url/)
})

t.test('registry unreachable with nothing cached is an error naming the registry', async (t) => {
  const url = await deadUrl()
  const c = await client(t, url)
  const err = await c.get('io.github.acme/weather').catch((e: unknown) => e) as RegistryUnreachableError
  t.ok(err instanceof RegistryUnreachableError)
  t.equal(err.exitCode, 3)
  t.match(err.message, url)
})

t.test('a registry answering 5xx counts as unreachable; a non-registry answer is reported as such', async (t) => {
  let mode: 'fail' | 'html' | 'wrong' = 'fail'
  const server = createServer((_req, res) => {
    if (mode === 'fail') { res.writeHead(503).end('down for maintenance'); return }
    if (mode === 'html') { res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hello</html>'); return }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ items: [] }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  const c = await client(t, url)
  const down = await c.search('x').catch((e: unknown) => e)
  t.ok(down instanceof RegistryUnreachableError)
  t.match((down as Error).message, /HTTP 503/)
  mode = 'html'
  const html = await c.search('x').catch((e: unknown) => e)
  t.ok(html instanceof RegistryResponseError)
  t.match((html as Error).message, /not an MCP Registry response: the body is not JSON/)
  mode = 'wrong'
  const wrong = await c.search('x').catch((e: unknown) => e)
  t.ok(wrong instanceof RegistryResponseError)
  t.match((wrong as Error).message, /\/servers/)
})

t.test('a malformed entry is left out with a note; the others are listed', async (t) => {
  const reg = await registry(t, {
    servers: [
      entry({ name: 'a.example/good', version: '1.0.0', packages: [] }),
      entry({ name: 'a.example/broken', version: '1.0.0', packages: [{ registryType: 'npm', identifier: 'x', environmentVariables: [{ isRequired: true }] }] })
    ]
  })
  const notices: string[] = []
  const c = await client(t, reg.url, { onNotice: (m) => notices.push(m) })
  const page = await c.search('example')
  t.same(page.servers.map((s) => s.server.name), ['a.example/good'])
  t.equal(notices.length, 1)
  t.match(notices[0], /left out 1 malformed registry entry from \/servers\?.* \(a\.example\/broken: \/server\/packages\/0\/environmentVariables\/0/)
})

t.test('a registry URL that is not http(s) is refused up front', async (t) => {
  t.throws(() => new RegistryClient({ url: 'ftp://example.com' }), /not http or https/)
  t.throws(() => new RegistryClient({ url: 'not a url' }), /is not a URL/)
})
