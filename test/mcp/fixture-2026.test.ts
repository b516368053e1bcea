// The 2026-07-28 echo fixture (test/fixtures/echo-server-2026.mjs), on its own over stdio, with the
// v2 SDK's own Client: every tool works, and the input_required rounds (elicitation, sampling, roots)
// are fulfilled by the client's handlers. The same fixture also serves a 2025-era client, whose input
// arrives as real server→client requests.
import t, { type Test } from 'tap'
import { fileURLToPath } from 'node:url'
import { Client, type ClientCapabilities } from '@modelcontextprotocol/client'
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio'

const ECHO_2026 = fileURLToPath(new URL('../fixtures/echo-server-2026.mjs', import.meta.url))
const CAPABILITIES: ClientCapabilities = { elicitation: {}, sampling: {}, roots: {} }

type Mode = 'legacy' | { pin: string }

/** A v2 client over stdio to the fixture, with elicitation/sampling/roots handlers that record what they were asked. */
async function start (t: Test, mode: Mode, inputRequired?: { autoFulfill: boolean }) {
  const asked: string[] = []
  const client = new Client({ name: 'fixture-2026-test', version: '1.0.0' }, {
    capabilities: CAPABILITIES,
    versionNegotiation: { mode },
    ...(inputRequired ? { inputRequired } : {})
  })
  client.setRequestHandler('elicitation/create', async (request) => {
    asked.push(`elicitation: ${request.params.message}`)
    return { action: 'accept', content: { name: 'Ada' } }
  })
  client.setRequestHandler('sampling/createMessage', async (request) => {
    const content = request.params.messages[0]?.content
    asked.push(`sampling: ${!Array.isArray(content) && content?.type === 'text' ? content.text : '?'}`)
    return { role: 'assistant', model: 'test-model', content: { type: 'text', text: 'sampled words' } }
  })
  client.setRequestHandler('roots/list', async () => {
    asked.push('roots')
    return { roots: [{ uri: 'file:///work/a', name: 'a' }, { uri: 'file:///work/b', name: 'b' }] }
  })
  const transport = new StdioClientTransport({ command: process.execPath, args: [ECHO_2026], env: { ...process.env, FIXTURE_NAME: 'e26' } as Record<string, string> })
  await client.connect(transport)
  t.teardown(() => client.close())
  return { client, asked }
}

const textOf = (result: { content?: unknown }): string => {
  const content = result.content as Array<{ type: string, text?: string }> | undefined
  return content?.map((block) => block.text ?? `[${block.type}]`).join('\n') ?? ''
}

for (const mode of [{ pin: '2026-07-28' }, 'legacy'] as const) {
  const era = mode === 'legacy' ? '2025-era client (initialize; real server→client requests)' : '2026-07-28 client (input_required rounds)'
  t.test(`echo-server-2026 with a ${era}`, async (t) => {
    const { client, asked } = await start(t, mode)
    if (mode === 'legacy') t.not(client.getNegotiatedProtocolVersion(), '2026-07-28', 'a 2025-era protocol was negotiated')
    else t.equal(client.getNegotiatedProtocolVersion(), '2026-07-28', 'the 2026-07-28 protocol was negotiated')

    const { tools } = await client.listTools()
    t.same(tools.map((tool) => tool.name).sort(), ['ask', 'ask_roots', 'ask_sample', 'echo', 'pid'])

    t.equal(textOf(await client.callTool({ name: 'echo', arguments: { text: 'hi' } })), 'e26: hi')
    t.same(asked, [], 'echo asks nothing')

    t.equal(textOf(await client.callTool({ name: 'ask', arguments: {} })), 'hello Ada')
    t.same(asked.splice(0), ['elicitation: What is your name?'], 'one elicitation, answered by the client handler')

    t.equal(textOf(await client.callTool({ name: 'ask_sample', arguments: { prompt: 'tell me' } })), 'sampled words')
    t.same(asked.splice(0), ['sampling: tell me'], 'one sampling request, answered by the client handler')

    t.equal(textOf(await client.callTool({ name: 'ask_roots', arguments: {} })), 'file:///work/a, file:///work/b')
    t.same(asked.splice(0), ['roots'], 'one roots request, answered by the client handler')

    const pid = Number(textOf(await client.callTool({ name: 'pid', arguments: {} })))
    t.ok(Number.isInteger(pid) && pid > 0 && pid !== process.pid, `pid is the fixture's own (${pid})`)
  })
}

t.test('echo-server-2026 answers input_required on the wire, then completes on the retry with inputResponses', async (t) => {
  const { client, asked } = await start(t, { pin: '2026-07-28' }, { autoFulfill: false })
  const first = await client.callTool({ name: 'ask', arguments: {} }, { allowInputRequired: true }) as Record<string, unknown>
  t.equal(first.resultType, 'input_required')
  const requests = first.inputRequests as Record<string, { method: string, params: { message?: string } }>
  t.same(Object.keys(requests), ['who'])
  t.equal(requests.who.method, 'elicitation/create')
  t.equal(requests.who.params.message, 'What is your name?')
  t.same(asked, [], 'nothing was auto-fulfilled')

  // The retry is the same call plus `inputResponses` (a 2026-07-28 param the 2025 typings lack).
  const accepted = { name: 'ask', arguments: {}, inputResponses: { who: { action: 'accept', content: { name: 'Grace' } } } }
  t.equal(textOf(await client.callTool(accepted, { allowInputRequired: true })), 'hello Grace')
  const declined = { name: 'ask', arguments: {}, inputResponses: { who: { action: 'decline' } } }
  t.equal(textOf(await client.callTool(declined, { allowInputRequired: true })), 'no name (decline)')
})
