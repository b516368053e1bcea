import t from 'tap'
import { ProtocolError, SdkError, SdkErrorCode } from '@modelcontextprotocol/client'
import { backendError, RpcCode, RpcError } from '../../backends/errors.js'
import { InFlightLimit } from '../../backends/limit.js'
import { connectionFingerprint, redactError, transportKind } from '../../backends/backend.js'
import { LineReader } from '../../backends/stdio-line-reader.js'
import { restartDelay, restartPolicy } from '../../backends/restart.js'

t.test('a backend failure keeps its code, message and data, tagged with the backend', async (t) => {
  const own = new RpcError(RpcCode.InvalidParams, 'bad')
  t.equal(backendError('a', own), own, 'an RpcError passes through')
  t.same(backendError('a', new SdkError(SdkErrorCode.ConnectionClosed, 'Connection closed')).toJSON(), { code: RpcCode.BackendUnavailable, message: "backend 'a' is unavailable: connection closed", data: { backend: 'a' } })
  t.match(backendError('a', new SdkError(SdkErrorCode.ConnectionClosed, 'Connection closed'), 'it crashed').message, /unavailable: it crashed$/)
  t.same(backendError('a', new SdkError(SdkErrorCode.RequestTimeout, 'timed out', { timeout: 50 })).toJSON(), { code: RpcCode.RequestTimeout, message: "backend 'a' did not answer within 50 ms; the request was cancelled", data: { backend: 'a', timeout: 50 } })
  t.equal(backendError('a', new SdkError(SdkErrorCode.RequestTimeout, 'the client closed the connection')).message, "backend 'a': the request was cancelled (the client closed the connection)", 'an abort is not a timeout')
  t.same(backendError('a', new ProtocolError(-32602, 'no such tool', { tool: 'x' })).toJSON(), { code: -32602, message: 'no such tool', data: { tool: 'x', backend: 'a' } })
  t.same(backendError('a', new ProtocolError(-32602, 'bad')).toJSON().data, { backend: 'a' })
  t.same(backendError('a', new ProtocolError(-32602, 'bad', [1, 2])).toJSON().data, { backend: 'a', backendData: [1, 2] })
  t.same(backendError('a', new ProtocolError(-32602, 'bad', null)).toJSON().data, { backend: 'a', backendData: null })
  t.same(backendError('a', new Error('boom')).toJSON(), { code: RpcCode.InternalError, message: "backend 'a' failed: boom", data: { backend: 'a' } })
  t.match(backendError('a', 'a string').message, /failed: a string$/)
  t.same(new RpcError(1, 'm').toJSON(), { code: 1, message: 'm' }, 'no data, no data key')
})

t.test('the in-flight limit queues up to its bound, refuses past it, and drops a cancelled waiter', async (t) => {
  const limit = new InFlightLimit(1, 'b', 1)
  await limit.acquire()
  const controller = new AbortController()
  const queued = limit.acquire(controller.signal)
  t.equal(limit.queued, 1)
  await t.rejects(limit.acquire(), { code: RpcCode.Overloaded, message: /overloaded: 1 calls in flight and 1 queued/ })
  controller.abort()
  await t.rejects(queued, { code: RpcCode.RequestTimeout, message: 'cancelled while queued' })
  t.equal(limit.queued, 0)
  const next = limit.acquire()
  limit.release()
  await next
  t.equal(limit.active, 1, 'a released slot goes to the next waiter')
  limit.release()
  t.equal(limit.active, 0)
})

t.test('transport kinds, connection fingerprints, restart delays and redaction', async (t) => {
  t.equal(transportKind({ command: 'node' }), 'stdio')
  t.equal(transportKind({ url: 'http://127.0.0.1:1/mcp' }), 'streamable-http')
  t.equal(transportKind({ url: 'http://127.0.0.1:1/mcp', type: 'streamableHttp' }), 'streamable-http')
  t.equal(transportKind({ command: 'node', type: 'stdio' }), 'stdio')
  t.equal(transportKind({ url: 'http://127.0.0.1:1/sse', type: 'sse' }), 'sse')
  t.equal(connectionFingerprint({ url: 'http://x/mcp', type: 'http' }), connectionFingerprint({ url: 'http://x/mcp', type: 'streamable-http' }), 'spellings of one transport are one connection')
  t.not(connectionFingerprint({ command: 'node', args: ['a'] }), connectionFingerprint({ command: 'node', args: ['b'] }))
  t.equal(connectionFingerprint({ command: 'node', tags: ['x'] }), connectionFingerprint({ command: 'node', tags: ['y'] }), 'tags do not touch the connection')
  const policy = restartPolicy({ initialDelayMs: 100, maxDelayMs: 1000 })
  t.ok(restartDelay(0, policy, () => 0.5) >= 50)
  t.ok(restartDelay(20, policy, () => 1) <= 1000 * 1.5, 'the delay is capped')
  t.equal(redactError('connect to https://user:secret@host/x failed'), 'connect to https://***@host/x failed')
  t.equal(redactError("cannot open '/home/me/project/server.js'"), "cannot open '…/server.js'")
})

t.test('the stdio line reader: messages split across chunks, CRLF, lines that are not JSON-RPC, a bound on size', async (t) => {
  const reader = new LineReader(() => 64)
  const bad: string[] = []
  const onBad = (line: string, reason: string) => bad.push(`${reason}: ${line}`)
  t.same(reader.read(Buffer.from('{"jsonrpc":"2.0","id":1,"res'), onBad), [], 'half a message waits for the rest')
  t.same(reader.read(Buffer.from('ult":{}}\r\n{"jsonrpc":"2.0","method":"n"}\n'), onBad), [
    { jsonrpc: '2.0', id: 1, result: {} },
    { jsonrpc: '2.0', method: 'n' }
  ])
  t.same(reader.read(Buffer.from('starting up...\n[1]\n{"id":2,"result":{}}\n{"jsonrpc":"2.0","id":{},"result":1}\n\n'), onBad), [])
  t.same(bad, [
    'not JSON: starting up...',
    'not a JSON object: [1]',
    'not JSON-RPC 2.0: {"id":2,"result":{}}',
    'neither a request, a notification nor a response: {"jsonrpc":"2.0","id":{},"result":1}'
  ], 'each bad line is reported with why')
  const oversized: number[] = []
  const onOversized = (limit: number) => oversized.push(limit)
  t.same(reader.read(Buffer.alloc(40, 'x'), onBad, onOversized), [])
  t.same(reader.read(Buffer.alloc(40, 'x'), onBad, onOversized), [], 'a line over the limit is skipped')
  t.same(oversized, [64], 'and reported as soon as it is known to be too long')
  t.same(reader.read(Buffer.alloc(1000, 'x'), onBad, onOversized), [], 'up to its newline')
  t.same(reader.read(Buffer.from('xxx\n{"jsonrpc":"2.0","method":"after"}\n'), onBad, onOversized), [{ jsonrpc: '2.0', method: 'after' }], 'where reading resynchronises')
  t.same(reader.read(Buffer.from(`{"jsonrpc":"2.0","method":"${'y'.repeat(64)}"}\n{"jsonrpc":"2.0","method":"next"}\n`), onBad, onOversized), [{ jsonrpc: '2.0', method: 'next' }], 'a whole line over the limit in one chunk is skipped too')
  t.same(oversized, [64, 64], 'once per line')
  t.equal(bad.length, 4, 'no skipped byte is reported as a bad line')
})
