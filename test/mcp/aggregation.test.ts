import t from 'tap'
import { ListToolsResultSchema } from '@modelcontextprotocol/sdk/types.js'
import { connect, echoFixture, initializeRequest, postMcp, startGateway } from '../helpers.js'

t.test('two backends behind one endpoint', async (t) => {
  const gw = await startGateway(t, {
    config: {
      mcpServers: {
        alpha: echoFixture('alpha', { INSTRUCTIONS: 'alpha knows greek' }),
        beta: echoFixture('beta')
      }
    }
  })
  const client = await connect(t, gw.url)

  t.test('initialize combines instructions under server names', async (t) => {
    t.match(client.getInstructions(), /## alpha\nalpha knows greek/)
    t.equal(client.getServerVersion()?.name, '1mcp-gateway')
    t.ok(client.getServerCapabilities()?.tools?.listChanged)
  })

  t.test('tools are listed with server prefixes', async (t) => {
    const { tools } = await client.listTools()
    const names = tools.map((tool) => tool.name)
    t.ok(names.includes('alpha_1mcp_echo'))
    t.ok(names.includes('beta_1mcp_echo'))
    t.equal(names.length, new Set(names).size, 'no duplicates')
    const add = tools.find((tool) => tool.name === 'alpha_1mcp_add')
    t.ok(add?.outputSchema, 'outputSchema passes through')
    t.equal(add?.description, 'Adds two numbers')
  })

  t.test('calls are routed by prefix', async (t) => {
    const a = await client.callTool({ name: 'alpha_1mcp_echo', arguments: { text: 'hi' } })
    t.same(a.content, [{ type: 'text', text: 'alpha: hi' }])
    const b = await client.callTool({ name: 'beta_1mcp_echo', arguments: { text: 'yo' } })
    t.same(b.content, [{ type: 'text', text: 'beta: yo' }])
    const sum = await client.callTool({ name: 'beta_1mcp_add', arguments: { a: 2, b: 40 } })
    t.same(sum.structuredContent, { sum: 42 })
  })

  t.test('isError results pass through untouched', async (t) => {
    const result = await client.callTool({ name: 'alpha_1mcp_tool_error', arguments: {} })
    t.equal(result.isError, true)
    t.same(result.content, [{ type: 'text', text: 'something went wrong' }])
  })

  t.test('a backend error keeps its code, message and data and names the backend', async (t) => {
    const err = await client.callTool({ name: 'beta_1mcp_fail', arguments: {} }).catch((e) => e)
    t.equal(err.code, -32042)
    t.match(err.message, /fixture failure/)
    t.same(err.data, { reason: 'asked to fail', backend: 'beta' })
  })

  t.test('an unknown tool is a clear error naming it', async (t) => {
    const err = await client.callTool({ name: 'nope_1mcp_echo', arguments: {} }).catch((e) => e)
    t.equal(err.code, -32602)
    t.match(err.message, /unknown tool: nope_1mcp_echo/)
  })

  t.test('resources and templates are namespaced and readable', async (t) => {
    const { resources } = await client.listResources()
    const uris = resources.map((r) => r.uri).sort()
    t.same(uris, ['onemcp://alpha/fixture://hello', 'onemcp://beta/fixture://hello'])
    const read = await client.readResource({ uri: 'onemcp://beta/fixture://hello' })
    t.same(read.contents, [{ uri: 'onemcp://beta/fixture://hello', mimeType: 'text/plain', text: 'hello from beta' }])
    const { resourceTemplates } = await client.listResourceTemplates()
    t.ok(resourceTemplates.some((r) => r.uriTemplate === 'onemcp://alpha/fixture://items/{id}'))
    const item = await client.readResource({ uri: 'onemcp://alpha/fixture://items/7' })
    t.equal((item.contents[0] as { text: string }).text, 'item 7 of alpha')
    const err = await client.readResource({ uri: 'onemcp://gamma/fixture://hello' }).catch((e) => e)
    t.equal(err.code, -32602)
  })

  t.test('prompts are namespaced and routed', async (t) => {
    const { prompts } = await client.listPrompts()
    t.ok(prompts.some((p) => p.name === 'alpha_1mcp_greet'))
    const got = await client.getPrompt({ name: 'beta_1mcp_greet', arguments: { who: 'you' } })
    t.same(got.messages[0].content, { type: 'text', text: 'beta greets you' })
  })

  t.test('pagination: pages with opaque cursors, bad cursor is -32602', async (t) => {
    gw.app.gatewayConfig.current.pageSize = 5
    t.teardown(() => { delete gw.app.gatewayConfig.current.pageSize })
    const all: string[] = []
    let cursor: string | undefined
    for (let i = 0; i < 20; i++) {
      const page = await client.request({ method: 'tools/list', params: cursor ? { cursor } : {} }, ListToolsResultSchema)
      t.ok(page.tools.length <= 5)
      all.push(...page.tools.map((tool) => tool.name))
      cursor = page.nextCursor
      if (!cursor) break
    }
    t.ok(all.length > 10, 'more than two pages')
    t.same(all, gw.app.capabilities.list('tools', {}).map((tool) => tool.name))
    const err = await client.listTools({ cursor: 'not-a-cursor' }).catch((e) => e)
    t.equal(err.code, -32602)
  })

  t.test('ping is answered', async (t) => {
    t.same(await client.ping(), {})
  })
})

t.test('/mcp/<server> serves one backend under its original names', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { alpha: echoFixture('alpha', { INSTRUCTIONS: 'only alpha' }), beta: echoFixture('beta') } } })
  const client = await connect(t, `${gw.base}/mcp/alpha`)
  t.equal(client.getInstructions(), 'only alpha')
  t.equal(client.getServerVersion()?.name, 'fixture-alpha')
  const { tools } = await client.listTools()
  t.ok(tools.some((tool) => tool.name === 'echo'))
  t.notOk(tools.some((tool) => tool.name.includes('_1mcp_')))
  const result = await client.callTool({ name: 'echo', arguments: { text: 'x' } })
  t.same(result.content, [{ type: 'text', text: 'alpha: x' }])
  const read = await client.readResource({ uri: 'fixture://hello' })
  t.equal((read.contents[0] as { text: string }).text, 'hello from alpha')
  const res = await postMcp(`${gw.base}/mcp/nosuch`, { body: initializeRequest('2025-11-25', 'x') })
  t.equal(res.status, 404)
})
