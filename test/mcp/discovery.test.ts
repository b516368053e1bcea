import t from 'tap'
import { CreateMessageRequestSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js'
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { Client as StatelessClient, StreamableHTTPClientTransport as ModernTransport } from '@modelcontextprotocol/client'
import { connect, echoFixture, STATELESS_VERSION, postMcp, startGateway, waitFor } from '../helpers.js'

interface Found { name: string, description: string, server: string }

type CallTool = (params: { name: string, arguments?: Record<string, unknown> }) => Promise<unknown>

async function search (client: { callTool: CallTool } | Client, query: string, limit?: number): Promise<Found[]> {
  const call = (client.callTool as CallTool).bind(client)
  const result = await call({ name: 'search_tools', arguments: { query, ...(limit ? { limit } : {}) } }) as { structuredContent?: { tools: Found[] }, isError?: boolean }
  if (!result.structuredContent) throw new Error(`search_tools answered no results: ${JSON.stringify(result)}`)
  return result.structuredContent.tools
}

function text (result: unknown): string {
  return ((result as { content?: Array<{ text?: string }> }).content ?? []).map((c) => c.text ?? '').join('')
}

t.test('discovery mode: three tools, ranked search, real calls, visibility, list_changed', async (t) => {
  const gw = await startGateway(t, {
    config: {
      mcpServers: {
        alpha: echoFixture('alpha', {}, { tags: ['public'], disabledTools: ['crash'] }),
        vault: echoFixture('vault', { EXTRA_TOOLS: 'launch_rockets' }, { tags: ['secret'] })
      },
      presets: { pub: { filter: 'public', discovery: 'search' } }
    }
  })
  const client = await connect(t, `${gw.url}?discovery=search`, { sampling: {} })
  const asked: string[] = []
  client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
    asked.push((request.params.messages[0].content as { text: string }).text)
    return { role: 'assistant', model: 'test', content: { type: 'text', text: 'sampled-answer' } }
  })

  await t.test('tools/list is search_tools, describe_tools and call_tool, whatever the catalog', async (t) => {
    const { tools } = await client.listTools()
    t.same(tools.map((tool) => tool.name), ['search_tools', 'describe_tools', 'call_tool'])
    const plain = await connect(t, gw.url)
    t.ok((await plain.listTools()).tools.length > 20, 'a connection without ?discovery= still lists the catalog')
  })

  await t.test('search_tools ranks by meaning words, describe_tools gives the schema', async (t) => {
    const found = await search(client, 'wait and report progress')
    t.equal(found[0].name, 'alpha_1mcp_slow', 'the best match first')
    t.same(found[0], { name: 'alpha_1mcp_slow', description: 'Waits, reporting progress', server: 'alpha' })
    t.equal((await search(client, 'sum two numbers', 1))[0].name.endsWith('_1mcp_add'), true, 'by description words')
    t.equal((await search(client, 'echo', 3)).length, 2, 'limit and matches: one echo per server')
    const described = await client.callTool({ name: 'describe_tools', arguments: { names: ['alpha_1mcp_add', 'nope'] } }) as unknown as { structuredContent: { tools: Array<{ name: string, inputSchema: { properties: object }, outputSchema?: object }>, unknown: string[] } }
    t.same(Object.keys(described.structuredContent.tools[0].inputSchema.properties).sort(), ['a', 'b'])
    t.ok(described.structuredContent.tools[0].outputSchema, 'the output schema too')
    t.same(described.structuredContent.unknown, ['nope'])
    const bad = [
      await client.callTool({ name: 'search_tools', arguments: { query: '' } }),
      await client.callTool({ name: 'search_tools', arguments: { query: 'echo', limit: 0 } }),
      await client.callTool({ name: 'describe_tools', arguments: { names: [] } }),
      await client.callTool({ name: 'describe_tools', arguments: { names: Array.from({ length: 21 }, (_, i) => `t${i}`) } }),
      await client.callTool({ name: 'call_tool', arguments: {} }),
      await client.callTool({ name: 'call_tool', arguments: { name: 'alpha_1mcp_echo', arguments: [1] } })
    ]
    t.same(bad.map((r) => r.isError), [true, true, true, true, true, true], 'a bad argument is a tool error the model can correct')
  })

  await t.test('a search result is callable via call_tool, with progress and sampling relayed', async (t) => {
    const progress: number[] = []
    const slow = await client.callTool({ name: 'call_tool', arguments: { name: 'alpha_1mcp_slow', arguments: { ms: 40, steps: 2 } } }, undefined, { onprogress: (p) => { progress.push(p.progress) } })
    t.equal(text(slow), 'alpha: waited 40 ms')
    t.same(progress, [1, 2], 'the backend\'s progress reached the client')
    const sampled = await client.callTool({ name: 'call_tool', arguments: { name: 'alpha_1mcp_sample', arguments: { prompt: 'via-discovery' } } })
    t.equal(text(sampled), 'sampled: sampled-answer')
    t.same(asked, ['via-discovery'], 'the backend\'s sampling request reached this client')
  })

  await t.test('a cancelled call_tool cancels the backend call', async (t) => {
    const abort = new AbortController()
    const call = client.callTool({ name: 'call_tool', arguments: { name: 'alpha_1mcp_hang', arguments: {} } }, undefined, { signal: abort.signal })
    await waitFor(() => [...gw.app.sessions.all()].some((s) => s.inflight.size > 0), 'the call in flight')
    const inflight = [...gw.app.sessions.all()].flatMap((s) => [...s.inflight.values()])
    abort.abort('stop')
    await t.rejects(call)
    await waitFor(() => inflight[0].cancellation.signal.aborted, 'the gateway cancelled the backend call')
    t.ok(inflight[0].cancellation.signal.aborted)
  })

  await t.test('a hidden tool is never found nor callable (preset filter, disabledTools, per-server path)', async (t) => {
    const pub = await connect(t, `${gw.url}?preset=pub`)
    t.same((await pub.listTools()).tools.map((tool) => tool.name), ['search_tools', 'describe_tools', 'call_tool'], 'the preset\'s discovery setting')
    t.ok((await search(client, 'launch rockets'))[0]?.name === 'vault_1mcp_launch_rockets', 'the unfiltered connection finds it')
    t.notOk((await search(pub, 'launch rockets', 20)).some((f) => f.server === 'vault'), 'filtered out: not found')
    await t.rejects(pub.callTool({ name: 'call_tool', arguments: { name: 'vault_1mcp_launch_rockets' } }), /unknown tool/, 'filtered out: not callable')
    const described = await pub.callTool({ name: 'describe_tools', arguments: { names: ['vault_1mcp_launch_rockets'] } }) as unknown as { structuredContent: { tools: unknown[] } }
    t.same(described.structuredContent.tools, [], 'filtered out: not described')
    t.notOk((await search(client, 'exits the process mid-call', 20)).some((f) => f.name === 'alpha_1mcp_crash'), 'a disabled tool is not found')
    await t.rejects(client.callTool({ name: 'call_tool', arguments: { name: 'alpha_1mcp_crash' } }), /unknown tool/, 'nor callable')
    const single = await connect(t, `${gw.base}/mcp/alpha?discovery=search`)
    const own = await search(single, 'echo text', 20)
    t.equal(own[0].name, 'echo', '/mcp/<server> finds the server\'s own names')
    t.ok(own.every((f) => f.server === 'alpha'), 'and that server alone')
    t.equal(text(await single.callTool({ name: 'call_tool', arguments: { name: 'echo', arguments: { text: 'hi' } } })), 'alpha: hi')
    await t.rejects(single.callTool({ name: 'call_tool', arguments: { name: 'crash' } }), /unknown tool/)
  })

  await t.test('list_changed reaches discovery clients, and the new tool is found', async (t) => {
    let told = 0
    client.setNotificationHandler(ToolListChangedNotificationSchema, async () => { told++ })
    t.same(await search(client, 'zebra_crossing'), [], 'not there yet')
    await client.callTool({ name: 'call_tool', arguments: { name: 'alpha_1mcp_grow', arguments: { tool: 'zebra_crossing' } } })
    await waitFor(() => told > 0, 'tools/list_changed')
    t.equal((await search(client, 'zebra crossing'))[0]?.name, 'alpha_1mcp_zebra_crossing', 'the index was rebuilt with the catalog')
  })

  await t.test('a 2026-07-28 client gets the same discovery tools and calls through them', async (t) => {
    const modern = new StatelessClient({ name: 'modern', version: '1.0.0' }, { capabilities: { sampling: {} }, versionNegotiation: { mode: { pin: STATELESS_VERSION } } })
    modern.setRequestHandler('sampling/createMessage', async () => ({ role: 'assistant', content: { type: 'text', text: 'modern-answer' }, model: 'test' }) as never)
    await modern.connect(new ModernTransport(new URL(`${gw.url}?discovery=search`)))
    t.teardown(() => modern.close())
    t.same((await modern.listTools()).tools.map((tool) => tool.name), ['search_tools', 'describe_tools', 'call_tool'])
    t.equal((await search(modern as unknown as { callTool: CallTool }, 'wait and report progress'))[0].name, 'alpha_1mcp_slow')
    const sampled = await modern.callTool({ name: 'call_tool', arguments: { name: 'alpha_1mcp_sample', arguments: { prompt: 'p' } } })
    t.equal(text(sampled), 'sampled: modern-answer', 'the sampling request went to the 2026 client')
  })

  await t.test('a bad ?discovery= is a 400', async (t) => {
    const res = await postMcp(`${gw.url}?discovery=magic`)
    t.equal(res.status, 400)
    t.match(await res.text(), /discovery/)
  })
})
