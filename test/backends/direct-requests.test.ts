import t from 'tap'
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises'
import type { ChildProcess } from 'node:child_process'
import { Writable } from 'node:stream'
import { ProtocolError, SdkError, SdkErrorCode, type JSONRPCMessage, type Progress, type Transport } from '@modelcontextprotocol/client'
import { DirectRequests } from '../../backends/calls.js'
import { Cancellation } from '../../backends/cancellation.js'
import { backendError } from '../../backends/errors.js'
import { StdioTransport } from '../../backends/stdio-transport.js'
import { InboundQueue } from '../../backends/inbound-queue.js'
import { installInboundPipeline } from '../../backends/inbound-pipeline.js'
import { connect, echoFixture, startGateway, waitFor } from '../helpers.js'

/** An in-memory transport: what is sent is recorded, the test plays the backend with `receive`. */
class FakeTransport implements Transport {
  readonly sent: JSONRPCMessage[] = []
  /** when set, `send` fails with it */
  sendError?: Error
  onclose?: () => void
  onerror?: (error: Error) => void
  onmessage?: (message: JSONRPCMessage) => void
  takeFirst?: (message: JSONRPCMessage) => boolean

  async start (): Promise<void> {}

  send (message: JSONRPCMessage): Promise<void> {
    this.sent.push(message)
    return this.sendError ? Promise.reject(this.sendError) : Promise.resolve()
  }

  async close (): Promise<void> { this.onclose?.() }

  /** a message read from the backend: to `takeFirst` first, as StdioTransport hands it */
  receive (message: object): void { if (!this.takeFirst?.(message as JSONRPCMessage)) this.onmessage?.(message as JSONRPCMessage) }

  /** the sent message at `index`, as the backend would read it */
  at (index: number): { id?: unknown, method?: string, params?: Record<string, unknown> } {
    return this.sent[index] as { id?: unknown, method?: string, params?: Record<string, unknown> }
  }
}

/** DirectRequests, the only stage of the inbound pipeline, installed over a transport that already had its own handlers, which record what reaches them. */
function installed () {
  const transport = new FakeTransport()
  const passedOn: JSONRPCMessage[] = []
  const closes: string[] = []
  transport.onmessage = (message) => { passedOn.push(message) }
  transport.onclose = () => { closes.push('closed') }
  const direct = new DirectRequests(transport)
  installInboundPipeline(transport, { direct })
  return { transport, direct, passedOn, closes }
}

const LATE = 'still pending after 2 s' as const

/** The promise's outcome, or LATE: no test waits without a bound. */
function bounded<T> (promise: Promise<T>): Promise<T | typeof LATE> {
  return Promise.race([promise, sleep(2000, LATE, { ref: false })])
}

/** What a request failed with (undefined when it succeeded), caught at once so no rejection goes unhandled. */
function failure (promise: Promise<unknown>): Promise<unknown> {
  return bounded(promise.then(() => undefined, (err: unknown) => err))
}

/** The parts of an error a client's answer is made of. */
function described (err: unknown) {
  const { code, message, data } = (err ?? {}) as { code?: unknown, message?: unknown, data?: unknown }
  return { sdk: err instanceof SdkError, protocol: err instanceof ProtocolError, code, message, data }
}

const progressOf = (token: unknown, progress: number) => ({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: token, progress, total: 4 } })

t.test('a result resolves its request; what is not a direct request goes on to the previous handler untouched', async (t) => {
  const { transport, direct, passedOn } = installed()
  const call = bounded(direct.request('tools/call', { name: 'echo' }, { timeout: 1000 }))
  const id = transport.at(0).id
  t.equal(typeof id, 'string')
  t.match(id, /^1mcp-/)
  t.strictSame(transport.sent, [{ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo' } }], 'method and params as given, no progress token')
  const foreign = [
    { jsonrpc: '2.0', id: 1, result: { tools: [] } },
    { jsonrpc: '2.0', id: 2, error: { code: -32601, message: 'no' } },
    { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'hi' } },
    { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 1, progress: 1 } },
    { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'client-7', progress: 1 } },
    { jsonrpc: '2.0', id, method: 'roots/list' }
  ]
  for (const message of foreign) transport.receive(message)
  t.equal(passedOn.length, foreign.length, 'every one went on')
  foreign.forEach((message, i) => t.equal(passedOn[i], message, `message ${i} passed on as the same object`))
  t.equal(direct.size, 1, 'none of them settled the request')
  transport.receive({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: 'hi' }] } })
  t.strictSame(await call, { content: [{ type: 'text', text: 'hi' }] })
  t.equal(passedOn.length, foreign.length, 'the answer stopped at the direct requests')
  t.equal(direct.size, 0)
})

t.test('the pipeline: a direct task result arrives as it came; one for the SDK client is carried in a complete result', async (t) => {
  const { transport, direct, passedOn } = installed()
  const call = bounded(direct.request('tools/call', { name: 'slow' }, { timeout: 1000 }))
  const task = { resultType: 'task', task: { taskId: 't1', status: 'working' } }
  transport.receive({ jsonrpc: '2.0', id: transport.at(0).id, result: task })
  t.equal(await call, task, 'the direct answer is the very result the backend sent: never wrapped, never unwrapped')
  transport.receive({ jsonrpc: '2.0', id: 1, result: task })
  t.strictSame(passedOn, [{ jsonrpc: '2.0', id: 1, result: { resultType: 'complete', content: [], 'io.1mcp/taskResult': task } }], 'the SDK client gets a result it accepts, the task inside')
})

t.test('an error response rejects with the SDK ProtocolError, keeping code, message and data', async (t) => {
  const { transport, direct, passedOn } = installed()
  const outcome = failure(direct.request('tools/call', { name: 'nope' }, { timeout: 1000 }))
  transport.receive({ jsonrpc: '2.0', id: transport.at(0).id, error: { code: -32602, message: 'no such tool', data: { tool: 'nope' } } })
  t.strictSame(described(await outcome), { sdk: false, protocol: true, code: -32602, message: 'no such tool', data: { tool: 'nope' } })
  t.equal(passedOn.length, 0)
  t.equal(direct.size, 0)
})

t.test('progress: the token is the request id, progress reaches onprogress only and resets the timeout', async (t) => {
  const { transport, direct, passedOn } = installed()
  const seen: Progress[] = []
  const call = bounded(direct.request('tools/call', { name: 'slow', _meta: { trace: 't-1' } }, { timeout: 400, onprogress: (p) => seen.push(p) }))
  const id = transport.at(0).id
  t.strictSame(transport.at(0).params, { name: 'slow', _meta: { trace: 't-1', progressToken: id } }, 'other _meta keys kept')
  // 4 × 200 ms is twice the timeout: only the resets keep the request alive (each step has 200 ms to spare)
  for (let i = 1; i <= 4; i++) {
    await sleep(200)
    transport.receive(progressOf(id, i))
  }
  t.equal(direct.size, 1, 'still waiting')
  transport.receive({ jsonrpc: '2.0', id, result: { content: [] } })
  t.strictSame(await call, { content: [] }, 'the request succeeded')
  t.strictSame(seen, [1, 2, 3, 4].map((progress) => ({ progress, total: 4 })), 'each progress, without its token')
  t.equal(passedOn.length, 0, 'no progress reached the previous handler')
  t.equal(transport.sent.length, 1, 'nothing was cancelled')
})

t.test('a timeout rejects as the SDK does, tells the backend, and reads as a timeout to clients', async (t) => {
  // the request's timer is unref'd (in the gateway, sockets keep the process alive): something must here
  const alive = setInterval(() => {}, 1000)
  t.teardown(() => clearInterval(alive))
  const { transport, direct, passedOn } = installed()
  const outcome = failure(direct.request('tools/call', {}, { timeout: 150 }))
  const id = transport.at(0).id
  const err = await outcome
  t.match(described(err), { sdk: true, code: SdkErrorCode.RequestTimeout, data: { timeout: 150 } })
  t.strictSame((err as SdkError).data, { timeout: 150 })
  t.equal(transport.sent.length, 2)
  t.match(transport.at(1), { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id } })
  t.equal(direct.size, 0)
  t.equal(backendError('echo', err).message, "backend 'echo' did not answer within 150 ms; the request was cancelled")
  transport.receive({ jsonrpc: '2.0', id, result: {} })
  t.equal(passedOn.length, 0, 'the late answer is swallowed')
})

t.test('a cancelled request rejects with the reason, tells the backend, and reads as a cancellation', async (t) => {
  const { transport, direct } = installed()
  const cancellation = new Cancellation()
  const outcome = failure(direct.request('tools/call', {}, { timeout: 1000, cancellation }))
  const id = transport.at(0).id
  cancellation.abort('why')
  const err = await outcome
  t.match(described(err), { sdk: true, code: SdkErrorCode.RequestTimeout, message: /why/ })
  t.equal((err as SdkError).data, undefined, 'no timeout: it was not one')
  t.equal(transport.sent.length, 2)
  t.match(transport.at(1), { method: 'notifications/cancelled', params: { requestId: id, reason: /why/ } })
  t.equal(direct.size, 0)
  t.equal(backendError('echo', err).message, "backend 'echo': the request was cancelled (why)")
})

t.test('an already cancelled request rejects at once and sends nothing', async (t) => {
  const { transport, direct } = installed()
  const cancellation = new Cancellation()
  cancellation.abort('gone')
  const err = await failure(direct.request('tools/call', {}, { timeout: 1000, cancellation }))
  t.match(described(err), { sdk: true, code: SdkErrorCode.RequestTimeout, message: /gone/ })
  t.equal(transport.sent.length, 0)
  t.equal(direct.size, 0)
  const own = new SdkError(SdkErrorCode.ConnectionClosed, 'the client went away')
  const other = new Cancellation()
  other.abort(own)
  t.equal(await failure(direct.request('tools/call', {}, { timeout: 1000, cancellation: other })), own, 'an SdkError reason is the error itself')
})

t.test('a settled request stops listening to its cancellation', async (t) => {
  const { transport, direct } = installed()
  const cancellation = new Cancellation()
  const call = bounded(direct.request('tools/call', {}, { timeout: 1000, cancellation }))
  transport.receive({ jsonrpc: '2.0', id: transport.at(0).id, result: {} })
  t.strictSame(await call, {})
  cancellation.abort('too late')
  t.equal(transport.sent.length, 1, 'no notifications/cancelled for an answered request')
})

t.test('the transport closing fails every waiting request and still reaches the previous onclose', async (t) => {
  const { transport, direct, passedOn, closes } = installed()
  const first = failure(direct.request('a', undefined, { timeout: 1000 }))
  const second = failure(direct.request('b', undefined, { timeout: 1000 }))
  const ids = [transport.at(0).id, transport.at(1).id]
  transport.onclose?.()
  for (const err of [await first, await second]) t.match(described(err), { sdk: true, code: SdkErrorCode.ConnectionClosed })
  t.strictSame(closes, ['closed'])
  t.equal(direct.size, 0)
  t.equal(transport.sent.length, 2, 'no cancellation sent over a closed connection')
  transport.receive({ jsonrpc: '2.0', id: ids[0], result: {} })
  transport.receive({ jsonrpc: '2.0', id: ids[1], error: { code: -1, message: 'late' } })
  t.equal(passedOn.length, 0, 'late answers for settled ids are swallowed')
})

t.test('a failing send rejects the request with its error and leaves nothing waiting', async (t) => {
  const { transport, direct } = installed()
  transport.sendError = new Error('pipe broken')
  const err = await failure(direct.request('tools/call', {}, { timeout: 50 }))
  t.equal(err, transport.sendError)
  t.equal(direct.size, 0)
  await sleep(120)
  t.equal(transport.sent.length, 1, 'its timer was cleared: no cancellation after the timeout')
})

t.test('size counts the waiting requests, each answer settles its own', async (t) => {
  const { transport, direct } = installed()
  t.equal(direct.size, 0)
  const first = bounded(direct.request('a', undefined, { timeout: 1000 }))
  const second = bounded(direct.request('b', undefined, { timeout: 1000 }))
  t.equal(direct.size, 2)
  const [a, b] = [transport.at(0).id, transport.at(1).id]
  t.not(a, b, 'ids are unique')
  transport.receive({ jsonrpc: '2.0', id: b, result: { from: 'b' } })
  t.equal(direct.size, 1)
  transport.receive({ jsonrpc: '2.0', id: a, result: { from: 'a' } })
  t.equal(direct.size, 0)
  t.strictSame([await first, await second], [{ from: 'a' }, { from: 'b' }])
})

t.test('cancellation: listeners are called once with the reason', async (t) => {
  const cancellation = new Cancellation()
  const calls: unknown[][] = [[], []]
  cancellation.onAbort((reason) => calls[0].push(reason))
  cancellation.onAbort((reason) => calls[1].push(reason))
  t.equal(cancellation.aborted, false)
  cancellation.abort('first')
  cancellation.abort('second')
  t.strictSame(calls, [['first'], ['first']])
  t.equal(cancellation.aborted, true)
  t.equal(cancellation.reason, 'first', 'a second abort changes nothing')
})

t.test('cancellation: onAbort returns what stops listening', async (t) => {
  const cancellation = new Cancellation()
  const calls: string[] = []
  const off = cancellation.onAbort(() => calls.push('removed'))
  cancellation.onAbort(() => calls.push('kept'))
  off()
  off()
  cancellation.abort('r')
  t.strictSame(calls, ['kept'], 'unsubscribing twice removes no other listener')
})

t.test('cancellation: a signal made before the abort follows it, one made after is already aborted', async (t) => {
  const before = new Cancellation()
  const signal = before.signal
  t.equal(before.signal, signal, 'one signal per cancellation')
  const events: unknown[] = []
  signal.addEventListener('abort', () => events.push(signal.reason))
  t.equal(signal.aborted, false)
  before.abort('stop')
  before.abort('again')
  t.equal(signal.aborted, true)
  t.strictSame(events, ['stop'], 'one abort event, with the first reason')
  const after = new Cancellation()
  after.abort('late')
  t.equal(after.signal.aborted, true)
  t.equal(after.signal.reason, 'late')
})

// For each chunk it reads, the child says how many newline-terminated lines it held.
const CHUNK_COUNTER = `process.stdin.on('data', (chunk) => {
  const lines = String(chunk).split('\\n').length - 1
  process.stdout.write(JSON.stringify({ jsonrpc: '2.0', method: 'chunk', params: { lines } }) + '\\n')
})`

const sum = (numbers: number[]) => numbers.reduce((a, b) => a + b, 0)

/** Polls until `done`, at most about 2 s. */
async function until (done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await sleep(10)
}

/**
 * Counts the writes to the child's stdin. The child's reads alone cannot tell one write from five:
 * a pipe joins writes that arrive before the child reads, so the chunk count passes either way.
 */
function countWrites (transport: StdioTransport): () => number {
  const stdin = (transport as unknown as { child?: ChildProcess }).child?.stdin
  if (!stdin) throw new Error('the transport has no child stdin to watch')
  let writes = 0
  const write = stdin.write
  stdin.write = ((...args: unknown[]) => { writes++; return Reflect.apply(write, stdin, args) }) as typeof stdin.write
  return () => writes
}

const notification = (n: number) => ({ jsonrpc: '2.0', method: 'notifications/test', params: { n } }) as JSONRPCMessage

t.test('stdio: the messages sent in one turn reach the child in one write', async (t) => {
  const transport = new StdioTransport({ command: process.execPath, args: ['-e', CHUNK_COUNTER] })
  t.teardown(() => transport.close())
  await transport.start()
  const writes = countWrites(transport)
  const chunks: number[] = []
  transport.onmessage = (message) => { chunks.push((message as { params?: { lines?: number } }).params?.lines ?? 0) }
  await bounded(Promise.all([1, 2, 3, 4, 5].map((n) => transport.send(notification(n)))))
  t.equal(writes(), 1, 'five messages, one write')
  await until(() => sum(chunks) >= 5)
  t.strictSame(chunks, [5], 'one chunk of five lines')
  await bounded(transport.send(notification(6)))
  t.equal(writes(), 2)
  await until(() => sum(chunks) >= 6)
  t.strictSame(chunks, [5, 1], 'a message of a later turn is written on its own')
})

t.test('stdio: send after close rejects', async (t) => {
  const transport = new StdioTransport({ command: process.execPath, args: ['-e', CHUNK_COUNTER] })
  t.teardown(() => transport.close())
  await transport.start()
  await transport.close()
  await t.rejects(transport.send(notification(1)), { message: /stopped by the gateway/ })
})

t.test('stdio: a send queued in the turn the transport closes rejects instead of waiting forever', async (t) => {
  const transport = new StdioTransport({ command: process.execPath, args: ['-e', CHUNK_COUNTER] })
  t.teardown(() => transport.close())
  await transport.start()
  const queued = bounded(transport.send(notification(1)).then(() => 'written', (err: Error) => err.message))
  await transport.close()
  t.equal(await queued, 'stopped by the gateway')
})

t.test('cancellation: a listener added after the abort is called at once; a throwing listener does not stop the others', async (t) => {
  const late = new Cancellation()
  late.abort()
  const reasons: unknown[] = []
  late.onAbort((reason) => reasons.push(reason))
  t.strictSame(reasons, ['cancelled'], 'called at once, with the default reason')
  const c = new Cancellation()
  const ran: string[] = []
  c.onAbort(() => { ran.push('first'); throw new Error('listener broke') })
  c.onAbort(() => ran.push('second'))
  t.throws(() => c.abort('why'), { message: 'listener broke' }, 'the first error reaches the caller')
  t.strictSame(ran, ['first', 'second'], 'after every listener ran')
  t.equal(c.aborted, true)
})

/** A transport whose handler logs each message, and a notification's handling a microtask later (as the SDK's async handlers do). */
function ordered () {
  const transport = new FakeTransport()
  const log: string[] = []
  const errors: string[] = []
  transport.onmessage = (message) => {
    const label = labelOf(message)
    log.push(label)
    if (label === 'throws') throw new Error('handler broke')
    if (!('id' in message)) void Promise.resolve().then(() => log.push(`${label} handled`))
  }
  transport.onclose = () => { log.push('closed') }
  transport.onerror = (err) => { errors.push(err.message) }
  installInboundPipeline(transport, { queue: new InboundQueue() })
  return { transport, log, errors }
}

function labelOf (message: JSONRPCMessage): string {
  const { id, method } = message as { id?: unknown, method?: string }
  if (method === 'throws') return 'throws'
  if (method === undefined) return `response ${id}`
  return id === undefined ? `note ${method}` : `request ${id}`
}

const note = (method: string) => ({ jsonrpc: '2.0', method })
const response = (id: number) => ({ jsonrpc: '2.0', id, result: {} })

t.test('in order: a response after a notification waits until the notification has been handled', async (t) => {
  const { transport, log } = ordered()
  transport.receive(note('a'))
  transport.receive(response(1))
  t.strictSame(log, ['note a'], 'the response waits')
  await nextTurn()
  t.strictSame(log, ['note a', 'note a handled', 'response 1'])
})

t.test('in order: with nothing waiting, responses and requests are delivered at once', async (t) => {
  const { transport, log } = ordered()
  transport.receive(response(1))
  t.strictSame(log, ['response 1'])
  transport.receive({ jsonrpc: '2.0', id: 2, method: 'roots/list' })
  t.strictSame(log, ['response 1', 'request 2'])
  transport.receive(note('a'))
  await until(() => log.includes('note a handled'))
  await nextTurn()
  transport.receive(response(3))
  t.strictSame(log, ['response 1', 'request 2', 'note a', 'note a handled', 'response 3'], 'at once again once the backlog is drained')
})

t.test('in order: mixed messages and the close keep their order', async (t) => {
  const { transport, log } = ordered()
  transport.receive(note('a'))
  transport.receive(response(1))
  transport.receive(note('b'))
  transport.receive(response(2))
  transport.receive({ jsonrpc: '2.0', id: 3, method: 'ping' })
  transport.receive(response(4))
  transport.onclose?.()
  for (let i = 0; i < 50 && !log.includes('closed'); i++) await nextTurn()
  t.strictSame(log, ['note a', 'note a handled', 'response 1', 'note b', 'note b handled', 'response 2', 'request 3', 'response 4', 'closed'])
})

t.test('in order: a handler that throws reports to onerror, and later messages still arrive', async (t) => {
  const { transport, log, errors } = ordered()
  t.doesNotThrow(() => transport.receive({ jsonrpc: '2.0', id: 1, method: 'throws' }))
  t.strictSame(errors, ['handler broke'])
  transport.receive(note('a'))
  transport.receive({ jsonrpc: '2.0', id: 2, method: 'throws' })
  transport.receive(response(3))
  await until(() => log.includes('response 3'))
  t.strictSame(errors, ['handler broke', 'handler broke'], 'a queued message that throws is reported too')
  t.strictSame(log, ['throws', 'note a', 'note a handled', 'throws', 'response 3'])
})

t.test('bounded: a flood pauses the source at maxQueued and resumes it at a quarter; while paused, answers go ahead of log messages', async (t) => {
  const transport = new FakeTransport()
  const log: string[] = []
  transport.onmessage = (message) => {
    log.push(labelOf(message))
    if (!('id' in message)) void Promise.resolve().then(() => {})
  }
  const events: string[] = []
  installInboundPipeline(transport, { queue: new InboundQueue({ maxQueued: 16, pause: () => events.push(`pause at ${log.length}`), resume: () => events.push(`resume at ${log.length}`) }) })
  for (let i = 0; i < 40; i++) transport.receive(note('notifications/message'))
  transport.receive(response(1))
  t.strictSame(events, ['pause at 1'], 'paused once 16 messages wait (the first went on at once)')
  await until(() => log.length === 41)
  t.equal(log.indexOf('response 1'), 1, 'the answer went ahead of the waiting log messages')
  t.strictSame(events, ['pause at 1', 'resume at 36'], 'resumed once a quarter of maxQueued was left (4 of the 40 that waited)')
  transport.receive(note('a'))
  transport.receive(note('notifications/message'))
  transport.receive(response(2))
  await until(() => log.length === 44)
  t.strictSame(log.slice(41), ['note a', 'note notifications/message', 'response 2'], 'unpaused, the order is the backend\'s')
})

t.test('a flood of notifications is handed on within a few turns of the event loop, not one turn each', async (t) => {
  const { transport, log } = ordered()
  for (let i = 0; i < 2000; i++) transport.receive(note('n'))
  transport.receive(response(1))
  let turns = 0
  while (!log.includes('response 1') && turns < 200) { await nextTurn(); turns++ }
  t.ok(log.includes('response 1'), 'the answer after 2,000 notifications is delivered')
  t.ok(turns <= 20, `within ${turns} turns (at most 256 messages a turn)`)
})

t.test('through a gateway: a 2025 stdio backend is told of a cancelled call and of a timed-out one, and its handler stops', async (t) => {
  const lines: Array<{ backend?: string, stderr?: string }> = []
  const stream = new Writable({ write (chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done() } })
  const gw = await startGateway(t, { config: { mcpServers: { a: echoFixture('a', {}, { requestTimeout: 300 }) } }, logger: { level: 'info', stream } })
  const client = await connect(t, gw.url)
  const cancelledLines = () => lines.filter((l) => l.backend === 'a' && /^hang cancelled/.test(l.stderr ?? ''))

  const controller = new AbortController()
  const call = client.callTool({ name: 'a_1mcp_hang', arguments: {} }, undefined, { signal: controller.signal }).catch((e: Error) => e)
  await waitFor(() => gw.app.backends.get('a')!.active === 1, 'the call in flight')
  controller.abort('changed my mind')
  await call
  await waitFor(() => cancelledLines().length === 1, 'the backend handler to see the cancellation')
  t.equal(cancelledLines().length, 1, 'the backend handler saw the client\'s cancellation')

  const timedOut = await client.callTool({ name: 'a_1mcp_hang', arguments: {} }).catch((e: Error & { code?: number }) => e)
  t.match(timedOut, { code: -32001, message: /did not answer within 300 ms/ })
  await waitFor(() => cancelledLines().length === 2, 'the backend handler to see the timeout\'s cancellation')
  t.match(cancelledLines()[1].stderr, /Request timed out/, 'with the reason')
  t.equal(gw.app.backends.get('a')!.active, 0, 'nothing left in flight')
})
