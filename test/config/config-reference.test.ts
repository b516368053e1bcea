import { readFile } from 'node:fs/promises'
import t from 'tap'
import { DEFAULTS } from '../../schemas/config.js'
import { AUTH_DEFAULTS } from '../../schemas/auth.js'
import { configReference, configRows, withConfigReference } from '../../schemas/reference.js'

const DOC = new URL('../../docs/configuration.md', import.meta.url)

t.test('docs/configuration.md holds the reference the schemas generate (run `npm run docs:config` after editing a schema)', async (t) => {
  const doc = await readFile(DOC, 'utf8')
  t.equal(doc, withConfigReference(doc), 'the generated table is current')
  t.ok(doc.includes(configReference()), 'and present')
  const stale = doc.replace('`mcpServers.<name>.requestTimeout` | integer | `60000`', '`mcpServers.<name>.requestTimeout` | integer | `90000`')
  t.not(stale, doc, 'the table names the request timeout default')
  t.not(withConfigReference(stale), stale, 'a drifted table is caught')
})

t.test('every key of the config is described', async (t) => {
  const rows = configRows()
  t.ok(rows.length > 60, `${rows.length} keys`)
  t.same(rows.filter((row) => row.meaning === '').map((row) => row.key), [], 'no key without a meaning')
})

t.test('every declared default is a default of the schema, once', async (t) => {
  const schemaDefaults = new Map(configRows().filter((row) => row.byDefault.startsWith('`')).map((row) => [row.key, JSON.parse(row.byDefault.slice(1, -1)) as unknown]))
  const expected: Array<[string, unknown]> = [
    ...Object.entries(DEFAULTS).filter(([, value]) => typeof value !== 'object').map(([key, value]): [string, unknown] => [key, value]),
    ...Object.entries(DEFAULTS.server).map(([key, value]): [string, unknown] => [`mcpServers.<name>.${key}`, value]),
    ...Object.entries(DEFAULTS.preset).map(([key, value]): [string, unknown] => [`presets.<name>.${key}`, value]),
    ...Object.entries(DEFAULTS.restart).map(([key, value]): [string, unknown] => [`mcpServers.<name>.restart.${key}`, value]),
    ...(['sessions', 'rateLimit', 'loadShedding', 'registry'] as const).flatMap((group) => Object.entries(DEFAULTS[group]).map(([key, value]): [string, unknown] => [`${group}.${key}`, value])),
    ...Object.entries(AUTH_DEFAULTS).filter(([, value]) => typeof value !== 'object').map(([key, value]): [string, unknown] => [`auth.${key}`, value]),
    ...Object.entries(AUTH_DEFAULTS.rateLimit).map(([key, value]): [string, unknown] => [`auth.rateLimit.${key}`, value])
  ]
  for (const [key, value] of expected) t.same(schemaDefaults.get(key), value, `${key} defaults to ${JSON.stringify(value)} in the schema`)
})

t.test('the README\'s table of essential keys names only keys the schema has', async (t) => {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8')
  const table = readme.slice(readme.indexOf('The keys you will use most, per server:'), readme.indexOf('Edit the file by hand'))
  const named = [...table.matchAll(/^\| ([^|]+) \|/gm)].flatMap((row) => [...row[1].matchAll(/`([A-Za-z]+)`/g)].map((m) => m[1]))
  t.ok(named.length >= 8, `the table names ${named.join(', ')}`)
  const keys = new Set(configRows().map((row) => row.key))
  t.same(named.filter((key) => !keys.has(`mcpServers.<name>.${key}`)), [], 'each is a server key of the schema')
})
