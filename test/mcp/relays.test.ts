import t from 'tap'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js'
import {
  CreateMessageRequestSchema, ElicitRequestSchema, LoggingMessageNotificationSchema, ResourceUpdatedNotificationSchema, type Notification
} from '@modelcontextprotocol/sdk/types.js'
import { connect, echoFixture, startGateway, waitFor } from '../helpers.js'

function sampler (client: Client, answer: string, asked: string[]): void {
  client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
    const content = request.params.messages[0].content as { text: string }
    asked.push(content.text)
    return { role: 'assistant', model: 'test', content: { type: 'text', text: answer } }
  })
}

t.test('relays between backends and two clients at once: nothing crosses', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { alpha: echoFixture('alpha'), beta: echoFixture('beta') } } })
  const a = await connect(t, gw.url, { sampling: {}, elicitation: {} }, 'client-a')
  const b = await connect(t, gw.url, { sampling: {}, elicitation: {} }, 'client-b')
  const askedA: string[] = []
  const askedB: string[] = []
  sampler(a, 'answer-from-a', askedA)
  sampler(b, 'answer-from-b', askedB)

  t.test('sampling reaches the session whose call caused it', async (t) => {
    const [ra, rb] = await Promise.all([
      a.callTool({ name: 'alpha_1mcp_sample', arguments: { prompt: 'question-a' } }),
      b.callTool({ name: 'beta_1mcp_sample', arguments: { prompt: 'question-b' } })
    ])
    t.same(ra.content, [{ type: 'text', text: 'sampled: answer-from-a' }])
    t.same(rb.content, [{ type: 'text', text: 'sampled: answer-from-b' }])
    t.same(askedA, ['question-a'])
    t.same(askedB, ['question-b'])
  })

  t.test('a sampling request is refused when two sessions call the same shared backend', async (t) => {
    askedA.length = 0
    askedB.length = 0
    const slow = b.callTool({ name: 'alpha_1mcp_slow', arguments: { ms: 800, steps: 1 } })
    await waitFor(() => gw.app.backends.get('alpha')!.active === 1, 'b\'s call in flight')
    const ra = await a.callTool({ name: 'alpha_1mcp_sample', arguments: { prompt: 'ambiguous' } })
    t.equal(ra.isError, true)
    t.match((ra.content as Array<{ text: string }>)[0].text, /several client sessions have calls in flight/)
    await slow
    t.same(askedA, [], 'a was not asked')
    t.same(askedB, [], 'b was never asked for a\'s request')
  })

  t.test('elicitation reaches the session whose call caused it', async (t) => {
    const asked: string[] = []
    a.setRequestHandler(ElicitRequestSchema, async (request) => {
      asked.push(`a:${request.params.message}`)
      return { action: 'accept', content: { answer: 'from-a' } }
    })
    b.setRequestHandler(ElicitRequestSchema, async (request) => {
      asked.push(`b:${request.params.message}`)
      return { action: 'decline' }
    })
    const [ra, rb] = await Promise.all([
      a.callTool({ name: 'alpha_1mcp_elicit', arguments: { message: 'name?' } }),
      b.callTool({ name: 'beta_1mcp_elicit', arguments: { message: 'age?' } })
    ])
    t.same(ra.content, [{ type: 'text', text: 'accept: from-a' }])
    t.same(rb.content, [{ type: 'text', text: 'decline: ' }])
    t.same(asked.sort(), ['a:name?', 'b:age?'])
  })

  t.test('a client without the capability: the backend gets a clear error', async (t) => {
    const plain = await connect(t, gw.url, {}, 'client-plain')
    const result = await plain.callTool({ name: 'beta_1mcp_sample', arguments: { prompt: 'x' } })
    t.equal(result.isError, true)
    t.match((result.content as Array<{ text: string }>)[0].text, /did not declare the sampling capability/)
  })

  t.test('progress goes to the caller only', async (t) => {
    const seenByB: Notification[] = []
    b.fallbackNotificationHandler = async (n) => { seenByB.push(n) }
    const progress: number[] = []
    const result = await a.callTool({ name: 'alpha_1mcp_slow', arguments: { ms: 200, steps: 4 } }, undefined, {
      onprogress: (p) => { progress.push(p.progress) }
    })
    t.same(result.content, [{ type: 'text', text: 'alpha: waited 200 ms' }])
    t.same(progress, [1, 2, 3, 4])
    t.same(seenByB.filter((n) => n.method === 'notifications/progress'), [])
  })

  t.test('log messages of a call reach its caller; logging/setLevel filters', async (t) => {
    const logsA: string[] = []
    const logsB: string[] = []
    a.setNotificationHandler(LoggingMessageNotificationSchema, async (n) => { logsA.push(String(n.params.data)) })
    b.setNotificationHandler(LoggingMessageNotificationSchema, async (n) => { logsB.push(String(n.params.data)) })
    await a.callTool({ name: 'alpha_1mcp_log', arguments: { level: 'info', text: 'for-a' } })
    t.same(logsA, ['for-a'])
    await a.setLoggingLevel('error')
    await a.callTool({ name: 'alpha_1mcp_log', arguments: { level: 'info', text: 'too-low' } })
    await a.callTool({ name: 'alpha_1mcp_log', arguments: { level: 'error', text: 'loud' } })
    t.same(logsA, ['for-a', 'loud'], 'below the session\'s level is dropped')
    t.same(logsB, [], 'b saw none of a\'s logs')
  })

  t.test('resource updates go to subscribed sessions only, with the namespaced URI', async (t) => {
    const updatesA: string[] = []
    const updatesB: string[] = []
    a.setNotificationHandler(ResourceUpdatedNotificationSchema, async (n) => { updatesA.push(n.params.uri) })
    b.setNotificationHandler(ResourceUpdatedNotificationSchema, async (n) => { updatesB.push(n.params.uri) })
    await waitFor(() => [...gw.app.sessions.all()].filter((s) => s.standalone).length >= 2, 'the GET streams')
    await a.subscribeResource({ uri: 'onemcp://beta/fixture://hello' })
    const touched = await b.callTool({ name: 'beta_1mcp_touch', arguments: { uri: 'fixture://hello' } })
    t.same(touched.content, [{ type: 'text', text: 'notified' }])
    await waitFor(() => updatesA.length > 0, 'the update at a')
    t.same(updatesA, ['onemcp://beta/fixture://hello'])
    t.same(updatesB, [], 'b did not subscribe')
    await a.unsubscribeResource({ uri: 'onemcp://beta/fixture://hello' })
  })

  t.test('completion is routed by the prefixed reference', async (t) => {
    const result = await a.complete({ ref: { type: 'ref/prompt', name: 'alpha_1mcp_greet' }, argument: { name: 'who', value: 'wo' } })
    t.same(result.completion.values, ['world', 'wolves'])
    const err = await a.complete({ ref: { type: 'ref/prompt', name: 'nope_1mcp_greet' }, argument: { name: 'who', value: 'x' } }).catch((e) => e)
    t.equal(err.code, -32602)
  })

  t.test('cancellation aborts the backend call', async (t) => {
    const controller = new AbortController()
    const call = a.callTool({ name: 'alpha_1mcp_hang', arguments: {} }, undefined, { signal: controller.signal }).catch((e) => e)
    await waitFor(() => gw.app.backends.get('alpha')!.active === 1, 'the call in flight')
    controller.abort('changed my mind')
    t.match((await call).message, /changed my mind|abort/i, 'the client call ends as aborted')
    await waitFor(() => gw.app.backends.get('alpha')!.active === 0, 'the backend call to end')
    t.equal(gw.app.backends.get('alpha')!.active, 0, 'nothing left in flight at the backend')
  })
})

t.test('the legacy HTTP+SSE transport (2024-11-05) with the same filters', async (t) => {
  const gw = await startGateway(t, {
    config: { mcpServers: { alpha: echoFixture('alpha', {}, { tags: ['a'] }), beta: echoFixture('beta', {}, { tags: ['b'] }) } }
  })
  const client = new Client({ name: 'old-client', version: '1.0.0' })
  await client.connect(new SSEClientTransport(new URL(`${gw.base}/sse?tags=b`)))
  t.teardown(() => client.close())
  const { tools } = await client.listTools()
  t.ok(tools.length > 0)
  t.ok(tools.every((tool) => tool.name.startsWith('beta_1mcp_')), 'only servers tagged b')
  const result = await client.callTool({ name: 'beta_1mcp_echo', arguments: { text: 'old' } })
  t.same(result.content, [{ type: 'text', text: 'beta: old' }])
  const hidden = await client.callTool({ name: 'alpha_1mcp_echo', arguments: { text: 'x' } }).catch((e) => e)
  t.equal(hidden.code, -32602, 'a filtered-out server cannot be called')
  const progress: number[] = []
  await client.callTool({ name: 'beta_1mcp_slow', arguments: { ms: 100, steps: 2 } }, undefined, { onprogress: (p) => { progress.push(p.progress) } })
  // the SDK client may drop a last progress event that arrives in the same chunk as the result
  t.equal(progress[0], 1, 'progress reaches the legacy client')
  t.equal(gw.app.sessions.size, 1)
  await client.close()
  await waitFor(() => gw.app.sessions.size === 0, 'the session to end with the stream')
  t.equal(gw.app.sessions.size, 0, 'the session ended with the stream')
  const unknown = await fetch(`${gw.base}/messages?sessionId=nope`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
  t.equal(unknown.status, 404)
})

t.test('sessionMode per-client: each session gets its own connection, so relays are never ambiguous', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { own: echoFixture('own', {}, { sessionMode: 'per-client' }) } } })
  const a = await connect(t, gw.url, { sampling: {} }, 'client-a')
  const b = await connect(t, gw.url, { sampling: {} }, 'client-b')
  const askedA: string[] = []
  const askedB: string[] = []
  sampler(a, 'answer-from-a', askedA)
  sampler(b, 'answer-from-b', askedB)
  const [ra, rb] = await Promise.all([
    a.callTool({ name: 'own_1mcp_sample', arguments: { prompt: 'qa' } }),
    b.callTool({ name: 'own_1mcp_sample', arguments: { prompt: 'qb' } })
  ])
  t.same(ra.content, [{ type: 'text', text: 'sampled: answer-from-a' }])
  t.same(rb.content, [{ type: 'text', text: 'sampled: answer-from-b' }])
  t.same([askedA, askedB], [['qa'], ['qb']])
  const pidOf = async (c: Client) => Number(((await c.callTool({ name: 'own_1mcp_pid', arguments: {} })).content as Array<{ text: string }>)[0].text)
  const [pa, pb] = [await pidOf(a), await pidOf(b)]
  t.not(pa, pb, 'two processes')
  t.not(pa, gw.app.backends.get('own')!.pid, 'not the shared one')
  await a.close()
  const sessionA = [...gw.app.sessions.all()].find((s) => s.clientInfo?.name === 'client-a')
  if (sessionA) gw.app.sessions.delete(sessionA.id)
  await waitFor(() => { try { process.kill(pa, 0); return false } catch { return true } }, 'a\'s process to stop with its session')
  t.equal(await pidOf(b), pb, 'b keeps its own')
})

t.test('with auth on, the legacy transport needs a token too', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: {} } })
  const sse = await fetch(`${gw.base}/sse`, { headers: { accept: 'text/event-stream' } })
  t.equal(sse.status, 401)
  t.match(sse.headers.get('www-authenticate') ?? '', /^Bearer resource_metadata=/)
  const messages = await fetch(`${gw.base}/messages?sessionId=x`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
  t.equal(messages.status, 401)
})
