import t from 'tap'
import { LoggingMessageNotificationSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js'
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { connect, echoFixture, initializeRequest, postMcp, startGateway, waitFor } from '../helpers.js'

// Where the dispatcher (routes/dispatch.ts) sends what: cancellation, completion refs, and the
// notifications of shared and per-client backends, each to the sessions it concerns.

interface Seen { method: string, params: { data?: unknown, uri?: string, level?: string } }

/** Collects the notifications of one schema a client receives. */
function collect (client: Client, schema: typeof LoggingMessageNotificationSchema | typeof ResourceUpdatedNotificationSchema): Seen[] {
  const seen: Seen[] = []
  client.setNotificationHandler(schema as typeof LoggingMessageNotificationSchema, (n) => { seen.push(n as Seen) })
  return seen
}

t.test('one gateway, shared and per-client backends', async (t) => {
  const gw = await startGateway(t, {
    config: {
      mcpServers: {
        echo: echoFixture('echo'),
        own: echoFixture('own', {}, { sessionMode: 'per-client' })
      }
    }
  })
  const post = (body: unknown, session?: string, signal?: AbortSignal) => postMcp(gw.url, { body, session, signal })
  async function rawSession (): Promise<string> {
    const res = await post({ ...initializeRequest(), id: 0 })
    await res.body?.cancel()
    return res.headers.get('mcp-session-id')!
  }

  t.test('notifications/cancelled ends the call, with the client\'s reason or a default one', async (t) => {
    const id = await rawSession()
    const live = gw.app.sessions.get(id)!
    for (const [requestId, reason, expected] of [['c1', undefined, /cancelled by the client/], ['c2', 'enough waiting', /enough waiting/]] as const) {
      const call = post({ jsonrpc: '2.0', id: requestId, method: 'tools/call', params: { name: 'echo_1mcp_hang', arguments: {} } }, id)
      await waitFor(() => live.inflight.has(requestId), 'the call to be in flight')
      const cancel = await post({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId, ...(reason ? { reason } : {}) } }, id)
      t.equal(cancel.status, 202)
      const answer = await (await call).json()
      t.match(answer, { id: requestId, error: { code: -32001, message: /^backend 'echo'/ } }, `cancelled ${reason ?? 'without a reason'}: the call ends with an error`)
      t.notOk(live.inflight.has(requestId), 'and is no longer in flight')
      t.match(answer.error.message, expected, 'the error says why the call was cancelled')
    }
  })

  t.test('completion/complete without a ref is invalid params', async (t) => {
    const id = await rawSession()
    const res = await post({ jsonrpc: '2.0', id: 9, method: 'completion/complete', params: { argument: { name: 'who', value: 'w' } } }, id)
    t.same(await res.json(), { jsonrpc: '2.0', id: 9, error: { code: -32602, message: 'params.ref.type must be "ref/prompt" or "ref/resource"' } })
  })

  t.test('per-client backend: its log and resource notifications reach the calling session only', async (t) => {
    const mine = await connect(t, gw.url, {}, 'mine')
    const other = await connect(t, gw.url, {}, 'other')
    const logs = collect(mine, LoggingMessageNotificationSchema)
    const otherLogs = collect(other, LoggingMessageNotificationSchema)
    const updates = collect(mine, ResourceUpdatedNotificationSchema)
    await other.callTool({ name: 'own_1mcp_echo', arguments: { text: 'hi' } })

    const logged = await mine.callTool({ name: 'own_1mcp_log', arguments: { level: 'warning', text: 'from my own connection' } })
    t.same(logged.content, [{ type: 'text', text: 'logged' }])
    t.same(logs.map((n) => n.params.data), ['from my own connection'], 'the log message came with the call')
    t.same(otherLogs, [], 'the other session, with its own connection, heard nothing')

    await mine.subscribeResource({ uri: 'onemcp://own/fixture://hello' })
    const touched = await mine.callTool({ name: 'own_1mcp_touch', arguments: { uri: 'fixture://hello' } })
    t.same(touched.content, [{ type: 'text', text: 'notified' }])
    t.same(updates.map((n) => n.params.uri), ['onemcp://own/fixture://hello'], 'the update names the URI as this session sees it')
  })

  t.test('a session on /mcp/<server> hears of updates under the server\'s own URIs', async (t) => {
    const client = await connect(t, `${gw.base}/mcp/echo`)
    const updates = collect(client, ResourceUpdatedNotificationSchema)
    await waitFor(() => [...gw.app.sessions.all()].some((s) => s.scope.single === 'echo' && s.standalone && !s.standalone.closed), 'the client\'s GET stream')
    await client.subscribeResource({ uri: 'fixture://hello' })
    await client.callTool({ name: 'touch', arguments: { uri: 'fixture://hello' } })
    await waitFor(() => updates.length > 0, 'the update')
    t.same(updates.map((n) => n.params.uri), ['fixture://hello'])
  })

  t.test('a log level set on /mcp/<server> filters that session\'s messages', async (t) => {
    const client = await connect(t, `${gw.base}/mcp/echo`)
    const logs = collect(client, LoggingMessageNotificationSchema)
    await client.setLoggingLevel('error')
    await client.callTool({ name: 'log', arguments: { level: 'info', text: 'too chatty' } })
    await client.callTool({ name: 'log', arguments: { level: 'error', text: 'this matters' } })
    t.same(logs.map((n) => n.params.data), ['this matters'], 'below the session\'s level: dropped; at it: delivered with its call')
  })

  t.test('a log message while several sessions call the backend goes to those that asked for logs', async (t) => {
    const busy = await connect(t, gw.url, {}, 'busy')
    const listener = await connect(t, gw.url, {}, 'listener')
    const busyLogs = collect(busy, LoggingMessageNotificationSchema)
    const heard = collect(listener, LoggingMessageNotificationSchema)
    await listener.setLoggingLevel('info')
    await waitFor(() => [...gw.app.sessions.all()].some((s) => s.logLevel === 'info' && s.standalone && !s.standalone.closed), 'the listener\'s GET stream')
    const slow = busy.callTool({ name: 'echo_1mcp_slow', arguments: { ms: 1500, steps: 1 } })
    await waitFor(() => [...gw.app.sessions.all()].some((s) => [...s.inflight.values()].some((c) => c.backend === 'echo')), 'the slow call to be in flight')
    await listener.callTool({ name: 'echo_1mcp_log', arguments: { level: 'warning', text: 'who called?' } })
    await waitFor(() => heard.length > 0, 'the log message on the listener\'s stream')
    t.same(heard.map((n) => n.params.data), ['who called?'], 'two sessions were calling: sent to the one with a log level')
    await slow
    t.same(busyLogs, [], 'the session that set no level heard nothing')
  })
})
