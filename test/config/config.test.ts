/* eslint-disable no-template-curly-in-string -- these strings are the config's own `${VAR}` syntax, not templates */
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import pino from 'pino'
import { ConfigError } from '../../plugins/errors.js'
import { editDistance, loadConfig, parseConfigText, substituteEnv, validateConfig } from '../../plugins/config-load.js'
import { ConfigStore } from '../../plugins/config-store.js'

const log = pino({ level: 'silent' })

t.test('${VAR} substitution walks arrays and objects, uses defaults for unset or empty variables, and names the path of a missing one', async (t) => {
  const env = { HOME_DIR: '/home/x', EMPTY: '' }
  t.same(substituteEnv({ a: ['${HOME_DIR}/bin', 7, null], b: { c: '${EMPTY:-fallback}', d: true } }, env), { a: ['/home/x/bin', 7, null], b: { c: 'fallback', d: true } })
  t.throws(() => substituteEnv({ servers: [{ env: { KEY: 'pre-${NOPE}' } }] }, env), new ConfigError('servers[0].env.KEY: environment variable NOPE is not set (use ${NOPE:-default} for a default)'))
  t.throws(() => substituteEnv('${NOPE}', env), /^\(the document\): environment variable NOPE/)
})

t.test('validation names each path; an unknown key gets the nearest known one', async (t) => {
  t.throws(() => validateConfig({ mcpServers: {}, prot: 3000 }), /^invalid config: prot: unknown key \(did you mean "port"\?\); known keys: .*mcpServers/)
  t.throws(() => validateConfig({ mcpServers: {}, zzzzzzzzz: 1 }), /zzzzzzzzz: unknown key; known keys/, 'nothing near enough: no suggestion')
  t.throws(() => validateConfig({ mcpServers: { a: { command: 'x', 'a/b~c': 1 } } }), /unknown key/)
  t.throws(() => validateConfig({}), /invalid config: .*mcpServers/)
  t.equal(editDistance('kitten', 'sitting'), 3)
  t.equal(editDistance('', 'abc'), 3)
})

t.test('parsing: bad JSON is a ConfigError with line and column; ${VAR}s are substituted, then the result validated', async (t) => {
  t.throws(() => parseConfigText('{ nope'), { name: 'ConfigError', message: /^invalid JSON at line 1, column 3: / })
  t.throws(() => parseConfigText('{\n  "mcpServers": {\n    "a": { "command": "x" },\n  }\n}'), { message: /^invalid JSON at line 4, column 3: / }, 'a trailing comma: where it is')
  t.throws(() => parseConfigText('\uFEFF{"mcpServers":{}, }'), { message: /^invalid JSON at line 1, column 19:/ }, 'a byte-order mark is not counted')
  const remote = parseConfigText('{"mcpServers":{"r":{"url":"${U}"}}}', { U: 'http://127.0.0.1:9/mcp' })
  t.equal(remote.mcpServers.r.url, 'http://127.0.0.1:9/mcp', 'a variable can stand for a whole URL')
  t.throws(() => parseConfigText('{"mcpServers":{"r":{"url":"${U}"}}}', { U: 'ftp://x' }), /mcpServers\.r\.url: /, 'the substituted value is what is validated')
  t.throws(() => parseConfigText('{"mcpServers":{"r":{"url":"${U}"}}}', {}), /mcpServers\.r\.url: environment variable U is not set/)
  const nested = parseConfigText('{"mcpServers":{"m":{"command":"node","env":{"F":"${MEM:-${ONEMCP_CONFIG_DIR}/memory.jsonl}"}}}}', { ONEMCP_CONFIG_DIR: '/srv/gw' })
  t.equal(nested.mcpServers.m.env?.F, '/srv/gw/memory.jsonl', 'a default may name another variable')
  const config = parseConfigText('{"mcpServers":{"a":{"command":"${CMD:-node}"}}}', {})
  t.same(config.mcpServers.a, { command: 'node' })
})

t.test('the store: an unreadable file is an error at boot; inline config and overrides; a bad reload keeps the last good config', async (t) => {
  await t.rejects(ConfigStore.open({ path: '/nonexistent/1mcp.json', log }), /^config file \/nonexistent\/1mcp.json does not exist: check --config/)
  await t.rejects(ConfigStore.open({ path: tmpdir(), log }), /is a directory: point --config at the JSON file/)

  const inline = await ConfigStore.open({ config: { mcpServers: {}, port: 1 }, overrides: { port: 2, host: undefined }, log })
  t.equal(inline.current.port, 2, 'an override wins, an undefined one is ignored')
  t.equal(inline.status.path, null)
  t.equal(await inline.reload(), true, 'an inline config reloads to itself')
  await inline.watch(10)
  await inline.close()

  const empty = await ConfigStore.open({ log })
  t.same(empty.current.mcpServers, {}, 'no file and no config: no servers')

  const dir = mkdtempSync(join(tmpdir(), '1mcp-config-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'config.json')
  writeFileSync(path, JSON.stringify({ mcpServers: {}, port: 4000 }))
  const store = await ConfigStore.open({ path, log })
  t.teardown(() => store.close())
  const changes: number[] = []
  store.on('change', (next) => changes.push(next.port ?? 0))
  writeFileSync(path, '{ broken')
  t.equal(await store.reload(), false)
  t.equal(await store.reload(), false, 'the same error again is not logged twice, and still refused')
  t.equal(store.status.valid, false)
  t.match(store.status.error, /invalid JSON/)
  t.equal(store.current.port, 4000, 'the last good config stays')
  writeFileSync(path, JSON.stringify({ mcpServers: {}, port: 4001 }))
  t.equal(await store.reload(), true)
  t.same(store.status.pendingRestart, ['port'], 'port takes effect only after a restart')
  t.equal(store.status.error, undefined)
  t.equal(store.current.port, 4000, 'until then every reader sees the boot value')
  t.same(changes, [], 'nothing else changed: no change event')
  writeFileSync(path, JSON.stringify({ mcpServers: {}, port: 4001, pageSize: 5 }))
  t.equal(await store.reload(), true)
  t.same(changes, [4000], 'a live key changed: one event, the port still at its boot value')
  t.equal(await store.reload(), true, 'an unchanged file reloads without a change event')
  t.same(changes, [4000])
})

t.test("the repository's config.json keeps the memory server's data beside it, not in node_modules", async (t) => {
  const path = join(import.meta.dirname, '..', '..', 'config.json')
  const config = await loadConfig({ path, env: {} })
  t.equal(config.mcpServers.memory.env?.MEMORY_FILE_PATH, join(dirname(path), 'memory.jsonl'))
  const chosen = await loadConfig({ path, env: { MEMORY_FILE_PATH: '/srv/memory.jsonl' } })
  t.equal(chosen.mcpServers.memory.env?.MEMORY_FILE_PATH, '/srv/memory.jsonl', 'MEMORY_FILE_PATH still wins')
})
