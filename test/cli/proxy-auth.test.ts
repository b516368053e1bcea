import t from 'tap'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { PASSPHRASE } from '../auth-helpers.js'
import { type AuthGateway, echoFixture, startGateway, tempDir, uncoveredChildEnv } from '../helpers.js'
import { BIN } from '../cli-helpers.js'
import { CredentialFile, loginResource, type StoredLogin } from '../../cli/credentials.js'

const BROWSER = fileURLToPath(new URL('../fixtures/oauth-browser.mjs', import.meta.url))

/** The environment of a proxy whose "browser" is the fixture that plays the owner. */
function proxyEnv (dir: string, browserLog: string): NodeJS.ProcessEnv {
  return uncoveredChildEnv({
    ONEMCP_BROWSER: `${process.execPath} ${BROWSER}`,
    ONEMCP_CREDENTIALS_DIR: dir,
    ONEMCP_LOGIN_TIMEOUT_MS: '60000',
    BROWSER_PASSPHRASE: PASSPHRASE,
    BROWSER_LOG: browserLog
  })
}

/** Starts `1mcp proxy` under a stdio SDK client, lists and calls a tool through it, and closes. */
async function useProxy (t: Test, gw: AuthGateway, env: NodeJS.ProcessEnv): Promise<{ tools: string[], text: string, stderr: string }> {
  const transport = new StdioClientTransport({ command: process.execPath, args: [BIN, 'proxy', '--url', gw.base], env: env as Record<string, string>, stderr: 'pipe' })
  let stderr = ''
  transport.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const client = new Client({ name: 'stdio-only-app', version: '1.0.0' })
  // A line on the proxy's stdout that is not JSON-RPC (a URL, a log line) surfaces here.
  const channelErrors: string[] = []
  client.onerror = (err) => { channelErrors.push(err.message) }
  t.teardown(() => client.close())
  try {
    await client.connect(transport)
    const tools = (await client.listTools()).tools.map((tool) => tool.name)
    const result = await client.callTool({ name: 'echo_1mcp_echo', arguments: { text: 'logged in' } })
    return { tools, text: (result.content as Array<{ text: string }>)[0].text, stderr }
  } catch (err) {
    throw new Error(`${(err as Error).message}\nproxy stderr:\n${stderr}`)
  } finally {
    await client.close()
    t.same(channelErrors, [], 'nothing but MCP messages on the proxy\'s stdout')
  }
}

async function logins (browserLog: string): Promise<number> {
  return (await readFile(browserLog, 'utf8').catch(() => '')).split('\n').filter(Boolean).length
}

// Each proxy is a fresh node process running the TypeScript sources through tsx.
t.setTimeout(240_000)

t.test('1mcp proxy logs in to a gateway with auth on, keeps its tokens and refreshes them', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: { echo: echoFixture('echo') } } })
  const dir = await tempDir(t, '1mcp-proxy-login-')
  const browserLog = join(dir, 'browser.log')
  const env = proxyEnv(join(dir, 'credentials'), browserLog)
  const file = new CredentialFile(join(dir, 'credentials'), loginResource(gw.url))
  const stored = async () => JSON.parse(await readFile(file.path, 'utf8')) as StoredLogin
  const edit = async (change: (login: StoredLogin) => void) => {
    const login = await stored()
    change(login)
    await writeFile(file.path, JSON.stringify(login))
  }

  const first = await useProxy(t, gw, env)
  t.ok(first.tools.includes('echo_1mcp_echo'), 'tools are listed after the login')
  t.equal(first.text, 'echo: logged in')
  t.equal(await logins(browserLog), 1, 'the browser was opened once')
  t.match(first.stderr, /asks for a login[\s\S]*\/authorize\?/, 'the URL is printed on stderr')
  const login = await stored()
  t.equal(login.resource, `${gw.base}/mcp`, 'the login is kept for this gateway endpoint')
  t.ok(login.tokens?.access_token && login.tokens.refresh_token && login.client?.client_id)
  t.equal((await stat(file.path)).mode & 0o777, 0o600, 'only the user can read the tokens')

  t.test('a second start reuses the stored token: no browser', async (t) => {
    const again = await useProxy(t, gw, env)
    t.equal(again.text, 'echo: logged in')
    t.equal(await logins(browserLog), 1)
    t.equal((await stored()).tokens?.access_token, login.tokens?.access_token, 'the same access token')
  })

  t.test('an access token about to expire is refreshed before it is sent', async (t) => {
    const before = await stored()
    await edit((l) => { l.expiresAt = Date.now() - 1000 })
    const refreshed = await useProxy(t, gw, env)
    t.equal(refreshed.text, 'echo: logged in')
    t.equal(await logins(browserLog), 1, 'no browser')
    const after = await stored()
    t.not(after.tokens?.access_token, before.tokens?.access_token, 'a new access token')
    t.not(after.tokens?.refresh_token, before.tokens?.refresh_token, 'the refresh token rotated')
    t.ok(after.expiresAt! > Date.now(), 'its expiry is stored')
  })

  t.test('an access token the gateway rejects (401) is refreshed and the request retried', async (t) => {
    await edit((l) => { l.tokens!.access_token = 'not-a-token' })
    const retried = await useProxy(t, gw, env)
    t.equal(retried.text, 'echo: logged in')
    t.equal(await logins(browserLog), 1, 'no browser')
    t.not((await stored()).tokens?.access_token, 'not-a-token')
  })

  t.test('a refresh the gateway refuses (invalid_grant) runs the browser login again', async (t) => {
    await edit((l) => { l.tokens!.access_token = 'not-a-token'; l.tokens!.refresh_token = 'revoked' })
    const relogged = await useProxy(t, gw, env)
    t.equal(relogged.text, 'echo: logged in')
    t.equal(await logins(browserLog), 2, 'the browser was opened again')
    t.not((await stored()).tokens?.refresh_token, 'revoked')
  })
})

t.test('with ONEMCP_BROWSER=none and no login, the request fails with the URL on stderr, never on stdout', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: { echo: echoFixture('echo') } } })
  const dir = await tempDir(t, '1mcp-proxy-login-')
  const env = { ...proxyEnv(join(dir, 'credentials'), join(dir, 'browser.log')), ONEMCP_BROWSER: 'none', ONEMCP_LOGIN_TIMEOUT_MS: '1500' }
  const err = await useProxy(t, gw, env).catch((e: Error) => e)
  t.ok(err instanceof Error)
  t.match((err as Error).message, /no login within 2 s[\s\S]*proxy stderr:[\s\S]*\/authorize\?/)
  t.equal(await logins(join(dir, 'browser.log')), 0)
})
