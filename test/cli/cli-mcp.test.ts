/* eslint-disable no-template-curly-in-string -- these strings are the config's own `${VAR}` references, written and read back literally */
import t from 'tap'
import { readFile, writeFile } from 'node:fs/promises'
import { ECHO_SERVER, echoFixture, startGateway, tempDir, waitFor } from '../helpers.js'
import { cli, cliEnv } from '../cli-helpers.js'

t.test('mcp add, list, disable, enable, remove edit the config file', async (t) => {
  const home = await tempDir(t)
  const env = cliEnv(home)
  const path = env.ONEMCP_CONFIG!

  const added = await cli(['mcp', 'add', 'echo', '--tags', 'dev,local', '--env', 'FIXTURE_NAME=echo', '--env', 'TOKEN=${TOKEN}', '--', process.execPath, ECHO_SERVER, '--flag'], env)
  t.equal(added.code, 0, added.err)
  t.match(added.out, /added echo \(stdio\)/)
  const remote = await cli(['mcp', 'add', 'remote', '--url', 'http://127.0.0.1:9/mcp', '--header', 'X-Key=abc', '--description', 'far away', '--disabled'], env)
  t.equal(remote.code, 0, remote.err)
  let doc = JSON.parse(await readFile(path, 'utf8'))
  t.same(doc.mcpServers.echo, { command: process.execPath, args: [ECHO_SERVER, '--flag'], env: { FIXTURE_NAME: 'echo', TOKEN: '${TOKEN}' }, tags: ['dev', 'local'] })
  t.same(doc.mcpServers.remote, { url: 'http://127.0.0.1:9/mcp', headers: { 'X-Key': 'abc' }, description: 'far away', disabled: true })

  const again = await cli(['mcp', 'add', 'echo', '--', 'node'], env)
  t.equal(again.code, 1)
  t.match(again.err, /already exists[\s\S]*→ pass --force/)
  t.equal((await cli(['mcp', 'add', 'echo', '--force', '--', 'node', 'x.js'], env)).code, 0)
  t.same(JSON.parse(await readFile(path, 'utf8')).mcpServers.echo, { command: 'node', args: ['x.js'] })

  const list = await cli(['mcp', 'list'], env)
  t.match(list.out, /NAME\s+TRANSPORT\s+ENABLED\s+TAGS\s+TARGET/)
  t.match(list.out, /echo\s+stdio\s+yes\s+-\s+node x\.js/)
  t.match(list.out, /remote\s+streamable-http\s+no\s+-\s+http:\/\/127\.0\.0\.1:9\/mcp/)
  const json = JSON.parse((await cli(['mcp', 'list', '--json'], env)).out)
  t.same(Object.keys(json), ['echo', 'remote'])

  t.match((await cli(['mcp', 'enable', 'remote'], env)).out, /enabled remote/)
  t.match((await cli(['mcp', 'enable', 'remote'], env)).out, /already enabled/)
  t.match((await cli(['mcp', 'disable', 'echo'], env)).out, /disabled echo/)
  doc = JSON.parse(await readFile(path, 'utf8'))
  t.notOk('disabled' in doc.mcpServers.remote)
  t.equal(doc.mcpServers.echo.disabled, true)

  t.match((await cli(['mcp', 'remove', 'echo'], env)).out, /removed echo/)
  const gone = await cli(['mcp', 'remove', 'echo'], env)
  t.equal(gone.code, 1)
  t.match(gone.err, /no server named 'echo'[\s\S]*known servers: remote/)
  t.same(Object.keys(JSON.parse(await readFile(path, 'utf8')).mcpServers), ['remote'])
})

t.test('mcp list --tag-filter shows the servers a filter selects', async (t) => {
  const home = await tempDir(t)
  const env = cliEnv(home)
  await writeFile(env.ONEMCP_CONFIG!, JSON.stringify({ mcpServers: { a: { command: 'a', tags: ['web'] }, b: { command: 'b', tags: ['web', 'beta'] }, c: { command: 'c' } } }))
  const out = (await cli(['mcp', 'list', '--tag-filter', 'web and not beta'], env)).out
  t.match(out, /^a\s/m)
  t.notMatch(out, /^b\s/m)
  t.notMatch(out, /^c\s/m)
  const bad = await cli(['mcp', 'list', '--tag-filter', 'web and'], env)
  t.equal(bad.code, 1)
  t.match(bad.err, /at position 8/)
})

t.test('mistakes are refused with what to do next, and nothing is written', async (t) => {
  const home = await tempDir(t)
  const env = cliEnv(home)
  const cases: Array<[string[], RegExp]> = [
    [['mcp', 'add'], /a server NAME is required[\s\S]*1mcp mcp add --help/],
    [['mcp', 'add', 'bad name', '--', 'x'], /not a valid server name/],
    [['mcp', 'add', 'x'], /give the server's command after --/],
    [['mcp', 'add', 'x', 'node', 'server.js'], /put the server's command after --, as in `1mcp mcp add x -- node server.js`/],
    [['mcp', 'add', 'x', '--url', 'ftp://h'], /would make the config invalid: .*mcpServers\.x\.url/],
    [['mcp', 'add', 'x', '--url', 'http://h', '--', 'node'], /either --url or a command/],
    [['mcp', 'add', 'x', '--env', 'NOEQUALS', '--', 'node'], /--env takes KEY=VALUE/],
    [['mcp', 'add', 'x', '--bogus', '--', 'node'], /Unknown option '--bogus'[\s\S]*see `1mcp mcp add --help`/],
    [['mcp', 'list'], /no config file at .*gateway\.json[\s\S]*→ pass --config FILE/],
    [['mcp', 'frobnicate'], /unknown command 'mcp frobnicate'/],
    [['nope'], /unknown command 'nope'[\s\S]*1mcp --help/]
  ]
  for (const [argv, message] of cases) {
    const result = await cli(argv, env)
    t.not(result.code, 0, argv.join(' '))
    t.match(result.err, message, argv.join(' '))
  }
  const missing = await readFile(env.ONEMCP_CONFIG!, 'utf8').catch((e) => e.code)
  t.equal(missing, 'ENOENT', 'no config file was created by a failed command')
})

t.test('every command has --help', async (t) => {
  const env = cliEnv(await tempDir(t))
  const top = await cli(['--help'], env)
  t.equal(top.code, 0)
  for (const group of ['mcp', 'preset', 'app']) {
    const help = await cli([group, '--help'], env)
    t.equal(help.code, 0)
    const commands = [...help.out.matchAll(/^ {2}(\S+) {2,}/gm)].map((m) => m[1])
    t.ok(commands.length >= 4, `${group} lists its commands`)
    for (const command of commands) {
      const sub = await cli([group, command, '--help'], env)
      t.equal(sub.code, 0, `${group} ${command} --help`)
      t.match(sub.out, new RegExp(`1mcp ${group} ${command}`))
    }
  }
  t.match((await cli(['proxy', '--help'], env)).out, /1mcp proxy \[OPTIONS\]/)
  t.equal((await cli([], env)).code, 2, 'no command is a usage error')
})

t.test('mcp status asks the running gateway; mcp tokens counts tool tokens', async (t) => {
  const home = await tempDir(t)
  const env = cliEnv(home)
  const config = { mcpServers: { alpha: echoFixture('alpha', {}, { tags: ['a'] }), beta: echoFixture('beta', { EXTRA_TOOLS: 'one,two,three' }, { tags: ['b'] }) }, loadShedding: false }
  await writeFile(env.ONEMCP_CONFIG!, JSON.stringify(config, null, 2))

  const down = await cli(['mcp', 'status', '--url', 'http://127.0.0.1:9'], env)
  t.equal(down.code, 1)
  t.match(down.err, /no gateway answers at http:\/\/127\.0\.0\.1:9\/health[\s\S]*start it with `1mcp serve`/)

  const gw = await startGateway(t, { configPath: env.ONEMCP_CONFIG })
  await waitFor(async () => (await (await fetch(`${gw.base}/health`)).json()).backends.every((b: { toolTokens: number }) => b.toolTokens > 0), 'token counts')
  const status = await cli(['mcp', 'status', '--url', gw.base], env)
  t.equal(status.code, 0, status.err)
  t.match(status.out, /gateway healthy/)
  const alphaRow = /alpha\s+ready\s+(\d+)\s+(\d+)\s+0/.exec(status.out)
  const betaRow = /beta\s+ready\s+(\d+)\s+(\d+)\s+0/.exec(status.out)
  t.ok(alphaRow && betaRow, status.out)
  t.equal(Number(betaRow![1]), Number(alphaRow![1]) + 3, 'beta has the three extra tools')
  t.ok(Number(betaRow![2]) > Number(alphaRow![2]), 'and their tokens')
  const one = await cli(['mcp', 'status', 'beta', '--url', gw.base], env)
  t.notMatch(one.out, /alpha/)
  const unknown = await cli(['mcp', 'status', 'zeta'], { ...env, ONEMCP_URL: gw.base })
  t.match(unknown.err, /runs no server named 'zeta'/)
  const other = `${home}/other.json`
  await writeFile(other, JSON.stringify({ ...config, host: '127.0.0.1', port: Number(new URL(gw.base).port) }))
  const byConfig = await cli(['mcp', 'status', '--config', other], { ...env, ONEMCP_URL: 'http://127.0.0.1:9' })
  t.equal(byConfig.code, 0, `--config names the gateway even when ONEMCP_URL is set: ${byConfig.err}`)
  t.match(byConfig.out, /gateway healthy/)
  const missing = await cli(['mcp', 'status', '--config', `${home}/nope.json`], env)
  t.match(missing.err, /no config file at .*nope\.json/, 'a --config that does not exist is an error, not an empty config')

  const fromGateway = JSON.parse((await cli(['mcp', 'tokens', '--url', gw.base, '--json'], env)).out)
  const local = JSON.parse((await cli(['mcp', 'tokens', '--json'], env)).out)
  const byName = (rows: Array<{ name: string, tokens: number }>) => Object.fromEntries(rows.map((r) => [r.name, r.tokens]))
  t.same(byName(local.servers), byName(fromGateway.servers), 'counted alike by the gateway and by the CLI on its own')
  t.ok(local.servers[1].tokens > local.servers[0].tokens, 'three more tools cost more')
  t.equal(local.total, local.servers[0].tokens + local.servers[1].tokens)
  const table = (await cli(['mcp', 'tokens', '--tag-filter', 'b'], env)).out
  t.match(table, /beta\s+ready\s+\d+\s+\d+/)
  t.notMatch(table, /alpha/)
})
