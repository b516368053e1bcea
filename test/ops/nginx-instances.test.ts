import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { Agent, fetch as undiciFetch } from 'undici'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js'
import { Client as StatelessClient, StreamableHTTPClientTransport as ModernTransport } from '@modelcontextprotocol/client'
import { browser, testPassphraseHash } from '../auth-helpers.js'
import { echoFixture, postMcp, tempDir, waitFor } from '../helpers.js'
import { freePort, nginxConfig, startNginx } from '../nginx-helpers.js'
import { tokenFor } from '../oauth-client.js'
import { startServe, type ServeProcess } from '../process-helpers.js'

// Issue 20, items 1, 3, 4 and 5: real nginx (docs/deploy/nginx-instances.conf, round robin, no affinity)
// in front of 3 instances that share one session key. SDK clients of both generations, sampling and
// elicitation rounds included, make 300 calls; then every instance is restarted in turn under load
// by the documented procedure (out of the upstream, nginx reloaded, SIGTERM, start, back in).
// The 2025 rounds go to a per-client backend (two sessions sampling through one shared backend at
// once is ambiguous on one instance too: relays.test.ts). Auth is on: the instances share one auth data
// dir and name nginx's URL as externalUrl (docs/authentication.md, "Several instances"); every client's
// token comes from an OAuth flow run through nginx as a browser would, each request on whichever
// instance round robin picks.

t.setTimeout(180_000)

const CONF = fileURLToPath(new URL('../../docs/deploy/nginx-instances.conf', import.meta.url))
const ECHO_2026 = fileURLToPath(new URL('../fixtures/echo-server-2026.mjs', import.meta.url))
const KEY = randomBytes(32).toString('base64')
// no keep-alive on the client side: a reloading nginx closes idle connections, and a POST sent on one
// as it closes is lost whatever the gateways behind do (test/nginx.test.ts says the same)
const agent = new Agent({ pipelining: 0 })
const fetchFresh = ((url: string | URL, init?: RequestInit) => undiciFetch(url, { ...init, dispatcher: agent } as never)) as unknown as typeof fetch

interface Instance { name: string, port: number, gateway: ServeProcess }

/** fetchFresh with the client's bearer token on every request (what an MCP client with a token sends). */
function withToken (token: string): typeof fetch {
  return (url, init) => {
    const headers = new Headers(init?.headers)
    headers.set('authorization', `Bearer ${token}`)
    return fetchFresh(url as string, { ...init, headers })
  }
}

async function startInstance (t: Test, dir: string, name: string, port: number, externalUrl: string): Promise<Instance> {
  const configPath = join(dir, `${name}.json`)
  await writeFile(configPath, JSON.stringify({
    externalUrl,
    auth: { dataDir: join(dir, 'auth'), passphraseHash: await testPassphraseHash() },
    loadShedding: false,
    rateLimit: false,
    trustProxy: '127.0.0.1',
    mcpServers: { a: echoFixture(name), own: echoFixture(name, {}, { sessionMode: 'per-client' }), n: { command: process.execPath, args: [ECHO_2026], env: { FIXTURE_NAME: name } } }
  }))
  const gateway = startServe(t, ['--config', configPath, '--port', String(port)], { ONEMCP_SESSION_KEY: KEY, ONEMCP_INSTANCE_URL: `http://127.0.0.1:${port}` })
  const base = await gateway.base()
  await waitFor(async () => ((await (await fetch(`${base}/health`)).json()) as { backends: Array<{ state: string }> }).backends.every((b) => b.state === 'ready'), `${name} ready`, 30_000)
  return { name, port, gateway }
}

const text = (r: unknown) => (((r as { content?: Array<{ text?: string }> }).content ?? [])[0]?.text ?? '')

async function legacyClient (t: Test, url: string, token: string): Promise<Client> {
  const client = new Client({ name: 'legacy', version: '1.0.0' }, { capabilities: { sampling: {}, elicitation: {} } })
  client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', model: 'm', content: { type: 'text', text: 'sampled' } }))
  client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { answer: 'elicited' } }))
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { fetch: withToken(token) }))
  t.teardown(() => client.close())
  return client
}

async function statelessClient (t: Test, url: string, token: string): Promise<StatelessClient> {
  const client = new StatelessClient({ name: 'modern', version: '1.0.0' }, { capabilities: { sampling: {}, elicitation: {} }, versionNegotiation: { mode: { pin: '2026-07-28' } } })
  client.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { name: 'ada' } }))
  client.setRequestHandler('sampling/createMessage', async () => ({ role: 'assistant', content: { type: 'text', text: 'sampled' }, model: 'm' }) as never)
  await client.connect(new ModernTransport(new URL(url), { fetch: withToken(token) as never }))
  t.teardown(() => client.close())
  return client
}

interface Outcome { by?: string, failure?: string }

/** One call of the i-th kind; `by` is the instance whose backend answered (echo), or the round's expected answer. */
async function legacyCall (client: Client, i: number): Promise<Outcome> {
  try {
    if (i % 10 === 3) {
      const said = text(await client.callTool({ name: 'own_1mcp_sample', arguments: { prompt: 'q' } }))
      return said === 'sampled: sampled' ? { by: 'round' } : { failure: `legacy sampling: ${said}` }
    }
    if (i % 10 === 7) return text(await client.callTool({ name: 'own_1mcp_elicit', arguments: { message: 'q' } })) === 'accept: elicited' ? { by: 'round' } : { failure: 'elicitation' }
    const said = text(await client.callTool({ name: 'a_1mcp_echo', arguments: { text: `n${i}` } }))
    return { by: /^(gw-\d): n\d+$/.exec(said)?.[1], ...(/^gw-\d: n\d+$/.test(said) ? {} : { failure: said }) }
  } catch (err) {
    return { failure: (err as Error).message }
  }
}

async function modernCall (client: StatelessClient, i: number): Promise<Outcome> {
  try {
    if (i % 10 === 3) {
      const said = text(await client.callTool({ name: 'n_1mcp_ask_sample', arguments: { prompt: 'q' } }))
      return said === 'sampled' ? { by: 'round' } : { failure: `modern sampling: ${said}` }
    }
    if (i % 10 === 7) return text(await client.callTool({ name: 'n_1mcp_ask', arguments: {} })) === 'hello ada' ? { by: 'round' } : { failure: 'elicitation' }
    const said = text(await client.callTool({ name: 'n_1mcp_echo', arguments: { text: `n${i}` } }))
    return { by: /^(gw-\d): n\d+$/.exec(said)?.[1], ...(/^gw-\d: n\d+$/.test(said) ? {} : { failure: said }) }
  } catch (err) {
    return { failure: (err as Error).message }
  }
}

t.test('3 instances behind nginx, round robin, auth on with tokens obtained through nginx: 300 calls, then a rolling restart under load: 0 failed, 0 sessions lost', async (t) => {
  // last teardown: the clients are closed by then; destroy, not close (close waits for open GET streams)
  t.teardown(() => agent.destroy())
  const dir = await tempDir(t, '1mcp-nginx3-')
  const ports = [await freePort(), await freePort(), await freePort()]
  const port = await freePort()
  const external = `http://127.0.0.1:${port}`
  // started at once on a data dir that does not exist yet: they agree on one signing key (auth-instances.test.ts)
  const instances = await Promise.all(ports.map((p, i) => startInstance(t, dir, `gw-${i + 1}`, p, external)))
  const conf = await nginxConfig(dir, port, ports.map((p) => `127.0.0.1:${p}`), CONF)
  const nginx = await startNginx(t, dir, conf, port)
  const url = `${external}/mcp`

  t.equal((await postMcp(url)).status, 401, 'auth is on: a call without a token is refused')
  // registration, /authorize, the owner's login and consent, /token: each through nginx, to any instance
  const owner = browser()
  const tokens = []
  for (const name of ['legacy-1', 'legacy-2', 'modern-1', 'modern-2']) tokens.push((await tokenFor(external, name, { owner })).accessToken)
  const legacy = [await legacyClient(t, url, tokens[0]), await legacyClient(t, url, tokens[1])]
  const modern = [await statelessClient(t, url, tokens[2]), await statelessClient(t, url, tokens[3])]
  const callers = [...legacy.map((c) => (i: number) => legacyCall(c, i)), ...modern.map((c) => (i: number) => modernCall(c, i))]

  /** `total` calls, one at a time per client, spread over the clients. */
  async function load (total: number, results: Outcome[], until?: () => boolean): Promise<void> {
    let next = 0
    await Promise.all(callers.map(async (callOf) => {
      while (next < total && !(until?.() ?? false)) results.push(await callOf(next++))
    }))
  }

  const first: Outcome[] = []
  await load(300, first)
  t.equal(first.length, 300, 'every call was made')
  t.same(first.filter((r) => r.failure), [], '0 of 300 calls failed')
  for (const name of ['gw-1', 'gw-2', 'gw-3']) t.ok(first.some((r) => r.by === name), `${name} served calls`)
  t.ok(first.filter((r) => r.by === 'round').length >= 60, 'sampling and elicitation rounds were among them')

  // a 2025 session is bound to its token wherever it goes: another client's token with its id is refused
  // (six requests in a row, spread over the instances by round robin)
  const transport = (legacy[0] as unknown as { transport: StreamableHTTPClientTransport }).transport
  const stolen: number[] = []
  for (let i = 0; i < 6; i++) stolen.push((await postMcp(url, { token: tokens[1], session: transport.sessionId, headers: { 'mcp-protocol-version': transport.protocolVersion ?? '' }, body: { jsonrpc: '2.0', id: 1, method: 'tools/list' } })).status)
  t.same(stolen, [404, 404, 404, 404, 404, 404], 'another client\'s token with the session id: 404, whichever instance it reaches')

  // the rolling restart, while the same clients (same sessions) go on calling
  const rolling: Outcome[] = []
  let done = false
  const running = load(5000, rolling, () => done)
  let current = conf
  for (const [i, instance] of instances.entries()) {
    const address = `server 127.0.0.1:${instance.port};`
    current = current.replace(address, `server 127.0.0.1:${instance.port} down;`)
    await writeFile(join(dir, 'nginx.conf'), current)
    nginx.kill('SIGHUP')
    const mark = rolling.length
    await waitFor(() => rolling.length >= mark + 40 && rolling.slice(-30).every((r) => r.by !== instance.name), `nginx to stop sending to ${instance.name}`, 30_000)
    instance.gateway.child.kill('SIGTERM')
    t.equal((await instance.gateway.exited()).code, 0, `${instance.name} exited 0`)
    instances[i] = await startInstance(t, dir, instance.name, instance.port, external)
    current = current.replace(`server 127.0.0.1:${instance.port} down;`, address)
    await writeFile(join(dir, 'nginx.conf'), current)
    nginx.kill('SIGHUP')
    const back = rolling.length
    await waitFor(() => rolling.slice(back).some((r) => r.by === instance.name), `${instance.name} to serve again`, 30_000)
  }
  done = true
  await running
  t.ok(rolling.length > 100, `calls ran through the restart (${rolling.length})`)
  t.same(rolling.filter((r) => r.failure), [], `0 of ${rolling.length} calls failed during the rolling restart`)
  // the same clients, the same sessions: every 2025 session survived three restarts
  for (const client of legacy) t.equal(text(await client.callTool({ name: 'a_1mcp_echo', arguments: { text: 'n0' } })).endsWith(': n0'), true, 'the 2025 session still works after every instance restarted')
  t.comment(`served during the restart: ${['gw-1', 'gw-2', 'gw-3', 'round'].map((n) => `${n} ${rolling.filter((r) => r.by === n).length}`).join(', ')}`)
})
