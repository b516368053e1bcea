import t from 'tap'
import { readFile, writeFile } from 'node:fs/promises'
import { cli, cliEnv } from '../cli-helpers.js'
import { tempDir } from '../helpers.js'

t.test('preset create, list, show, url, delete', async (t) => {
  const home = await tempDir(t)
  const env = cliEnv(home)
  const path = env.ONEMCP_CONFIG!
  await writeFile(path, JSON.stringify({
    mcpServers: { web: { command: 'w', tags: ['web', 'prod'] }, db: { command: 'd', tags: ['db', 'prod'] }, lab: { command: 'l', tags: ['web', 'beta'] } },
    port: 4100
  }, null, 4) + '\n')

  const created = await cli(['preset', 'create', 'stable', '--filter', 'prod and not beta', '--description', 'what runs in production'], env)
  t.equal(created.code, 0, created.err)
  t.match(created.out, /saved preset stable: prod and not beta\nmatches web, db/)
  t.equal((await cli(['preset', 'create', 'any-web', '--tags', 'web,db'], env)).code, 0)
  const doc = JSON.parse(await readFile(path, 'utf8'))
  t.same(doc.presets, { stable: { filter: 'prod and not beta', description: 'what runs in production' }, 'any-web': { filter: 'web or db' } })
  t.match(await readFile(path, 'utf8'), /^ {4}"mcpServers"/m, 'the file keeps its 4-space indent')

  const list = await cli(['preset', 'list'], env)
  t.match(list.out, /stable\s+prod and not beta\s+2\s+what runs in production/)
  t.match(list.out, /any-web\s+web or db\s+3/)
  t.same(Object.keys(JSON.parse((await cli(['preset', 'list', '--json'], env)).out)), ['stable', 'any-web'])

  const show = await cli(['preset', 'show', 'stable'], env)
  t.match(show.out, /filter:\s+prod and not beta/)
  t.match(show.out, /servers:\s+web, db/)
  t.same(JSON.parse((await cli(['preset', 'show', 'stable', '--json'], env)).out).servers, ['web', 'db'])

  t.equal((await cli(['preset', 'url', 'stable'], env)).out, 'http://127.0.0.1:4100/mcp?preset=stable\n')
  t.equal((await cli(['preset', 'url', 'stable', '--url', 'https://gw.example.com/'], env)).out, 'https://gw.example.com/mcp?preset=stable\n')
  t.equal((await cli(['preset', 'url', 'stable'], { ...env, ONEMCP_URL: 'http://h:1' })).out, 'http://h:1/mcp?preset=stable\n')

  const dup = await cli(['preset', 'create', 'stable', '--tags', 'x'], env)
  t.equal(dup.code, 1)
  t.match(dup.err, /already exists[\s\S]*--force/)
  t.equal((await cli(['preset', 'create', 'stable', '--tags', 'x', '--force'], env)).code, 0)

  t.match((await cli(['preset', 'delete', 'stable'], env)).out, /deleted preset stable/)
  t.match((await cli(['preset', 'delete', 'any-web'], env)).out, /deleted preset any-web/)
  t.notOk('presets' in JSON.parse(await readFile(path, 'utf8')), 'the key goes when the last preset does')
  const none = await cli(['preset', 'show', 'stable'], env)
  t.equal(none.code, 1)
  t.match(none.err, /no preset named 'stable'[\s\S]*1mcp preset create/)
  t.match((await cli(['preset', 'list'], env)).out, /no presets/)
})

t.test('a bad filter is refused with a pointer to the position', async (t) => {
  const home = await tempDir(t)
  const env = cliEnv(home)
  await writeFile(env.ONEMCP_CONFIG!, '{ "mcpServers": {} }')
  const bad = await cli(['preset', 'create', 'p', '--filter', 'web and (db or'], env)
  t.equal(bad.code, 2)
  t.match(bad.err, /invalid tag filter: .* at position 15\n {2}web and \(db or\n {16}\^/)
  t.equal(await readFile(env.ONEMCP_CONFIG!, 'utf8'), '{ "mcpServers": {} }', 'nothing written')
  t.match((await cli(['preset', 'create', 'p'], env)).err, /needs --filter EXPR or --tags/)
  t.match((await cli(['preset', 'create', 'p', '--filter', 'a', '--tags', 'b'], env)).err, /either --filter or --tags/)
  t.match((await cli(['preset', 'create', 'bad name', '--tags', 'b'], env)).err, /not a valid preset name/)
  t.match((await cli(['preset', 'url'], env)).err, /a preset NAME is required/)
})
