/* eslint-disable no-template-curly-in-string -- these strings are the config's own `${VAR}` references, written and read back literally */
import t from 'tap'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { editConfigFile, readConfigFile, resolveConfigPath } from '../../cli/config-file.js'
import { CliError } from '../../cli/errors.js'
import { tempDir } from '../helpers.js'

t.test('an edit keeps key order, indent, line endings and ${VAR} references', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'config.json')
  const text = '{\r\n\t"port": 4000,\r\n\t"mcpServers": {\r\n\t\t"a": { "command": "node", "env": { "TOKEN": "${TOKEN}" } }\r\n\t},\r\n\t"logLevel": "warn"\r\n}'
  await writeFile(path, text)
  await editConfigFile(path, (doc) => { doc.mcpServers.b = { url: 'http://127.0.0.1:1/mcp' } })
  const after = await readFile(path, 'utf8')
  t.ok(after.includes('\r\n\t"port": 4000'), 'tabs and CRLF kept')
  t.notOk(after.endsWith('\n'), 'no final newline added where there was none')
  t.same(Object.keys(JSON.parse(after)), ['port', 'mcpServers', 'logLevel'], 'key order kept')
  t.equal(JSON.parse(after).mcpServers.a.env.TOKEN, '${TOKEN}', 'the reference is not expanded')
  t.same(Object.keys(JSON.parse(after).mcpServers), ['a', 'b'])
})

t.test('an edit that makes the config invalid writes nothing', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'config.json')
  const text = '{\n    "mcpServers": {}\n}\n'
  await writeFile(path, text)
  const err = await editConfigFile(path, (doc) => { (doc as Record<string, unknown>).prot = 1 }).catch((e) => e)
  t.ok(err instanceof CliError)
  t.match(err.message, /would make the config invalid: .*prot: unknown key \(did you mean "port"\?\)/)
  t.equal(await readFile(path, 'utf8'), text)
  t.same((await readdir(dir)).sort(), ['config.json'], 'no temp file left behind')
})

t.test('a file changed during the edit is not overwritten', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'config.json')
  await writeFile(path, '{ "mcpServers": {} }')
  const err = await editConfigFile(path, async (doc) => {
    await writeFile(path, '{ "mcpServers": {}, "port": 1 }')
    doc.port = 2
  }).catch((e) => e)
  t.match(err.message, /changed while it was being edited/)
  t.equal(JSON.parse(await readFile(path, 'utf8')).port, 1)
})

t.test('read errors say what to do next', async (t) => {
  const dir = await tempDir(t)
  const missing = await readConfigFile(join(dir, 'none.json')).catch((e) => e)
  t.match(missing.message, /no config file at/)
  t.match(missing.hint, /--config FILE or set ONEMCP_CONFIG/)
  await writeFile(join(dir, 'bad.json'), '{ "mcpServers": ')
  t.match((await readConfigFile(join(dir, 'bad.json')).catch((e) => e)).message, /is not valid JSON/)
  await writeFile(join(dir, 'invalid.json'), '{ "servers": {} }')
  t.match((await readConfigFile(join(dir, 'invalid.json')).catch((e) => e)).message, /mcpServers/)
  const created = await readConfigFile(join(dir, 'new.json'), { allowMissing: true })
  t.same(created.doc, { mcpServers: {} })
  t.equal(created.exists, false)
})

t.test('the config path: --config, then ONEMCP_CONFIG, then ./config.json, else the user config file', async (t) => {
  t.equal(resolveConfigPath('x.json', { ONEMCP_CONFIG: '/e.json' }, '/w'), '/w/x.json')
  t.equal(resolveConfigPath(undefined, { ONEMCP_CONFIG: '/e.json' }, '/w'), '/e.json')
  const dir = await tempDir(t)
  t.equal(resolveConfigPath(undefined, { ONEMCP_HOME: '/h' }, dir), '/h/.config/1mcp/config.json', 'no ./config.json: the user one')
  t.equal(resolveConfigPath(undefined, { XDG_CONFIG_HOME: '/x' }, dir), '/x/1mcp/config.json')
  await writeFile(join(dir, 'config.json'), '{"mcpServers":{}}')
  t.equal(resolveConfigPath(undefined, { ONEMCP_HOME: '/h' }, dir), join(dir, 'config.json'), './config.json when it exists')
})
