import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { Test } from 'tap'
import { run } from '../../cli/index.js'
import type { PromptingIo } from '../../cli/registry/install.js'
// @ts-expect-error: a plain .mjs fixture without types
import { startRegistry } from '../fixtures/registry-server.mjs'
import { uncoveredChildEnv } from '../helpers.js'

interface Registry { url: string, requests: string[], close: () => Promise<void> }
interface Result { code: number, out: string, err: string }
interface Env { dir: string, config: string, registry: Registry, env: NodeJS.ProcessEnv }

const BIN = fileURLToPath(new URL('../../bin/1mcp.mjs', import.meta.url))

/** A registry fixture, a temp dir with a cache and a config path (the file is not created). */
async function setup (t: Test): Promise<Env> {
  const registry = await startRegistry() as Registry
  t.teardown(() => registry.close())
  const dir = await mkdtemp(join(tmpdir(), '1mcp-registry-cli-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return { dir, config: join(dir, 'config.json'), registry, env: { ONEMCP_CACHE_DIR: join(dir, 'cache') } }
}

/** Runs the CLI in this process with captured output; `stdin` feeds the prompts. */
async function cli (e: Env, argv: string[], stdin?: NodeJS.ReadableStream, withRegistry = true): Promise<Result> {
  let out = ''
  let err = ''
  const io: PromptingIo = {
    out: (s) => { out += s },
    err: (s) => { err += s },
    env: e.env,
    cwd: e.dir,
    stdin: (stdin ?? Readable.from([])) as PromptingIo['stdin']
  }
  const flags = withRegistry ? ['--registry-url', e.registry.url] : []
  const code = await run([...argv, '--config', e.config, ...flags], io)
  return { code, out, err }
}

async function readConfig (e: Env): Promise<{ mcpServers: Record<string, unknown>, [key: string]: unknown }> {
  return JSON.parse(await readFile(e.config, 'utf8'))
}

t.test('search prints a table; --json gives the entries and a cursor; paging with it sees each server once', async (t) => {
  const e = await setup(t)
  const table = await cli(e, ['registry', 'search', 'acme'])
  t.equal(table.code, 0, table.err)
  const lines = table.out.trim().split('\n')
  t.match(lines[0], /^NAME\s+VERSION\s+RUNS AS\s+DESCRIPTION$/)
  t.match(table.out, /io\.github\.acme\/weather\s+2\.0\.0\s+npm\s+Forecasts and current conditions/)
  t.match(table.out, /io\.github\.acme\/dotnet-tools\s+0\.4\.0\s+nuget\*/)
  t.match(table.out, /io\.github\.acme\/hybrid\s+1\.5\.0\s+npm,remote\(streamable-http\)/)
  t.match(table.out, /\* 1mcp cannot install this kind of package/)
  t.notMatch(table.out, /retired/, 'entries the registry marks deleted are hidden')

  const names: string[] = []
  let cursor: string | null = null
  for (let page = 0; page < 10; page++) {
    const res = await cli(e, ['registry', 'search', '--json', '--limit', '5', ...(cursor ? ['--cursor', cursor] : [])])
    t.equal(res.code, 0, res.err)
    const body = JSON.parse(res.out) as { servers: Array<{ server: { name: string } }>, nextCursor: string | null, registry: string }
    t.equal(body.registry, e.registry.url)
    t.ok(body.servers.length <= 5)
    names.push(...body.servers.map((s) => s.server.name))
    cursor = body.nextCursor
    if (!cursor) break
  }
  t.equal(cursor, null)
  t.equal(names.length, 20, 'every server but the deleted one')
  t.equal(new Set(names).size, names.length)

  const more = await cli(e, ['registry', 'search', '--limit', '3'])
  t.match(more.out, /more: 1mcp registry search --cursor \S+ --limit 3/)
})

t.test('search filters by package type and transport, and a cursor resumes exactly where --limit cut', async (t) => {
  const e = await setup(t)
  const names = async (argv: string[]) => {
    const res = await cli(e, ['registry', 'search', '--json', ...argv])
    t.equal(res.code, 0, res.err)
    return (JSON.parse(res.out) as { servers: Array<{ server: { name: string } }> }).servers.map((s) => s.server.name)
  }
  t.same(await names(['--type', 'pypi']), ['io.github.acme/weather-py'])
  t.same(await names(['--type', 'oci']), ['io.github.acme/database'])
  t.same(await names(['--transport', 'sse']), ['com.example/search'])
  t.same(await names(['--type', 'remote']), ['com.example/search', 'io.github.acme/hybrid'])
  t.same(await names(['acme', '--type', 'npm', '--transport', 'streamable-http']), ['io.github.acme/http-package'])

  const all: string[] = []
  let cursor: string | null = null
  for (let page = 0; page < 20; page++) {
    const res = await cli(e, ['registry', 'search', '--json', '--type', 'npm', '--transport', 'stdio', '--limit', '3', ...(cursor ? ['--cursor', cursor] : [])])
    const body = JSON.parse(res.out) as { servers: Array<{ server: { name: string } }>, nextCursor: string | null }
    all.push(...body.servers.map((s) => s.server.name))
    cursor = body.nextCursor
    if (!cursor) break
  }
  t.equal(all.length, 14, 'weather, hybrid and the twelve fillers')
  t.equal(new Set(all).size, 14, 'no repeats across the cuts')

  const bad = await cli(e, ['registry', 'search', '--type', 'cargo'])
  t.equal(bad.code, 2)
  t.match(bad.err, /--type must be one of npm, pypi, oci, nuget, mcpb, remote/)
  const badLimit = await cli(e, ['registry', 'search', '--limit', '0'])
  t.equal(badLimit.code, 2)
})

t.test('show describes packages, remotes and the values they need; versions lists them', async (t) => {
  const e = await setup(t)
  const show = await cli(e, ['registry', 'show', 'io.github.acme/weather'])
  t.equal(show.code, 0, show.err)
  t.match(show.out, /^io\.github\.acme\/weather 2\.0\.0 \(active, latest, published 2026-02-01\)/)
  t.match(show.out, /package npm \(stdio\): @acme\/weather-mcp@2\.0\.0 \(runs with npx\)/)
  t.match(show.out, /env WEATHER_API_KEY {2}\(required, secret\) {2}API key for the weather service/)
  t.match(show.out, /install: 1mcp mcp install io\.github\.acme\/weather\n/)

  const old = await cli(e, ['registry', 'show', 'io.github.acme/weather@1.0.0', '--json'])
  t.equal(JSON.parse(old.out).server.version, '1.0.0')

  const remote = await cli(e, ['registry', 'show', 'com.example/search'])
  t.match(remote.out, /remote streamable-http: https:\/\/\{tenant\}\.search\.example\.com\/mcp/)
  t.match(remote.out, /url variable tenant {2}\(required\)/)
  t.match(remote.out, /header Authorization {2}\(fixed: Bearer \{token\}, secret\)/)

  const nuget = await cli(e, ['registry', 'show', 'io.github.acme/dotnet-tools'])
  t.match(nuget.out, /package nuget \(stdio\): Acme\.Tools@0\.4\.0 \(1mcp cannot install this\)/)

  const versions = await cli(e, ['registry', 'versions', 'io.github.acme/weather'])
  t.equal(versions.code, 0, versions.err)
  t.same(versions.out.trim().split('\n').map((l) => l.split(/\s+/).slice(0, 3).join(' ')), [
    'VERSION STATUS PUBLISHED', '2.0.0 active 2026-02-01', '1.1.0 active 2025-12-01', '1.0.0 active 2025-10-01'
  ])
  const json = await cli(e, ['registry', 'versions', 'io.github.acme/weather', '--json'])
  t.same(JSON.parse(json.out).map((v: { server: { version: string } }) => v.server.version), ['2.0.0', '1.1.0', '1.0.0'])
})

t.test('a name not found exits 4 with near matches', async (t) => {
  const e = await setup(t)
  for (const argv of [['registry', 'show', 'io.github.acme/wether'], ['registry', 'versions', 'io.github.acme/wether'], ['mcp', 'install', 'io.github.acme/wether', '--no-input']]) {
    const res = await cli(e, argv)
    t.equal(res.code, 4, argv.join(' '))
    t.match(res.err, /no server named io\.github\.acme\/wether in the registry\n {2}→ did you mean: io\.github\.acme\/weather/)
  }
  const version = await cli(e, ['mcp', 'install', 'io.github.acme/weather@7.0.0', '--no-input'])
  t.equal(version.code, 4)
  t.match(version.err, /has no version 7\.0\.0/)
  t.rejects(readFile(e.config), 'nothing written')
})

t.test('install turns each package type into a config entry, keeping the rest of the file', async (t) => {
  const e = await setup(t)
  // the registry URL comes from the config's own "registry" key here, not from a flag
  const original = { $schema: 'x', registry: { url: e.registry.url }, logLevel: 'warn', mcpServers: { existing: { command: 'node', args: ['a.js'], tags: ['keep'] } } }
  await writeFile(e.config, JSON.stringify(original, null, 4) + '\n')
  const install = (argv: string[]) => cli(e, ['mcp', 'install', ...argv, '--no-input'], undefined, false)

  let res = await install(['io.github.acme/weather', '--env', 'WEATHER_API_KEY=k-123', '--arg', 'units=imperial'])
  t.equal(res.code, 0, res.err)
  t.match(res.out, /added 'weather' \(io\.github\.acme\/weather@2\.0\.0\) in .*config\.json: npx -y @acme\/weather-mcp@2\.0\.0 --units imperial \(env: WEATHER_API_KEY, WEATHER_REGION\)/)
  t.notMatch(res.out, /k-123/, 'secret values are not echoed')

  res = await install(['io.github.acme/weather@1.0.0', '--name', 'weather-old', '--env', 'WEATHER_API_KEY=k', '--env', 'WEATHER_REGION=us'])
  t.equal(res.code, 0, res.err)
  res = await install(['io.github.acme/weather-py', '--arg', 'data_dir=/var/data'])
  t.equal(res.code, 0, res.err)
  res = await install(['io.github.acme/database', '--arg', 'db_type=postgres', '--arg', 'database_name=shop', '--env', 'DB_PASSWORD=pw'])
  t.equal(res.code, 0, res.err)
  res = await install(['com.example/search', '--arg', 'tenant=acme', '--arg', 'token=t0k', '--tags', 'web,search'])
  t.equal(res.code, 0, res.err)
  res = await install(['com.example/search', '--transport', 'sse', '--name', 'search-sse'])
  t.equal(res.code, 0, res.err)
  res = await install(['io.github.acme/hybrid', '--type', 'remote'])
  t.equal(res.code, 0, res.err)

  const config = await readConfig(e)
  t.equal(config.$schema, 'x')
  t.equal(config.logLevel, 'warn')
  t.same(config.registry, { url: e.registry.url })
  t.same(config.mcpServers, {
    existing: { command: 'node', args: ['a.js'], tags: ['keep'] },
    weather: {
      command: 'npx',
      args: ['-y', '@acme/weather-mcp@2.0.0', '--units', 'imperial'],
      env: { WEATHER_API_KEY: 'k-123', WEATHER_REGION: 'eu' },
      description: 'Forecasts and current conditions'
    },
    'weather-old': {
      command: 'npx',
      args: ['-y', '@acme/weather-mcp@1.0.0', '--units', 'metric'],
      env: { WEATHER_API_KEY: 'k', WEATHER_REGION: 'us' },
      description: 'Forecasts and current conditions'
    },
    'weather-py': {
      command: 'uvx',
      args: ['weather-mcp-server@0.5.0', '/var/data'],
      env: { WEATHER_UNITS: 'celsius' },
      description: 'Weather data, the Python edition'
    },
    database: {
      command: 'docker',
      args: ['run', '-i', '--rm', '--network', 'host', '-e', 'DB_TYPE=postgres', '-e', 'DB_PASSWORD', '-e', 'SSL_MODE', 'docker.io/acme/database-mcp:3.1.0', 'shop'],
      env: { DB_PASSWORD: 'pw', SSL_MODE: 'prefer' },
      description: 'SQL databases over MCP'
    },
    search: {
      type: 'streamable-http',
      url: 'https://acme.search.example.com/mcp',
      headers: { Authorization: 'Bearer t0k' },
      description: 'Hosted web search',
      tags: ['web', 'search']
    },
    'search-sse': { type: 'sse', url: 'https://sse.search.example.com/sse', description: 'Hosted web search' },
    hybrid: { type: 'streamable-http', url: 'https://hybrid.example.com/mcp', description: 'Both an npm package and a hosted endpoint' }
  })
  t.match(await readFile(e.config, 'utf8'), /^\{\n {4}"\$schema"/, 'the file keeps its indent')
})

t.test('install asks for required values on stdin, re-asks a wrong one, and takes defaults on an empty answer', async (t) => {
  const e = await setup(t)
  const stdin = new PassThrough()
  const answers: Record<string, string[]> = { db_type: ['oracle', 'mysql'], database_name: ['inventory'], DB_PASSWORD: ['s3cret'] }
  let seen = ''
  const io: PromptingIo = {
    out: () => {},
    // answer each question when it is asked, as a person at a terminal would
    err: (s) => {
      seen += s
      const asked = /^(\S+) \(/.exec(s.replace(/^ {2}.*try again\.\n/, ''))
      if (asked && answers[asked[1]]?.length) stdin.write(answers[asked[1]].shift() + '\n')
    },
    env: e.env,
    cwd: e.dir,
    stdin
  }
  const code = await run(['mcp', 'install', 'io.github.acme/database', '--config', e.config, '--registry-url', e.registry.url], io)
  t.equal(code, 0, seen)
  t.match(seen, /io\.github\.acme\/database@3\.1\.0 as oci \(stdio\) needs some values/)
  t.match(seen, /db_type \(argument\) — Type of database \[required\] one of: postgres, mysql: /)
  t.match(seen, /'oracle' is not one of postgres, mysql; try again\./)
  t.match(seen, /DB_PASSWORD \(environment variable\) — Database password \[secret, required\]: /)
  t.notMatch(seen, /SSL_MODE/, 'an optional value with a default is not asked')
  t.notMatch(seen, /s3cret/)
  const entry = (await readConfig(e)).mcpServers.database as { args: string[], env: Record<string, string> }
  t.same(entry.args.slice(-2), ['docker.io/acme/database-mcp:3.1.0', 'inventory'])
  t.ok(entry.args.includes('DB_TYPE=mysql'))
  t.same(entry.env, { DB_PASSWORD: 's3cret', SSL_MODE: 'prefer' })

  // answers piped ahead of the questions work the same; an empty answer takes the default
  const piped = await cli(e, ['mcp', 'install', 'io.github.acme/weather', '--arg', 'units=metric'], Readable.from(['key-1\n']))
  t.equal(piped.code, 0, piped.err)
  t.same(((await readConfig(e)).mcpServers.weather as { env: object }).env, { WEATHER_API_KEY: 'key-1', WEATHER_REGION: 'eu' })
})

t.test('a required value never ends up empty: stdin closing early or --no-input is an error, and nothing is written', async (t) => {
  const e = await setup(t)
  await writeFile(e.config, '{"mcpServers":{}}')
  const closed = await cli(e, ['mcp', 'install', 'io.github.acme/database'], Readable.from(['postgres\n']))
  t.equal(closed.code, 6)
  t.match(closed.err, /required values are missing: --arg database_name=… \(Database to open\); --env DB_PASSWORD=… \(Database password\)/)

  const noInput = await cli(e, ['mcp', 'install', 'io.github.acme/database', '--no-input'])
  t.equal(noInput.code, 6)
  t.match(noInput.err, /--arg db_type=…/)
  t.match(noInput.err, /--arg database_name=…/)
  t.match(noInput.err, /--env DB_PASSWORD=…/)
  t.match(noInput.err, /run without --no-input to be asked/)

  const blanks = await cli(e, ['mcp', 'install', 'io.github.acme/weather-py'], Readable.from(['\n', '\n', '\n']))
  t.equal(blanks.code, 2)
  t.match(blanks.err, /arg data_dir: a value is required/)

  const badChoice = await cli(e, ['mcp', 'install', 'io.github.acme/weather', '--env', 'WEATHER_API_KEY=k', '--arg', 'units=kelvin', '--no-input'])
  t.equal(badChoice.code, 2)
  t.match(badChoice.err, /arg units: 'kelvin' is not one of metric, imperial/)

  const typo = await cli(e, ['mcp', 'install', 'io.github.acme/weather', '--env', 'WEATHER_API_KEY=k', '--env', 'WEATHER_APIKEY=k', '--no-input'])
  t.equal(typo.code, 2)
  t.match(typo.err, /--env WEATHER_APIKEY matches no input of io\.github\.acme\/weather@2\.0\.0 as npm \(stdio\)/)

  t.equal(await readFile(e.config, 'utf8'), '{"mcpServers":{}}', 'the config is untouched')
})

t.test('an entry 1mcp cannot run is refused with what it offers and what to do', async (t) => {
  const e = await setup(t)
  const cases: Array<[string[], RegExp]> = [
    [['io.github.acme/dotnet-tools'], /nuget: a package type 1mcp cannot run \(run it yourself with "dnx Acme\.Tools@0\.4\.0 --yes"/],
    [['io.github.acme/bundle'], /mcpb: a package type 1mcp cannot run \(download and unpack/],
    [['io.github.acme/http-package'], /npm \(streamable-http\): the package serves streamable-http itself at http:\/\/localhost:\{port\}\/mcp; start it yourself/],
    [['io.github.acme/weather', '--type', 'pypi'], /offers npm \(stdio\); nothing matches --type pypi/]
  ]
  for (const [argv, message] of cases) {
    const res = await cli(e, ['mcp', 'install', ...argv, '--no-input'])
    t.equal(res.code, 5, argv.join(' '))
    t.match(res.err, message)
  }
  const hint = await cli(e, ['mcp', 'install', 'io.github.acme/dotnet-tools', '--no-input'])
  t.match(hint.err, /→ 1mcp runs npm \(npx\), pypi \(uvx\) and oci \(docker\) packages over stdio, and streamable-http or sse remotes/)
  const deleted = await cli(e, ['mcp', 'install', 'io.github.acme/retired', '--no-input'])
  t.equal(deleted.code, 4)
  t.match(deleted.err, /marks io\.github\.acme\/retired@0\.0\.1 as deleted/)
  t.rejects(readFile(e.config), 'nothing written')
})

t.test('a name already in the config is kept unless --force; --dry-run writes nothing', async (t) => {
  const e = await setup(t)
  await writeFile(e.config, JSON.stringify({ mcpServers: { hybrid: { command: 'mine' } } }))
  const clash = await cli(e, ['mcp', 'install', 'io.github.acme/hybrid', '--no-input'])
  t.equal(clash.code, 1)
  t.match(clash.err, /a server named 'hybrid' is already in .*config\.json\n {2}→ choose another name with --name, or replace it with --force/)
  const dry = await cli(e, ['mcp', 'install', 'io.github.acme/hybrid', '--no-input', '--dry-run', '--json'])
  t.equal(dry.code, 0, dry.err)
  t.same(JSON.parse(dry.out), { name: 'hybrid', server: 'io.github.acme/hybrid', version: '1.5.0', entry: { command: 'npx', args: ['-y', '@acme/hybrid-mcp@1.5.0'], description: 'Both an npm package and a hosted endpoint' }, written: false })
  t.same((await readConfig(e)).mcpServers, { hybrid: { command: 'mine' } })
  const forced = await cli(e, ['mcp', 'install', 'io.github.acme/hybrid', '--no-input', '--force'])
  t.equal(forced.code, 0, forced.err)
  t.match(forced.out, /^replaced 'hybrid'/)
  t.same((await readConfig(e)).mcpServers.hybrid, { command: 'npx', args: ['-y', '@acme/hybrid-mcp@1.5.0'], description: 'Both an npm package and a hosted endpoint' })
})

t.test('registry unreachable: an error with what to do, or the cache with a note when it is recent enough', async (t) => {
  const e = await setup(t)
  const first = await cli(e, ['registry', 'search', 'weather', '--json'])
  t.equal(first.code, 0, first.err)
  await e.registry.close()

  const cached = await cli(e, ['registry', 'search', 'weather', '--json', '--refresh'])
  t.equal(cached.code, 0, cached.err)
  t.same(JSON.parse(cached.out).servers, JSON.parse(first.out).servers)
  t.match(cached.err, /1mcp: note: the registry at http:\/\/127\.0\.0\.1:\d+ is unreachable \(ECONNREFUSED\); using the cached answer from \d+ s ago/)

  const uncached = await cli(e, ['registry', 'show', 'io.github.acme/weather'])
  t.equal(uncached.code, 3)
  t.match(uncached.err, /cannot reach the MCP Registry at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED\.\n {2}→ check the network, or point --registry-url/)

  const install = await cli(e, ['mcp', 'install', 'io.github.acme/weather', '--no-input'])
  t.equal(install.code, 3)
  t.rejects(readFile(e.config), 'nothing written')
})

t.test('the 1mcp binary installs from the registry with answers typed on its stdin', async (t) => {
  const e = await setup(t)
  const child = spawn(process.execPath, [BIN, 'mcp', 'install', 'io.github.acme/weather-py', '--config', e.config, '--registry-url', e.registry.url], {
    env: uncoveredChildEnv({ ...e.env, ONEMCP_CONFIG: '' }),
    cwd: e.dir,
    stdio: ['pipe', 'pipe', 'pipe']
  })
  t.teardown(() => { if (child.exitCode === null) child.kill() })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => { out += d })
  child.stderr.on('data', (d: Buffer) => {
    err += d
    if (/data_dir \(argument\).*: $/.test(err)) child.stdin.end('/srv/weather\n')
  })
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  t.equal(code, 0, err)
  t.match(out, /added 'weather-py' \(io\.github\.acme\/weather-py@0\.5\.0\) in .*: uvx weather-mcp-server@0\.5\.0 \/srv\/weather/)
  t.same((await readConfig(e)).mcpServers['weather-py'], {
    command: 'uvx', args: ['weather-mcp-server@0.5.0', '/srv/weather'], env: { WEATHER_UNITS: 'celsius' }, description: 'Weather data, the Python edition'
  })
})
