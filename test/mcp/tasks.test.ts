import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { Client as StatelessClient, StreamableHTTPClientTransport as ModernTransport } from '@modelcontextprotocol/client'
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { CallToolResultSchema, TaskStatusNotificationSchema, type Task } from '@modelcontextprotocol/sdk/types.js'
import { MAX_TRACKED_TASKS, TaskRegistry, TASKS_EXTENSION } from '../../mcp/tasks.js'
import type { Session } from '../../mcp/session.js'
import { forgeToken } from '../auth-helpers.js'
import { connect, echoFixture, STATELESS_VERSION as VERSION, postStateless, startGateway, waitFor } from '../helpers.js'

const taskBackend = (name: string) => echoFixture(name, { TASKS: '1' })

function text (result: { content?: unknown }): string {
  return ((result.content as Array<{ text?: string }> | undefined) ?? []).map((c) => c.text ?? '').join('')
}

/** Runs a task-augmented tool call with the SDK's own task helpers; returns the task it created and the final result. */
async function runTask (client: Client, name: string, args: Record<string, unknown>, ttl = 60_000): Promise<{ task?: Task, statuses: string[], result?: Record<string, unknown>, error?: Error }> {
  const out: { task?: Task, statuses: string[], result?: Record<string, unknown>, error?: Error } = { statuses: [] }
  const stream = client.experimental.tasks.callToolStream({ name, arguments: args }, CallToolResultSchema, { task: { ttl } })
  for await (const message of stream) {
    if (message.type === 'taskCreated') out.task = message.task
    else if (message.type === 'taskStatus') out.statuses.push(message.task.status)
    else if (message.type === 'result') out.result = message.result as Record<string, unknown>
    else if (message.type === 'error') out.error = message.error
  }
  return out
}

/** A task-augmented call that returns the CreateTaskResult at once (the task keeps running). */
async function startTask (client: Client, name: string, args: Record<string, unknown>, ttl = 60_000): Promise<Task> {
  const created = await client.request({ method: 'tools/call', params: { name, arguments: args, task: { ttl } } }, CallToolResultSchema.passthrough() as never) as { task?: Task }
  if (!created.task) throw new Error(`no task created: ${JSON.stringify(created)}`)
  return created.task
}

async function rpcError (t: Test, promise: Promise<unknown>, code: number, pattern: RegExp, what: string): Promise<void> {
  const err = await promise.then(() => undefined, (e: { code?: number, message?: string }) => e)
  t.ok(err, `${what}: refused`)
  t.equal(err?.code, code, `${what}: code ${code}`)
  t.match(err?.message, pattern, `${what}: message`)
}

/** tasks/get, tasks/list, tasks/cancel of a long task, then a required-task tool and a failing task. */
async function checkLifecycle (t: Test, client: Client, prefix: string, earlier: string): Promise<void> {
  const running = await startTask(client, `${prefix}slow_task`, { ms: 60_000, text: 'long' })
  t.equal(running.status, 'working')
  t.equal((await client.experimental.tasks.getTask(running.taskId)).status, 'working', 'tasks/get is routed by taskId')
  const listed = (await client.experimental.tasks.listTasks()).tasks.map((x) => x.taskId)
  t.ok(listed.includes(running.taskId) && listed.includes(earlier), 'tasks/list has the session\'s tasks')
  const cancelled = await client.experimental.tasks.cancelTask(running.taskId)
  t.equal(cancelled.status, 'cancelled', 'tasks/cancel reached the backend')
  t.equal((await client.experimental.tasks.getTask(running.taskId)).status, 'cancelled')

  const required = await runTask(client, `${prefix}task_only`, { text: 'must' })
  t.equal(text(required.result ?? {}), 'a: must', 'a tool that requires a task runs as one')
  const failed = await runTask(client, `${prefix}fail_task`, {})
  t.ok(failed.statuses.includes('failed') || failed.error, 'a failing task reports its failure')
}

t.test('2025-11-25 tasks through /mcp: created, polled, fetched, listed, cancelled at the backend that holds them', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { a: taskBackend('a'), b: echoFixture('b') } } })
  const client = await connect(t, gw.url)
  t.match(client.getServerCapabilities(), { tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } } }, '/mcp declares tasks: a visible backend does')
  const tool = (await client.listTools()).tools.find((x) => x.name === 'a_1mcp_slow_task')
  t.match(tool, { execution: { taskSupport: 'optional' } }, "the tool's task support passes through")

  const run = await runTask(client, 'a_1mcp_slow_task', { ms: 50, text: 'hello' })
  t.error(run.error)
  t.type(run.task?.taskId, 'string', 'the CreateTaskResult reached the client')
  t.equal(text(run.result ?? {}), 'a: hello', 'tasks/result came from the backend that created the task')

  await checkLifecycle(t, client, 'a_1mcp_', run.task!.taskId)

  const plain = await client.callTool({ name: 'b_1mcp_echo', arguments: { text: 'sync' } })
  t.equal(text(plain as { content?: unknown }), 'b: sync', 'calls without a task are untouched')
})

t.test('/mcp declares no tasks when no visible backend offers them', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { b: echoFixture('b') } } })
  const client = await connect(t, gw.url)
  t.equal(client.getServerCapabilities()?.tasks, undefined)
  await rpcError(t, client.experimental.tasks.getTask('nope'), -32602, /unknown task: nope/, 'tasks/get of an unknown task')
})

t.test('two sessions at once do not see each other\'s tasks', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { a: taskBackend('a') } } })
  for (const url of [gw.url, new URL(`${gw.base}/mcp/a`)]) {
    const tool = url.pathname === '/mcp' ? 'a_1mcp_slow_task' : 'slow_task'
    const alice = await connect(t, url, {}, 'alice')
    const bob = await connect(t, url, {}, 'bob')
    const [aliceTask, bobTask] = await Promise.all([
      startTask(alice, tool, { ms: 60_000, text: 'alice' }),
      startTask(bob, tool, { ms: 60_000, text: 'bob' })
    ])
    t.not(aliceTask.taskId, bobTask.taskId)
    const aliceList = (await alice.experimental.tasks.listTasks()).tasks.map((x) => x.taskId)
    const bobList = (await bob.experimental.tasks.listTasks()).tasks.map((x) => x.taskId)
    t.same(aliceList, [aliceTask.taskId], `${url.pathname}: alice lists only her task (the backend connection is shared)`)
    t.same(bobList, [bobTask.taskId], `${url.pathname}: bob lists only his`)
    await rpcError(t, bob.experimental.tasks.getTask(aliceTask.taskId), -32602, /unknown task/, `${url.pathname}: bob's tasks/get of alice's task`)
    await rpcError(t, bob.experimental.tasks.cancelTask(aliceTask.taskId), -32602, /unknown task/, `${url.pathname}: bob's tasks/cancel of alice's task`)
    await rpcError(t, bob.experimental.tasks.getTaskResult(aliceTask.taskId), -32602, /unknown task/, `${url.pathname}: bob's tasks/result of alice's task`)
    t.equal((await alice.experimental.tasks.getTask(aliceTask.taskId)).status, 'working', `${url.pathname}: alice's task still runs`)
    await alice.experimental.tasks.cancelTask(aliceTask.taskId)
    await bob.experimental.tasks.cancelTask(bobTask.taskId)
  }
})

t.test('a task\'s status notifications reach the session that created it, and only it', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { a: taskBackend('a') } } })
  const alice = await connect(t, gw.url, {}, 'alice')
  const bob = await connect(t, gw.url, {}, 'bob')
  const seen: Record<string, Array<{ taskId: string, status: string }>> = { alice: [], bob: [] }
  alice.setNotificationHandler(TaskStatusNotificationSchema, (n) => { seen.alice.push(n.params) })
  bob.setNotificationHandler(TaskStatusNotificationSchema, (n) => { seen.bob.push(n.params) })
  // both have their standing GET streams open once a notification can reach them
  await waitFor(() => [...gw.app.sessions.all()].every((s) => s.standalone), 'standing streams')

  const task = await startTask(alice, 'a_1mcp_slow_task', { ms: 100, text: 'notify me' })
  await waitFor(() => seen.alice.some((n) => n.taskId === task.taskId && n.status === 'completed'), 'alice\'s completed notification')
  t.same(seen.bob, [], 'bob got nothing of alice\'s task')
  t.equal(text(await alice.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema)), 'a: notify me')
})

t.test('malformed task requests and unknown tasks are refused with -32602', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { a: taskBackend('a') } } })
  const client = await connect(t, new URL(`${gw.base}/mcp/a`))
  const raw = (method: string, params: Record<string, unknown>) => client.request({ method, params } as never, CallToolResultSchema.passthrough() as never)
  await rpcError(t, raw('tasks/get', {}), -32602, /params\.taskId/, 'tasks/get without a taskId')
  await rpcError(t, raw('tasks/result', { taskId: 42 }), -32602, /params\.taskId/, 'tasks/result with a numeric taskId')
  await rpcError(t, raw('tasks/cancel', { taskId: 'no-such-task' }), -32602, /unknown task: no-such-task/, 'tasks/cancel of an unknown task')
  await rpcError(t, raw('tasks/update', { taskId: 'no-such-task', inputResponses: {} }), -32601, /method not found/, 'tasks/update (2026 only) from a 2025 session')
  await rpcError(t, raw('tools/call', { name: 'slow_task', arguments: { ms: 1, text: 'x' }, task: 'soon' }), -32602, /params\.task/, 'a tools/call whose task is not an object')
  await rpcError(t, raw('tools/call', { name: 'slow_task', arguments: { ms: 1, text: 'x' }, task: { ttl: 'long' } }), -32602, /params\.task/, 'a tools/call with a non-numeric ttl')
})

t.test('a task is forgotten after its ttl; a closed session\'s running tasks are cancelled at the backend', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { a: taskBackend('a') } } })
  const client = await connect(t, gw.url)
  const short = await startTask(client, 'a_1mcp_slow_task', { ms: 10, text: 'brief' }, 300)
  t.equal(short.ttl, 300, 'the requested ttl reached the backend')
  const expired = await waitFor(async () => {
    const err = await client.experimental.tasks.getTask(short.taskId).then(() => undefined, (e: Error) => e)
    return err && /unknown task/.test(err.message) ? err : undefined
  }, 'the task to expire')
  t.match(expired, { message: /unknown task/ }, 'the task is forgotten after its ttl')

  const other = await connect(t, gw.url, {}, 'leaver')
  const running = await startTask(other, 'a_1mcp_slow_task', { ms: 60_000, text: 'abandoned' })
  const sessionId = [...gw.app.sessions.all()].find((s) => s.clientInfo?.name === 'leaver')!.id
  gw.app.sessions.delete(sessionId, 'test')
  const backend = gw.app.backends.get('a')!
  const abandoned = await waitFor(async () => {
    const task = await backend.request('tasks/get', { taskId: running.taskId })
    return task.status === 'cancelled' && task
  }, 'the abandoned task to be cancelled')
  t.match(abandoned, { status: 'cancelled' }, 'the backend cancelled the task of the closed session')
})

t.test('tasks/result waits for the task beyond the server\'s requestTimeout', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { a: echoFixture('a', { TASKS: '1' }, { requestTimeout: 300 }) } } })
  const client = await connect(t, gw.url)
  const task = await startTask(client, 'a_1mcp_slow_task', { ms: 1200, text: 'patience' })
  t.equal(text(await client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema, { timeout: 10_000 })), 'a: patience')
  await rpcError(t, client.callTool({ name: 'a_1mcp_slow', arguments: { ms: 1200 } }), -32001, /did not answer within 300 ms/, 'an ordinary call still times out')
})

t.test('"sessionMode": "per-client": each session\'s tasks live on its own connection', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { a: echoFixture('a', { TASKS: '1' }, { sessionMode: 'per-client' }) } } })
  const alice = await connect(t, gw.url, {}, 'alice')
  const bob = await connect(t, gw.url, {}, 'bob')
  const statuses: string[] = []
  alice.setNotificationHandler(TaskStatusNotificationSchema, (n) => { statuses.push(n.params.status) })
  await waitFor(() => [...gw.app.sessions.all()].every((s) => s.standalone), 'standing streams')
  const [mine, his] = await Promise.all([startTask(alice, 'a_1mcp_slow_task', { ms: 100, text: 'own' }), startTask(bob, 'a_1mcp_slow_task', { ms: 60_000, text: 'his' })])
  await waitFor(() => statuses.includes('completed'), 'alice\'s status notification from her own connection')
  t.equal(text(await alice.experimental.tasks.getTaskResult(mine.taskId, CallToolResultSchema)), 'a: own')
  t.same((await bob.experimental.tasks.listTasks()).tasks.map((x) => x.taskId), [his.taskId], 'bob lists his own')
  await rpcError(t, alice.experimental.tasks.getTask(his.taskId), -32602, /unknown task/, 'alice\'s tasks/get of bob\'s task')
})

t.test('the task registry is bounded: past its size the oldest task is forgotten', async (t) => {
  const registry = new TaskRegistry()
  const session = { id: 'one', protocolVersion: '2025-11-25' } as Session
  for (let i = 0; i <= MAX_TRACKED_TASKS; i++) registry.track(session, 'a', true, { taskId: `t${i}`, ttl: 60_000 })
  t.equal(registry.size, MAX_TRACKED_TASKS)
  t.notOk(registry.owns(session, 'a', 't0'), 'the oldest is gone')
  t.ok(registry.owns(session, 'a', `t${MAX_TRACKED_TASKS}`), 'the newest is there')
  t.equal(registry.notified('a', { taskId: 't1', status: 'working' }, undefined), 's:one', 'a status notification finds its owner')
  t.equal(registry.notified('a', { taskId: 't0', status: 'working' }, undefined), undefined, 'a forgotten task has none')
  t.equal(registry.sessionClosed(session).length, MAX_TRACKED_TASKS, 'a closed session\'s running tasks are handed back to cancel')
  t.equal(registry.size, 0)
})

// ---- 2026-07-28: the tasks extension (SEP-2663) ----

const CONFORMANCE_2026 = fileURLToPath(new URL('../fixtures/conformance-server-2026.mjs', import.meta.url))
const tasks2026 = { command: process.execPath, args: [CONFORMANCE_2026] }

/** A raw 2026 request (the SDK client refuses a `resultType: "task"` answer); the JSON-RPC response. */
async function post26 (url: URL, method: string, params: Record<string, unknown>, opts: { token?: string, extension?: boolean } = {}): Promise<{ status: number, result?: Record<string, unknown>, error?: { code: number, message: string } }> {
  const capabilities = opts.extension === false ? {} : { extensions: { [TASKS_EXTENSION]: {} } }
  const { status, json } = await postStateless(url, {
    id: 1,
    method,
    params: { ...params, _meta: { 'io.modelcontextprotocol/protocolVersion': VERSION, 'io.modelcontextprotocol/clientCapabilities': capabilities } }
  }, opts.token ? { authorization: `Bearer ${opts.token}` } : {})
  return { status, ...json as { result?: Record<string, unknown>, error?: { code: number, message: string } } }
}

/** Polls tasks/get until the task reaches `status` (or a terminal one); bounded. */
async function taskReaches (url: URL, taskId: string, status: string, token?: string): Promise<Record<string, unknown>> {
  return await waitFor(async () => {
    const { result } = await post26(url, 'tasks/get', { taskId }, { token })
    return result && (result.status === status || ['completed', 'failed', 'cancelled'].includes(String(result.status))) ? result : undefined
  }, `task ${taskId} to be ${status}`) as Record<string, unknown>
}

async function statelessClient (t: Test, url: URL, extension: boolean): Promise<StatelessClient> {
  const capabilities = extension ? { extensions: { [TASKS_EXTENSION]: {} } } : {}
  const client = new StatelessClient({ name: 'tasks-2026', version: '1.0.0' }, { capabilities: capabilities as never, versionNegotiation: { mode: { pin: VERSION } } })
  await client.connect(new ModernTransport(url))
  t.teardown(() => client.close())
  return client
}

t.test('2026-07-28: the tasks extension is advertised where a backend offers it, and its methods reach that backend', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { c26: tasks2026, b: echoFixture('b') } } })
  const single = new URL(`${gw.base}/mcp/c26`)
  const extensions = (client: StatelessClient) => (client.getServerCapabilities() as { extensions?: Record<string, unknown> } | undefined)?.extensions ?? {}
  t.ok(extensions(await statelessClient(t, single, true))[TASKS_EXTENSION], '/mcp/<server> passes the backend\'s extension on')
  t.ok(extensions(await statelessClient(t, gw.url, true))[TASKS_EXTENSION], '/mcp offers it: a visible backend does')
  t.notOk(extensions(await statelessClient(t, new URL(`${gw.base}/mcp/b`), true))[TASKS_EXTENSION], 'a backend without it does not get it')

  for (const [url, prefix] of [[single, ''], [gw.url, 'c26_1mcp_']] as const) {
    const created = (await post26(url, 'tools/call', { name: `${prefix}slow_compute`, arguments: { seconds: 0.2, label: 'x' } })).result ?? {}
    t.equal(created.resultType, 'task', `${url.pathname}: the flat CreateTaskResult passed through`)
    t.type(created.taskId, 'string')
    const done = await taskReaches(url, String(created.taskId), 'completed')
    t.equal(done.status, 'completed')
    t.equal(text(done.result as { content?: unknown }), 'computed x after 0.2s', `${url.pathname}: tasks/get inlines the result`)

    const asking = (await post26(url, 'tools/call', { name: `${prefix}confirm_delete`, arguments: { filename: 'f.txt' } })).result ?? {}
    const waiting = await taskReaches(url, String(asking.taskId), 'input_required')
    t.same(Object.keys(waiting.inputRequests as object), ['confirm'], `${url.pathname}: the task asks for input`)
    const ack = await post26(url, 'tasks/update', { taskId: asking.taskId, inputResponses: { confirm: { action: 'accept', content: { confirm: true } } } })
    t.match(ack.result, { resultType: 'complete' }, `${url.pathname}: tasks/update reached the backend`)
    t.equal(text((await taskReaches(url, String(asking.taskId), 'completed')).result as { content?: unknown }), 'deleted f.txt')

    const long = (await post26(url, 'tools/call', { name: `${prefix}slow_compute`, arguments: { seconds: 60, label: 'long' } })).result ?? {}
    t.match((await post26(url, 'tasks/cancel', { taskId: long.taskId })).result, { resultType: 'complete' }, `${url.pathname}: tasks/cancel acked`)
    t.equal((await taskReaches(url, String(long.taskId), 'cancelled')).status, 'cancelled')
  }

  const plain = (await post26(single, 'tools/call', { name: 'slow_compute', arguments: { seconds: 0, label: 'sync' } }, { extension: false })).result ?? {}
  t.equal(plain.resultType, 'complete', 'without the extension a task-supporting tool answers at once')
  const gated = await post26(single, 'tasks/get', { taskId: 'whatever' }, { extension: false })
  t.equal(gated.error?.code, -32021, 'tasks/get without the extension: -32021')
  const unknown = await post26(single, 'tasks/get', { taskId: 'no-such-task' })
  t.equal(unknown.error?.code, -32602)
  t.match(unknown.error?.message, /unknown task: no-such-task/)
})

t.test('2026-07-28: one principal cannot reach another\'s tasks', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: { c26: tasks2026 } } })
  const url = new URL(`${gw.base}/mcp/c26`)
  const claims = { iss: gw.base, aud: `${gw.base}/mcp`, client_id: 'c1', scope: 'mcp' }
  const alice = await forgeToken(gw.dataDir, { ...claims, sub: 'alice' })
  const bob = await forgeToken(gw.dataDir, { ...claims, sub: 'bob' })
  const created = (await post26(url, 'tools/call', { name: 'slow_compute', arguments: { seconds: 60, label: 'mine' } }, { token: alice })).result ?? {}
  t.equal(created.resultType, 'task')
  for (const method of ['tasks/get', 'tasks/cancel', 'tasks/update']) {
    const refused = await post26(url, method, { taskId: created.taskId, ...(method === 'tasks/update' ? { inputResponses: {} } : {}) }, { token: bob })
    t.equal(refused.error?.code, -32602, `bob's ${method} of alice's task: -32602`)
  }
  t.equal((await post26(url, 'tasks/get', { taskId: created.taskId }, { token: alice })).result?.status, 'working', 'alice still reaches her task')
  await post26(url, 'tasks/cancel', { taskId: created.taskId }, { token: alice })
})
