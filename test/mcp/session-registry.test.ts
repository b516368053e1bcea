import t from 'tap'
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js'
import { RpcCode, RpcError } from '../../backends/errors.js'
import { ReplayBuffer, Session, type Channel } from '../../mcp/session.js'
import { SessionRegistry } from '../../mcp/sessions.js'
import { Cancellation } from '../../backends/cancellation.js'

// The session registry's parts without a gateway around them (mcp/session.ts, mcp/sessions.ts): the replay
// buffer's bound, requests to the client and their answers, closing, and draining.

/** A channel that keeps what is sent on it. */
function channel (closed = false): Channel & { sent: JSONRPCMessage[] } {
  return { closed, sent: [], send (message) { this.sent.push(message) } }
}

function session (): Session {
  return new Session('s1', '2025-11-25', { name: 'c', version: '1' }, {}, {}, 10)
}

t.test('the replay buffer keeps the last N events, or none', async (t) => {
  const buffer = new ReplayBuffer(2)
  for (let seq = 1; seq <= 3; seq++) buffer.add('1', seq, { jsonrpc: '2.0', method: `m${seq}` })
  buffer.add('2', 1, { jsonrpc: '2.0', method: 'other stream' })
  t.same(buffer.after('1', 0).map((e) => e.seq), [3], 'the oldest events were let go')
  t.same(buffer.after('2', 0).map((e) => e.seq), [1])
  const none = new ReplayBuffer(0)
  none.add('1', 1, { jsonrpc: '2.0', method: 'm' })
  t.same(none.after('1', 0), [], 'size 0: nothing is kept')
})

t.test('a request to the client is answered with a result, an error, or nothing', async (t) => {
  const s = session()
  const c = channel()
  const signal = new AbortController().signal
  const first = s.requestClient(c, 'roots/list', {}, signal)
  const second = s.requestClient(c, 'sampling/createMessage', { maxTokens: 1 }, signal)
  t.match(c.sent, [{ id: 'gw-1', method: 'roots/list' }, { id: 'gw-2', method: 'sampling/createMessage' }])
  t.equal(s.answer('gw-1', undefined, undefined), true)
  t.same(await first, {}, 'an answer with no result is an empty result')
  t.equal(s.answer('gw-2', undefined, { code: -32042, message: 'no', data: { why: 'test' } }), true)
  await t.rejects(second, { code: -32042, message: 'no', data: { why: 'test' } }, 'the client\'s error, as an RpcError')
  t.equal(s.answer('gw-2', {}, undefined), false, 'an answer nobody waits for')
})

t.test('a request to the client on a closed stream fails at once', async (t) => {
  const s = session()
  const c = channel(true)
  await t.rejects(s.requestClient(c, 'roots/list', {}, new AbortController().signal), { code: RpcCode.InternalError, message: /stream for this call is closed/ })
  t.same(c.sent, [], 'nothing was sent')
})

t.test('closing a session rejects what waits on the client, once', async (t) => {
  const s = session()
  const c = channel()
  const waiting = s.requestClient(c, 'roots/list', {}, new AbortController().signal)
  s.close('bye')
  await t.rejects(waiting, new RpcError(RpcCode.InternalError, 'bye'))
  s.close('again')
  t.ok(s.closed)
})

t.test('drain waits for calls in flight, bounded', async (t) => {
  const registry = new SessionRegistry({ idleTimeoutMs: 60_000, max: 10, replayBufferSize: 0 })
  t.teardown(() => registry.close())
  // drain's own timers are unref'd (a gateway's sockets keep it alive): something must here
  const alive = setInterval(() => {}, 1000)
  t.teardown(() => clearInterval(alive))
  const s = registry.create({ protocolVersion: '2025-11-25', clientCapabilities: {}, scope: {} })
  s.inflight.set(1, { backend: 'b', cancellation: new Cancellation(), channel: channel() })
  setTimeout(() => s.inflight.delete(1), 60)
  await registry.drain(10_000)
  t.equal(s.inflight.size, 0, 'it returned once the call finished')
  s.inflight.set(2, { backend: 'b', cancellation: new Cancellation(), channel: channel() })
  await registry.drain(60)
  t.equal(s.inflight.size, 1, 'a call that never finishes does not hold it past its bound')
})
