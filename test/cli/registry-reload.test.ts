import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { run } from '../../cli/index.js'
import type { HealthReport } from '../../schemas/health.js'
import { connect, echoFixture, startGateway, waitFor } from '../helpers.js'
// @ts-expect-error: a plain .mjs fixture without types
import { entry, startRegistry } from '../fixtures/registry-server.mjs'

t.test('a server installed from the registry is picked up by a running gateway through hot reload', async (t) => {
  // what the registry entry points at: a real MCP server on loopback (another gateway serving the echo fixture)
  const upstream = await startGateway(t, { config: { mcpServers: { echo: echoFixture('upstream') } } })
  const registry = await startRegistry({
    servers: [entry({
      name: 'io.github.test/echo-remote',
      description: 'The echo fixture, served over Streamable HTTP',
      version: '1.0.0',
      remotes: [{ type: 'streamable-http', url: `${upstream.base}/mcp/{backend}`, variables: { backend: { description: 'which upstream backend', isRequired: true } } }]
    })]
  }) as { url: string, close: () => Promise<void> }
  t.teardown(() => registry.close())

  const dir = await mkdtemp(join(tmpdir(), '1mcp-registry-reload-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const configPath = join(dir, 'config.json')
  await writeFile(configPath, JSON.stringify({ reloadDebounceMs: 20, mcpServers: {} }, null, 2) + '\n')
  const gateway = await startGateway(t, { configPath })
  const health = async () => (await gateway.app.inject({ method: 'GET', url: '/health' })).json() as HealthReport
  t.same((await health()).backends, [], 'no backends before the install')

  let err = ''
  const code = await run(['mcp', 'install', 'io.github.test/echo-remote', '--arg', 'backend=echo', '--no-input', '--config', configPath, '--registry-url', registry.url], {
    out: () => {},
    err: (s) => { err += s },
    env: { ONEMCP_CACHE_DIR: join(dir, 'cache') },
    cwd: dir
  })
  t.equal(code, 0, err)
  t.same(JSON.parse(await readFile(configPath, 'utf8')).mcpServers['echo-remote'], {
    type: 'streamable-http', url: `${upstream.base}/mcp/echo`, description: 'The echo fixture, served over Streamable HTTP'
  })

  // ready, and its tools listed in the index
  const backend = await waitFor(async () => (await health()).backends.find((b) => b.name === 'echo-remote' && b.state === 'ready' && b.tools > 0), 'the installed backend to be ready')
  t.equal(backend?.transport, 'streamable-http')
  t.equal((await health()).config.valid, true)

  const client = await connect(t, gateway.url)
  const result = await client.callTool({ name: 'echo-remote_1mcp_echo', arguments: { text: 'through the registry' } })
  t.same(result.content, [{ type: 'text', text: 'upstream: through the registry' }], 'the call reaches the installed server')
})
