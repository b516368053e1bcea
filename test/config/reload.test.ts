import t, { type Test } from 'tap'
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PromptListChangedNotificationSchema, ResourceListChangedNotificationSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js'
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { fileURLToPath } from 'node:url'
import { alive, connect, echoFixture, type Gateway, settle, startGateway, waitFor } from '../helpers.js'

function tempConfig (doc: unknown): string {
  const path = join(mkdtempSync(join(tmpdir(), '1mcp-reload-')), 'config.json')
  writeFileSync(path, JSON.stringify(doc, null, 2))
  return path
}

/** Saves like an editor that writes a temp file and renames it over the original. */
function save (path: string, doc: unknown): void {
  const temp = `${path}.tmp-${process.pid}`
  writeFileSync(temp, typeof doc === 'string' ? doc : JSON.stringify(doc, null, 2))
  renameSync(temp, path)
}

async function reloadGateway (t: Test, doc: unknown): Promise<{ gw: Gateway, path: string }> {
  const path = tempConfig(doc)
  const gw = await startGateway(t, { configPath: path })
  return { gw, path }
}

function countListChanged (client: Client): { count: number } {
  const seen = { count: 0 }
  client.setNotificationHandler(ToolListChangedNotificationSchema, async () => { seen.count++ })
  return seen
}

async function streamOpen (gw: Gateway): Promise<void> {
  await waitFor(() => [...gw.app.sessions.all()].every((s) => s.standalone), 'the clients\' GET streams')
}

const quick = { reloadDebounceMs: 50, loadShedding: false }

t.test('adding and removing servers: clients are told once per reload and can call the new tools', async (t) => {
  const { gw, path } = await reloadGateway(t, { ...quick, mcpServers: { alpha: echoFixture('alpha') } })
  const client = await connect(t, gw.url)
  const seen = countListChanged(client)
  await streamOpen(gw)

  save(path, { ...quick, mcpServers: { alpha: echoFixture('alpha'), beta: echoFixture('beta'), gamma: echoFixture('gamma') } })
  await waitFor(() => seen.count > 0, 'tools/list_changed')
  await settle(gw.app)
  const { tools } = await client.listTools()
  t.ok(tools.some((tool) => tool.name === 'beta_1mcp_echo'))
  t.ok(tools.some((tool) => tool.name === 'gamma_1mcp_echo'))
  const result = await client.callTool({ name: 'gamma_1mcp_echo', arguments: { text: 'new' } })
  t.same(result.content, [{ type: 'text', text: 'gamma: new' }])
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(seen.count, 1, 'one notification for a reload that added two servers')

  const betaPid = gw.app.backends.get('beta')!.pid!
  save(path, { ...quick, mcpServers: { alpha: echoFixture('alpha'), gamma: echoFixture('gamma') } })
  await waitFor(() => seen.count === 2, 'the second tools/list_changed')
  const after = await client.listTools()
  t.notOk(after.tools.some((tool) => tool.name.startsWith('beta_')), 'the removed server\'s tools are gone')
  await waitFor(() => { try { process.kill(betaPid, 0); return false } catch { return true } }, 'the removed server to stop')
  t.notOk(alive(betaPid), 'the removed server\'s process stopped')
  const err = await client.callTool({ name: 'beta_1mcp_echo', arguments: { text: 'x' } }).catch((e) => e)
  t.equal(err.code, -32602)
})

t.test('changing a server\'s args while a client calls it in a loop: no call fails', async (t) => {
  const { gw, path } = await reloadGateway(t, { ...quick, mcpServers: { alpha: echoFixture('alpha') } })
  const client = await connect(t, gw.url)
  const oldPid = gw.app.backends.get('alpha')!.pid!
  let stop = false
  const failures: string[] = []
  let calls = 0
  const loop = (async () => {
    const deadline = Date.now() + 20_000
    // eslint-disable-next-line no-unmodified-loop-condition -- `stop` is set by the test body while this loop awaits
    while (!stop && Date.now() < deadline && calls < 2000) {
      calls++
      await client.callTool({ name: 'alpha_1mcp_slow', arguments: { ms: 20, steps: 1 } }).catch((err: Error) => { failures.push(err.message) })
    }
  })()
  await new Promise((resolve) => setTimeout(resolve, 150))
  save(path, { ...quick, mcpServers: { alpha: echoFixture('alpha', { INSTRUCTIONS: 'changed' }) } })
  await waitFor(() => gw.app.backends.get('alpha')!.pid !== oldPid && gw.app.backends.get('alpha')!.state === 'ready', 'the replacement')
  await new Promise((resolve) => setTimeout(resolve, 300))
  stop = true
  await loop
  t.ok(calls > 5, `${calls} calls made`)
  t.same(failures, [], 'no call failed during the replacement')
  await waitFor(() => { try { process.kill(oldPid, 0); return false } catch { return true } }, 'the old process to stop')
  t.notOk(alive(oldPid), 'the replaced process stopped')
})

t.test('tag and disabled-tool changes apply without a restart', async (t) => {
  const { gw, path } = await reloadGateway(t, { ...quick, mcpServers: { alpha: echoFixture('alpha', {}, { tags: ['a'] }) } })
  const pid = gw.app.backends.get('alpha')!.pid
  const client = await connect(t, gw.url)
  const seen = countListChanged(client)
  await streamOpen(gw)
  save(path, { ...quick, mcpServers: { alpha: echoFixture('alpha', {}, { tags: ['b'], disabledTools: ['crash', 'hang'] }) } })
  await waitFor(() => seen.count > 0, 'tools/list_changed')
  const { tools } = await client.listTools()
  t.notOk(tools.some((tool) => tool.name === 'alpha_1mcp_crash'))
  t.ok(tools.some((tool) => tool.name === 'alpha_1mcp_echo'))
  t.equal(gw.app.backends.get('alpha')!.pid, pid, 'the same process')
  t.same(gw.app.backends.get('alpha')!.config.tags, ['b'])
})

t.test('a broken config keeps the last good one in force, and a fix recovers', async (t) => {
  const { gw, path } = await reloadGateway(t, { ...quick, mcpServers: { alpha: echoFixture('alpha') } })
  const client = await connect(t, gw.url)
  save(path, '{ "mcpServers": { "alpha": ')
  await waitFor(() => !gw.app.gatewayConfig.status.valid, 'the bad file to be seen')
  const health = await (await fetch(`${gw.base}/health`)).json()
  t.equal(health.config.valid, false)
  t.match(health.config.error, /invalid JSON/)
  t.ok(health.config.errorAt)
  t.equal(health.status, 'degraded')
  const still = await client.callTool({ name: 'alpha_1mcp_echo', arguments: { text: 'still' } })
  t.same(still.content, [{ type: 'text', text: 'alpha: still' }])

  save(path, { ...quick, mcpServers: { alpha: { ...echoFixture('alpha'), comand: 'typo' } } })
  await waitFor(() => /comand/.test(gw.app.gatewayConfig.status.error ?? ''), 'the schema error')
  t.match(gw.app.gatewayConfig.status.error, /mcpServers\.alpha\.comand: unknown key \(did you mean "command"\?\)/)
  const typo = await (await fetch(`${gw.base}/health`)).json()
  t.match(typo.config.error, /mcpServers\.alpha\.comand: unknown key/, '/health keeps the JSON path (it is not a file path to hide)')

  save(path, { ...quick, mcpServers: { alpha: echoFixture('alpha'), beta: echoFixture('beta') } })
  await waitFor(() => gw.app.gatewayConfig.status.valid, 'recovery')
  await settle(gw.app)
  const fixed = await (await fetch(`${gw.base}/health`)).json()
  t.equal(fixed.config.valid, true)
  t.notOk(fixed.config.error)
  t.equal(fixed.backends.length, 2)
})

t.test('SIGHUP reloads; settings that need a restart are reported', async (t) => {
  const { gw, path } = await reloadGateway(t, { ...quick, reloadDebounceMs: 60_000, mcpServers: {} })
  writeFileSync(path, JSON.stringify({ ...quick, reloadDebounceMs: 60_000, port: 4999, mcpServers: { alpha: echoFixture('alpha') } }))
  process.kill(process.pid, 'SIGHUP')
  await waitFor(() => gw.app.backends.get('alpha')?.state === 'ready', 'the SIGHUP reload')
  const health = await (await fetch(`${gw.base}/health`)).json()
  t.same(health.config.pendingRestart, ['port'])
})

/* eslint-disable no-template-curly-in-string -- these strings are the config's own `${VAR}` syntax, not templates */
t.test('${VAR} and ${VAR:-default} are substituted; a missing variable is an error naming its path', async (t) => {
  process.env.ONEMCP_TEST_NAME = 'from-env'
  t.teardown(() => { delete process.env.ONEMCP_TEST_NAME })
  const { gw, path } = await reloadGateway(t, {
    ...quick,
    mcpServers: { alpha: echoFixture('alpha', { INSTRUCTIONS: '${ONEMCP_TEST_NAME} and ${ONEMCP_UNSET_VAR:-fallback}' }) }
  })
  t.equal(gw.app.backends.get('alpha')!.instructions, 'from-env and fallback')
  save(path, { ...quick, mcpServers: { alpha: echoFixture('alpha', { INSTRUCTIONS: '${ONEMCP_UNSET_VAR}' }) } })
  await waitFor(() => !gw.app.gatewayConfig.status.valid, 'the error')
  t.match(gw.app.gatewayConfig.status.error, /mcpServers\.alpha\.env\.INSTRUCTIONS: environment variable ONEMCP_UNSET_VAR is not set/)
})
/* eslint-enable no-template-curly-in-string */

t.test('a tools-only server added by reload: clients hear tools/list_changed, not prompts or resources', async (t) => {
  const { gw, path } = await reloadGateway(t, { ...quick, mcpServers: { alpha: echoFixture('alpha') } })
  const client = await connect(t, gw.url)
  const heard: string[] = []
  client.setNotificationHandler(ToolListChangedNotificationSchema, async () => { heard.push('tools') })
  client.setNotificationHandler(PromptListChangedNotificationSchema, async () => { heard.push('prompts') })
  client.setNotificationHandler(ResourceListChangedNotificationSchema, async () => { heard.push('resources') })
  await streamOpen(gw)
  const plain = { command: process.execPath, args: [fileURLToPath(new URL('../fixtures/plain-server.mjs', import.meta.url))], env: { FIXTURE_NAME: 'plain' } }
  save(path, { ...quick, mcpServers: { alpha: echoFixture('alpha'), plain } })
  await waitFor(() => heard.includes('tools'), 'tools/list_changed')
  await settle(gw.app)
  t.ok((await client.listTools()).tools.some((tool) => tool.name === 'plain_1mcp_echo'))
  await client.ping()
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.same(heard, ['tools'], 'only the list that changed')
  save(path, { ...quick, mcpServers: { alpha: echoFixture('alpha'), plain: { ...plain, tags: ['t'] } } })
  await waitFor(() => gw.app.backends.get('plain')?.config.tags?.[0] === 't', 'the tag change')
  await settle(gw.app)
  await client.ping()
  t.notOk(heard.slice(1).some((kind) => kind !== 'tools'), `a tag change re-announces only the lists the server is in: ${heard.join(',')}`)
})
