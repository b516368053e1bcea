import t from 'tap'
import { connect, echoFixture, startGateway } from '../helpers.js'

// Remote backends over each HTTP transport, with a second gateway as the remote server: the legacy
// SSE transport (named, and found by probing), a remote's own errors passed through, and a remote
// that cannot be reached.

t.test('a gateway whose backends are another gateway', async (t) => {
  const remote = await startGateway(t, { config: { mcpServers: { echo: echoFixture('far') } } })
  const gw = await startGateway(t, {
    config: {
      mcpServers: {
        legacy: { type: 'sse', url: `${remote.base}/sse` },
        probed: { url: `${remote.base}/sse` },
        direct: { url: `${remote.base}/mcp/echo` },
        down: { url: 'http://127.0.0.1:1/mcp', restart: { initialDelayMs: 60_000 } }
      }
    }
  })
  const health = (await gw.app.inject({ url: '/health' })).json() as { backends: Array<{ name: string, transport: string, state: string }> }
  const byName = Object.fromEntries(health.backends.map((b) => [b.name, b]))

  t.test('over the legacy SSE transport, named or found by probing', async (t) => {
    t.match(byName.legacy, { transport: 'sse', state: 'ready' })
    t.match(byName.probed, { transport: 'sse', state: 'ready' }, 'Streamable HTTP failed, SSE worked: the backend says so')
    const client = await connect(t, gw.url)
    for (const name of ['legacy', 'probed']) {
      const result = await client.callTool({ name: `${name}_1mcp_echo_1mcp_echo`, arguments: { text: name } })
      t.same(result.content, [{ type: 'text', text: `far: ${name}` }], `a call through ${name}`)
    }
  })

  t.test('a remote\'s own error passes through, tagged with the backend', async (t) => {
    t.match(byName.direct, { transport: 'streamable-http', state: 'ready' })
    const atRemote = await connect(t, `${remote.base}/mcp/echo`)
    const here = await connect(t, `${gw.base}/mcp/direct`)
    const asked = { method: 'resources/read', params: { uri: 'fixture://nothing-here' } }
    const theirs = await atRemote.readResource(asked.params).then(() => undefined, (err: { code: number, message: string }) => err)
    const ours = await here.readResource(asked.params).then(() => undefined, (err: { code: number, message: string, data: unknown }) => err)
    t.ok(theirs, 'the remote refuses')
    t.ok(ours, 'and so does the gateway in front of it')
    t.equal(ours!.code, theirs!.code, 'with the same code')
    t.equal(ours!.message, theirs!.message, 'and message')
    t.same(ours!.data, { backend: 'direct' }, 'naming the backend that failed')
  })

  t.test('a remote that cannot be reached: calls fail at once, naming it', async (t) => {
    t.match(byName.down, { state: 'restarting' })
    const client = await connect(t, `${gw.base}/mcp/down`)
    const err = await client.readResource({ uri: 'anything://x' }).then(() => undefined, (e: { code: number, message: string, data: unknown }) => e)
    t.equal(err?.code, -32000)
    t.match(err?.message, /backend 'down' is unavailable: .*(ECONNREFUSED|fetch failed)/)
    t.match(err?.data, { backend: 'down', state: 'restarting' })
  })
})
