import t, { type Test } from 'tap'
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { CallToolResultSchema, TaskStatusNotificationSchema, type Task } from '@modelcontextprotocol/sdk/types.js'
import { connect, echoFixture, startGateway, waitFor } from './helpers.js'

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
  await rpcError(t, raw('tools/call', { name: 'slow_task', arguments: { ms: 1, text: 'x' }, task: 'soon' }), -32602, /params\.task/, 'a tools/call whose task is not an object')
  await rpcError(t, raw('tools/call', { name: 'slow_task', arguments: { ms: 1, text: 'x' }, task: { ttl: 'long' } }), -32602, /params\.task/, 'a tools/call with a non-numeric ttl')
})

t.test('a task is forgotten after its ttl; a closed session\'s running tasks are cancelled at the backend', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { a: taskBackend('a') } } })
  const client = await connect(t, gw.url)
  const short = await startTask(client, 'a_1mcp_slow_task', { ms: 10, text: 'brief' }, 300)
  t.equal(short.ttl, 300, 'the requested ttl reached the backend')
  await waitFor(async () => {
    const err = await client.experimental.tasks.getTask(short.taskId).then(() => undefined, (e: Error) => e)
    return err && /unknown task/.test(err.message)
  }, 'the task to expire')

  const other = await connect(t, gw.url, {}, 'leaver')
  const running = await startTask(other, 'a_1mcp_slow_task', { ms: 60_000, text: 'abandoned' })
  const sessionId = [...gw.app.sessions.all()].find((s) => s.clientInfo?.name === 'leaver')!.id
  gw.app.sessions.delete(sessionId, 'test')
  const backend = gw.app.backends.get('a')!
  await waitFor(async () => (await backend.request('tasks/get', { taskId: running.taskId })).status === 'cancelled', 'the abandoned task to be cancelled')
  t.pass('the backend cancelled the task of the closed session')
})
