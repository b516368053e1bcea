import t from 'tap'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { Client as StatelessClient } from '@modelcontextprotocol/client'
import { StdioClientTransport as ModernStdioTransport } from '@modelcontextprotocol/client/stdio'
import { CreateMessageRequestSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js'
import type { Test } from 'tap'
import { createServer, type AddressInfo } from 'node:net'
import { alive, echoFixture, NO_CHILD_COVERAGE, startGateway, waitFor } from '../helpers.js'
import { BIN } from '../cli-helpers.js'
import { proxyTarget } from '../../cli/proxy.js'

/** A real stdio MCP client that starts `1mcp proxy` as its server. */
async function proxyClient (t: Test, args: string[]) {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, 'proxy', ...args],
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...NO_CHILD_COVERAGE },
    stderr: 'pipe'
  })
  let stderr = ''
  transport.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const client = new Client({ name: 'stdio-only-client', version: '1.0.0' }, { capabilities: { sampling: {} } })
  t.teardown(() => client.close())
  return { client, transport, stderr: () => stderr }
}

// Each proxy is a fresh node process running the TypeScript sources through tsx: slow to start on a busy machine.
t.setTimeout(240_000)

t.test('a stdio client reaches the gateway through 1mcp proxy', async (t) => {
  const gw = await startGateway(t, {
    config: {
      mcpServers: {
        web: echoFixture('web', {}, { tags: ['web'] }),
        lab: echoFixture('lab', {}, { tags: ['web', 'beta'] })
      },
      presets: { stable: { filter: 'web and not beta' } },
      loadShedding: false
    }
  })
  const { client, transport } = await proxyClient(t, ['--url', gw.base, '--preset', 'stable'])
  await client.connect(transport)

  t.test('the initialize result is the gateway\'s', async (t) => {
    t.equal(client.getServerVersion()?.name, '1mcp-gateway')
    t.ok(client.getServerCapabilities()?.tools?.listChanged)
  })

  t.test('lists and calls pass through, filtered by the preset', async (t) => {
    const names = (await client.listTools()).tools.map((tool) => tool.name)
    t.ok(names.includes('web_1mcp_echo'))
    t.notOk(names.some((n) => n.startsWith('lab_')), 'the preset leaves lab out')
    const result = await client.callTool({ name: 'web_1mcp_echo', arguments: { text: 'through stdio' } })
    t.same(result.content, [{ type: 'text', text: 'web: through stdio' }])
    const resource = await client.readResource({ uri: 'onemcp://web/fixture://hello' })
    t.equal((resource.contents[0] as { text: string }).text, 'hello from web')
  })

  t.test('errors keep their code, message and data', async (t) => {
    const err = await client.callTool({ name: 'web_1mcp_fail', arguments: {} }).catch((e) => e)
    t.equal(err.code, -32042)
    t.same(err.data, { reason: 'asked to fail', backend: 'web' })
  })

  t.test('progress notifications reach the client', async (t) => {
    const progress: number[] = []
    const result = await client.callTool({ name: 'web_1mcp_slow', arguments: { ms: 400, steps: 4 } }, undefined, {
      onprogress: (p) => { progress.push(p.progress) }
    })
    // The SDK handles a notification a microtask later than a response, so a progress message that
    // arrives together with the result can be dropped by any SDK client: only the earlier ones are certain.
    t.same(progress.slice(0, 3), [1, 2, 3])
    t.same(result.content, [{ type: 'text', text: 'web: waited 400 ms' }])
  })

  t.test('a server→client request (sampling) is relayed to the stdio client', async (t) => {
    client.setRequestHandler(CreateMessageRequestSchema, async (request) => ({
      role: 'assistant', model: 'test', content: { type: 'text', text: `echo of ${(request.params.messages[0].content as { text: string }).text}` }
    }))
    const result = await client.callTool({ name: 'web_1mcp_sample', arguments: { prompt: 'ping' } })
    t.same(result.content, [{ type: 'text', text: 'sampled: echo of ping' }])
  })

  t.test('list_changed reaches the client', async (t) => {
    let changed = 0
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => { changed++ })
    await client.callTool({ name: 'web_1mcp_grow', arguments: { tool: 'sprout' } })
    await waitFor(() => changed > 0, 'tools/list_changed through the proxy')
    t.ok(changed > 0, 'tools/list_changed reached the stdio client')
    const sprout = await waitFor(async () => (await client.listTools()).tools.find((tool) => tool.name === 'web_1mcp_sprout'), 'the new tool')
    t.match(sprout, { name: 'web_1mcp_sprout' }, 'the new tool is listed')
  })

  t.test('cancelling a call cancels it at the gateway', async (t) => {
    const controller = new AbortController()
    const call = client.callTool({ name: 'web_1mcp_hang', arguments: {} }, undefined, { signal: controller.signal }).catch((e) => e)
    const inflight = () => [...gw.app.sessions.all()].reduce((n, s) => n + s.inflight.size, 0)
    await waitFor(() => inflight() === 1, 'the call in flight at the gateway')
    controller.abort('changed my mind')
    t.match((await call).message, /changed my mind|abort/i)
    await waitFor(() => inflight() === 0, 'the gateway to drop the cancelled call')
    t.equal(inflight(), 0, 'the gateway dropped the call')
  })

  t.test('the proxy exits when the client goes away, ending its session', async (t) => {
    const pid = transport.pid!
    t.ok(alive(pid))
    const before = gw.app.sessions.size
    await client.close()
    await waitFor(() => !alive(pid), 'the proxy to exit')
    await waitFor(() => gw.app.sessions.size === before - 1, 'the session to end')
    t.equal(alive(pid), false, 'the proxy exited')
    t.equal(gw.app.sessions.size, before - 1, 'its gateway session ended')
  })
})

t.test('--tags and --tag-filter select servers too', async (t) => {
  const gw = await startGateway(t, {
    config: { mcpServers: { web: echoFixture('web', {}, { tags: ['web'] }), lab: echoFixture('lab', {}, { tags: ['beta'] }) }, loadShedding: false }
  })
  for (const [args, expected] of [[['--tags', 'beta'], 'lab'], [['--tag-filter', 'not beta'], 'web']] as const) {
    const { client, transport } = await proxyClient(t, ['--url', `${gw.base}/mcp`, ...args])
    await client.connect(transport)
    const prefixes = new Set((await client.listTools()).tools.map((tool) => tool.name.split('_1mcp_')[0]))
    t.same([...prefixes], [expected], args.join(' '))
    await client.close()
  }
})

/** A loopback port nothing listens on. */
async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise((resolve) => server.close(resolve))
  return port
}

t.test('when the gateway cannot be reached the client is told why', async (t) => {
  const port = await closedPort()
  const { client, transport, stderr } = await proxyClient(t, ['--url', `http://127.0.0.1:${port}/mcp`])
  const err = await client.connect(transport).catch((e) => e)
  t.match(err.message, /1mcp proxy: cannot reach the gateway \(ECONNREFUSED\); check that the gateway runs at http:\/\/127\.0\.0\.1:\d+\/mcp/)
  t.match(stderr(), /initialize failed/)
})

t.test('a bad filter is refused before anything starts', async (t) => {
  const { client, transport, stderr } = await proxyClient(t, ['--url', 'http://127.0.0.1:9', '--tag-filter', 'a and'])
  await client.connect(transport).catch(() => {})
  await waitFor(() => stderr().includes('at position 6'), 'the error on stderr')
  t.match(stderr(), /invalid tag filter[\s\S]*see `1mcp proxy --help`/)
})

t.test('the target URL', async (t) => {
  t.equal(proxyTarget('http://h:1', { tags: [] }).href, 'http://h:1/mcp')
  t.equal(proxyTarget('http://h:1/', { tags: ['a', 'b'] }).href, 'http://h:1/mcp?tags=a%2Cb')
  t.equal(proxyTarget('http://h:1/mcp', { tags: [], preset: 'dev' }).href, 'http://h:1/mcp?preset=dev')
  t.equal(proxyTarget('http://h:1/mcp/web', { tags: [] }).href, 'http://h:1/mcp/web')
  t.equal(proxyTarget('https://h/base', { tags: [], tagFilter: 'a and b' }).href, 'https://h/base/mcp?tag-filter=a+and+b')
})

t.test('a 2026-07-28 stdio client reaches the gateway through 1mcp proxy, its input rounds included', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { web: echoFixture('web') }, loadShedding: false } })
  const client = new StatelessClient({ name: 'stdio-2026-client', version: '1.0.0' }, {
    capabilities: { elicitation: {} },
    versionNegotiation: { mode: { pin: '2026-07-28' } }
  })
  client.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { answer: 'via proxy' } }))
  t.teardown(() => client.close())
  await client.connect(new ModernStdioTransport({
    command: process.execPath,
    args: [BIN, 'proxy', '--url', gw.base],
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...NO_CHILD_COVERAGE }
  }))
  t.equal(client.getProtocolEra(), 'modern')
  const result = await client.callTool({ name: 'web_1mcp_echo', arguments: { text: 'stateless' } })
  t.same(result.content, [{ type: 'text', text: 'web: stateless' }])
  const asked = await client.callTool({ name: 'web_1mcp_elicit', arguments: { message: 'answer?' } })
  t.same(asked.content, [{ type: 'text', text: 'accept: via proxy' }], 'the backend\'s elicitation came back as an input_required round')
  t.equal(gw.app.sessions.size, 0, 'no session is held for it')
})
