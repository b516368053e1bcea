import t from 'tap'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { createServer, type AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { cli, cliEnv } from '../cli-helpers.js'
import { PASSPHRASE } from '../auth-helpers.js'
import { echoFixture, startGateway, tempDir, uncoveredChildEnv } from '../helpers.js'
import { stripJsonComments } from '../../cli/apps.js'
import { CredentialFile, credentialsDir } from '../../cli/credentials.js'

const BROWSER = fileURLToPath(new URL('../fixtures/oauth-browser.mjs', import.meta.url))

const STDIO = { command: 'npx', args: ['-y', '@modelcontextprotocol/server-filesystem', '/tmp'], env: { DEBUG: '1' } }

/** Each app's config at its standard Linux path under the temp home, in the app's own dialect. */
function appFiles (home: string): Record<string, { path: string, text: string }> {
  const json = (doc: unknown, indent: number | string = 2) => JSON.stringify(doc, null, indent) + '\n'
  return {
    'claude-desktop': { path: join(home, '.config/Claude/claude_desktop_config.json'), text: json({ mcpServers: { files: STDIO }, globalShortcut: 'Ctrl+Space' }) },
    'claude-code': { path: join(home, '.claude.json'), text: json({ numStartups: 12, mcpServers: { linear: { type: 'sse', url: 'https://mcp.linear.app/sse' } }, projects: { '/x': { mcpServers: {} } } }) },
    cursor: { path: join(home, '.cursor/mcp.json'), text: json({ mcpServers: { files: { ...STDIO, autoApprove: ['read_file'] }, remote: { url: 'https://example.com/mcp', headers: { 'X-Key': 'k' } } } }, 4) },
    vscode: { path: join(home, '.config/Code/User/mcp.json'), text: '{\n\t// servers for this machine\n\t"servers": {\n\t\t"github": { "type": "http", "url": "https://api.githubcopilot.com/mcp/", },\n\t},\n\t"inputs": [],\n}\n' },
    windsurf: { path: join(home, '.codeium/windsurf/mcp_config.json'), text: json({ mcpServers: { 'my server!': { serverUrl: 'https://w.example.com/mcp' }, broken: { args: ['x'] } } }) },
    cline: { path: join(home, '.config/Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json'), text: json({ mcpServers: { files: { ...STDIO, env: { DEBUG: '2' }, disabled: true, alwaysAllow: [] }, st: { type: 'streamableHttp', url: 'https://s.example.com/mcp' } } }) }
  }
}

async function writeApps (home: string) {
  const files = appFiles(home)
  for (const { path, text } of Object.values(files)) {
    await mkdir(dirname(path), { recursive: true })
    await writeFile(path, text)
  }
  return files
}

t.test('app list and discover find every app at its standard path', async (t) => {
  const home = await tempDir(t)
  const env = cliEnv(home)
  const before = await cli(['app', 'list', '--json'], env)
  t.equal(before.code, 0, before.err)
  t.ok(JSON.parse(before.out).every((a: { found: boolean }) => !a.found), 'nothing found in an empty home')
  await writeApps(home)
  const list = JSON.parse((await cli(['app', 'list', '--json'], env)).out) as Array<{ app: string, found: boolean, servers: number }>
  t.same(Object.fromEntries(list.map((a) => [a.app, a.servers])), { 'claude-desktop': 1, 'claude-code': 1, cursor: 2, vscode: 1, windsurf: 2, cline: 2 })
  t.match((await cli(['app', 'list'], env)).out, /cursor\s+yes\s+2\s+no\s+.*\.cursor\/mcp\.json/)

  const found = JSON.parse((await cli(['app', 'discover', '--json'], env)).out) as Array<{ app: string, name: string, status: string, dropped?: string[] }>
  const status = Object.fromEntries(found.map((f) => [`${f.app}/${f.name}`, f.status]))
  t.equal(status['claude-desktop/files'], 'new, as files')
  t.equal(status['cursor/files'], 'new, as files')
  t.equal(status['windsurf/my server!'], 'new, as my-server')
  t.match(status['windsurf/broken'], /skipped: it has neither a command nor an http\(s\) url/)
  t.same(found.find((f) => f.app === 'cursor' && f.name === 'files')?.dropped, ['autoApprove'])
  t.match((await cli(['app', 'discover', 'vscode'], env)).out, /vscode\s+github\s+streamable-http\s+new, as github/)
  t.match((await cli(['app', 'discover', 'nope'], env)).err, /unknown app 'nope'[\s\S]*known apps: claude-desktop, claude-code, cursor, vscode, windsurf, cline/)
})

t.test('an app config path can be set by environment', async (t) => {
  const home = await tempDir(t)
  const elsewhere = join(home, 'elsewhere.json')
  await writeFile(elsewhere, JSON.stringify({ mcpServers: { x: { command: 'x' } } }))
  const env = cliEnv(home, { ONEMCP_APP_CURSOR_CONFIG: elsewhere })
  const list = JSON.parse((await cli(['app', 'list', '--json'], env)).out) as Array<{ app: string, path: string, servers: number }>
  t.same(list.find((a) => a.app === 'cursor'), { app: 'cursor', label: 'Cursor', path: elsewhere, found: true, servers: 1, usesGateway: false })
})

t.test('consolidate imports, backs up and points each app at the gateway; restore undoes it', async (t) => {
  const home = await tempDir(t)
  const env = cliEnv(home)
  const gatewayPath = env.ONEMCP_CONFIG!
  await writeFile(gatewayPath, JSON.stringify({ mcpServers: { remote: { url: 'https://other.example.com/mcp' } }, port: 4200, presets: { dev: { filter: 'cursor' } } }, null, 2))
  const files = await writeApps(home)

  const dry = await cli(['app', 'consolidate', '--all', '--dry-run'], env)
  t.equal(dry.code, 0, dry.err)
  t.match(dry.out, /cursor: would import files, remote and point .* at http:\/\/127\.0\.0\.1:4200\/mcp/)
  for (const { path, text } of Object.values(files)) t.equal(await readFile(path, 'utf8'), text, `dry run leaves ${path}`)

  const run = await cli(['app', 'consolidate', '--all', '--command', '/opt/1mcp', '--no-login'], env)
  t.equal(run.code, 0, run.err)
  t.match(run.err, /windsurf: leaving 'broken' out/)
  t.match(run.err, /cursor: 'files': the gateway has no place for autoApprove/)

  const gateway = JSON.parse(await readFile(gatewayPath, 'utf8'))
  t.same(gateway.mcpServers.files, { ...STDIO, tags: ['claude-desktop'] }, 'the first app\'s copy, tagged with its app')
  t.notOk('files-cursor' in gateway.mcpServers, 'the same server from another app is not imported twice')
  t.same(gateway.mcpServers['remote-cursor'], { url: 'https://example.com/mcp', headers: { 'X-Key': 'k' }, tags: ['cursor'] }, 'a different server of a taken name gets the app as suffix')
  t.same(gateway.mcpServers.remote, { url: 'https://other.example.com/mcp' }, 'the gateway\'s own server is untouched')
  t.same(gateway.mcpServers.linear, { type: 'sse', url: 'https://mcp.linear.app/sse', tags: ['claude-code'] })
  t.same(gateway.mcpServers.github, { type: 'http', url: 'https://api.githubcopilot.com/mcp/', tags: ['vscode'] })
  t.same(gateway.mcpServers['my-server'], { url: 'https://w.example.com/mcp', tags: ['windsurf'] })
  t.same(gateway.mcpServers['files-cline'], { ...STDIO, env: { DEBUG: '2' }, disabled: true, tags: ['cline'] })
  t.same(gateway.mcpServers.st, { type: 'http', url: 'https://s.example.com/mcp', tags: ['cline'] })
  t.equal(gateway.port, 4200, 'other keys kept')

  const url = 'http://127.0.0.1:4200/mcp'
  const read = async (app: string) => JSON.parse(stripJsonComments(await readFile(files[app].path, 'utf8')))
  t.same((await read('claude-desktop')), { mcpServers: { '1mcp': { command: '/opt/1mcp', args: ['proxy', '--url', url] } }, globalShortcut: 'Ctrl+Space' })
  const claudeCode = await read('claude-code')
  t.same(claudeCode.mcpServers, { '1mcp': { type: 'http', url } })
  t.equal(claudeCode.numStartups, 12)
  t.same(claudeCode.projects, { '/x': { mcpServers: {} } })
  t.same((await read('cursor')).mcpServers, { '1mcp': { url } })
  t.match(await readFile(files.cursor.path, 'utf8'), /^ {4}"mcpServers"/m, 'indent kept')
  t.same(await read('vscode'), { servers: { '1mcp': { type: 'http', url } }, inputs: [] })
  t.same((await read('windsurf')).mcpServers, { broken: { args: ['x'] }, '1mcp': { serverUrl: url } }, 'an entry that cannot be imported stays in the app')
  t.same((await read('cline')).mcpServers, { '1mcp': { type: 'streamableHttp', url } })

  const again = await cli(['app', 'consolidate', 'cursor', 'vscode'], env)
  t.match(again.out, /cursor: already uses the gateway\nvscode: already uses the gateway/)
  t.match((await cli(['app', 'list'], env)).out, /cursor\s+yes\s+0\s+yes/)

  const backups = await readdir(join(home, '.1mcp/backups/cursor'))
  t.equal(backups.filter((b) => b.endsWith('.json')).length, 1)
  t.equal(await readFile(join(home, '.1mcp/backups/cursor', backups.find((b) => b.endsWith('.json'))!), 'utf8'), files.cursor.text, 'the backup is the original, byte for byte')

  t.match((await cli(['app', 'restore', 'vscode', '--list'], env)).out, /vscode {2}.*backups\/vscode\/.*\.json/)
  const restore = await cli(['app', 'restore', '--all'], env)
  t.equal(restore.code, 0, restore.err)
  for (const [app, { path, text }] of Object.entries(files)) t.equal(await readFile(path, 'utf8'), text, `${app} restored byte for byte, comments included`)
  t.match(restore.out, /Restart the apps/)
})

t.test('consolidate with a preset and through the stdio proxy', async (t) => {
  const home = await tempDir(t)
  const env = cliEnv(home)
  await writeFile(env.ONEMCP_CONFIG!, JSON.stringify({ mcpServers: {}, presets: { dev: { filter: 'cursor' } } }))
  const files = await writeApps(home)
  const missing = await cli(['app', 'consolidate', 'cursor', '--preset', 'nope'], env)
  t.match(missing.err, /no preset named 'nope'[\s\S]*1mcp preset create/)
  const run = await cli(['app', 'consolidate', 'cursor', '--preset', 'dev', '--via-proxy', '--url', 'http://10.0.0.1:3050', '--no-login'], env)
  t.equal(run.code, 0, run.err)
  const entry = JSON.parse(await readFile(files.cursor.path, 'utf8')).mcpServers['1mcp']
  t.equal(entry.command, process.execPath, 'node runs this installation\'s bin')
  t.match(entry.args[0], /bin\/1mcp\.mjs$/)
  t.same(entry.args.slice(1), ['proxy', '--url', 'http://10.0.0.1:3050/mcp?preset=dev'])
})

t.test('mistakes say what to do next', async (t) => {
  const home = await tempDir(t)
  const env = cliEnv(home)
  t.match((await cli(['app', 'consolidate'], env)).err, /name one or more apps .* or pass --all/)
  t.match((await cli(['app', 'consolidate', 'cursor', '--all'], env)).err, /not both/)
  t.match((await cli(['app', 'consolidate', 'cursor'], env)).out, /cursor: no config at .*; nothing to do/)
  const restore = await cli(['app', 'restore', 'cursor'], env)
  t.equal(restore.code, 1)
  t.match(restore.err, /no backup of Cursor's config[\s\S]*backups are made by `1mcp app consolidate`/)
  await mkdir(join(home, '.cursor'), { recursive: true })
  await writeFile(join(home, '.cursor/mcp.json'), '{ "mcpServers": ')
  t.match((await cli(['app', 'discover', 'cursor'], env)).err, /Cursor's config .* is not valid JSON[\s\S]*fix it/)
})

t.test('consolidate logs the stdio proxy in to a gateway with auth on before it changes anything', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: { echo: echoFixture('echo') } } })
  const home = await tempDir(t)
  const browserLog = join(home, 'browser.log')
  const env = cliEnv(home, { ONEMCP_BROWSER: `${process.execPath} ${BROWSER}`, BROWSER_PASSPHRASE: PASSPHRASE, BROWSER_LOG: browserLog, ONEMCP_LOGIN_TIMEOUT_MS: '60000' })
  const gatewayConfig = JSON.stringify({ mcpServers: {} })
  await writeFile(env.ONEMCP_CONFIG!, gatewayConfig)
  const files = await writeApps(home)
  const desktop = files['claude-desktop']
  const unchanged = async (what: string) => {
    t.equal(await readFile(desktop.path, 'utf8'), desktop.text, `${what}: the app's config is unchanged`)
    t.equal(await readFile(env.ONEMCP_CONFIG!, 'utf8'), gatewayConfig, `${what}: the gateway's config is unchanged`)
    t.same(await readdir(join(home, '.1mcp')).catch(() => []), [], `${what}: no backup made`)
  }

  const noLogin = await cli(['app', 'consolidate', 'claude-desktop', '--url', gw.base], { ...env, ONEMCP_BROWSER: 'none', ONEMCP_LOGIN_TIMEOUT_MS: '1000' })
  t.equal(noLogin.code, 1)
  t.match(noLogin.err, /cannot connect `1mcp proxy` to the gateway at http:\/\/127\.0\.0\.1:\d+\/mcp: no login within 1 s; nothing was changed\n {2}→ start the gateway/)
  await unchanged('login not approved')

  const free = createServer()
  await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve))
  const closedPort = (free.address() as AddressInfo).port
  await new Promise((resolve) => free.close(resolve))
  const down = await cli(['app', 'consolidate', 'claude-desktop', '--url', `http://127.0.0.1:${closedPort}`], env)
  t.equal(down.code, 1)
  t.match(down.err, /cannot connect `1mcp proxy` to the gateway at http:\/\/127\.0\.0\.1:\d+\/mcp: cannot reach the gateway \(ECONNREFUSED\); nothing was changed/)
  await unchanged('gateway down')

  const run = await cli(['app', 'consolidate', 'claude-desktop', '--url', gw.base], env)
  t.equal(run.code, 0, run.err)
  t.equal((await readFile(browserLog, 'utf8')).split('\n').filter(Boolean).length, 1, 'the owner approved the proxy once, in the browser')
  const stored = await new CredentialFile(credentialsDir(env), `${gw.base}/mcp`).read()
  t.ok(stored.tokens?.refresh_token, 'the proxy\'s tokens are stored')
  const entry = JSON.parse(await readFile(desktop.path, 'utf8')).mcpServers['1mcp']
  t.same(entry.args.slice(-3), ['proxy', '--url', `${gw.base}/mcp`])

  // The entry as the app starts it: the proxy uses the stored login, with no browser to fall back on.
  const transport = new StdioClientTransport({ command: entry.command, args: entry.args, env: uncoveredChildEnv({ ...env, ONEMCP_BROWSER: 'none', ONEMCP_LOGIN_TIMEOUT_MS: '1000' }) as Record<string, string>, stderr: 'pipe' })
  const client = new Client({ name: 'claude-desktop', version: '1' })
  t.teardown(() => client.close())
  await client.connect(transport)
  const result = await client.callTool({ name: 'echo_1mcp_echo', arguments: { text: 'from the app' } })
  t.same(result.content, [{ type: 'text', text: 'echo: from the app' }])
  await client.close()
})
