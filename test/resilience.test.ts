import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { alive, connect, echoFixture, settle, startGateway, waitFor } from './helpers.js'

const HTTP_ECHO = fileURLToPath(new URL('./fixtures/http-echo.mjs', import.meta.url))

/** Starts the remote fixture on `port` (0: any); resolves with the child and its port. */
async function startRemote (t: Test, port = 0): Promise<{ child: ChildProcess, port: number }> {
  const child = spawn(process.execPath, [HTTP_ECHO], { env: { ...process.env, PORT: String(port), FIXTURE_NAME: 'remote' }, stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { child.kill('SIGKILL') })
  let out = ''
  child.stdout!.on('data', (chunk) => { out += chunk })
  const chosen = await waitFor(() => /listening (\d+)/.exec(out)?.[1], 'the remote fixture to listen')
  return { child, port: Number(chosen) }
}

t.test('a backend SIGKILLed mid-call: the call fails at once naming it, the next call succeeds', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { alpha: echoFixture('alpha'), beta: echoFixture('beta') } } })
  const client = await connect(t, gw.url)
  const backend = gw.app.backends.get('alpha')!
  const pid = backend.pid!
  const call = client.callTool({ name: 'alpha_1mcp_hang', arguments: {} }).catch((err) => err)
  await waitFor(() => backend.active === 1, 'the call to be in flight')
  backend.kill('SIGKILL')
  const err = await call
  t.equal(err.code, -32000)
  t.match(err.message, /backend 'alpha' is unavailable: process killed by SIGKILL/)
  t.notOk(alive(pid))
  const other = await client.callTool({ name: 'beta_1mcp_echo', arguments: { text: 'fine' } })
  t.same(other.content, [{ type: 'text', text: 'beta: fine' }], 'other backends keep serving')
  await waitFor(() => backend.state === 'ready' && gw.app.backends.get('alpha') === backend, 'alpha to be restarted')
  await settle(gw.app)
  const again = await client.callTool({ name: 'alpha_1mcp_echo', arguments: { text: 'back' } })
  t.same(again.content, [{ type: 'text', text: 'alpha: back' }])
  t.equal(backend.restarts, 1)
  const health = await (await fetch(`${gw.base}/health`)).json()
  const alpha = health.backends.find((b: { name: string }) => b.name === 'alpha')
  t.equal(alpha.restarts, 1)
  t.match(alpha.lastError, /SIGKILL/)
})

t.test('a backend that never answers: the call times out with a clear error', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { slow: echoFixture('slow', {}, { requestTimeout: 300 }) } } })
  const client = await connect(t, gw.url)
  const err = await client.callTool({ name: 'slow_1mcp_hang', arguments: {} }).catch((e) => e)
  t.equal(err.code, -32001)
  t.match(err.message, /backend 'slow' did not answer within 300 ms; the request was cancelled/)
  t.equal(gw.app.backends.get('slow')!.active, 0, 'nothing left in flight')
  const progress: number[] = []
  const result = await client.callTool({ name: 'slow_1mcp_slow', arguments: { ms: 600, steps: 6 } }, undefined, {
    onprogress: (p) => { progress.push(p.progress) }
  })
  t.same(result.content, [{ type: 'text', text: 'slow: waited 600 ms' }], 'progress resets the timeout')
  t.same(progress, [1, 2, 3, 4, 5, 6])
})

t.test('a backend that stops answering pings is restarted', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { sleepy: echoFixture('sleepy', {}, { pingInterval: 150 }) } } })
  const backend = gw.app.backends.get('sleepy')!
  const pid = backend.pid!
  process.kill(pid, 'SIGSTOP')
  t.teardown(() => { try { process.kill(pid, 'SIGKILL') } catch {} })
  await waitFor(() => backend.restarts >= 1 && backend.state === 'ready', 'the restart', 15_000)
  t.not(backend.pid, pid)
  t.match(backend.lastError, /did not answer ping/)
  await waitFor(() => !alive(pid), 'the stopped process to be killed')
})

t.test('a backend that crash-loops is parked while the others serve', async (t) => {
  const gw = await startGateway(t, {
    config: {
      mcpServers: {
        good: echoFixture('good'),
        loop: echoFixture('loop', {}, { restart: { maxRetries: 3, initialDelayMs: 20, maxDelayMs: 40 } })
      }
    }
  })
  const loop = gw.app.backends.get('loop')!
  for (let i = 0; i < 10 && loop.state !== 'crash-loop'; i++) {
    await waitFor(() => loop.state === 'ready' || loop.state === 'crash-loop', 'loop to be up or parked')
    if (loop.state === 'ready') loop.kill('SIGKILL')
    await waitFor(() => loop.state !== 'ready', 'loop to go down')
  }
  // with each start killed, the counter never resets: four failures park it
  t.equal(loop.state, 'crash-loop')
  const client = await connect(t, gw.url)
  const result = await client.callTool({ name: 'good_1mcp_echo', arguments: { text: 'ok' } })
  t.same(result.content, [{ type: 'text', text: 'good: ok' }])
  const health = await (await fetch(`${gw.base}/health`)).json()
  t.equal(health.status, 'degraded')
  t.equal(health.backends.find((b: { name: string }) => b.name === 'loop').state, 'crash-loop')
})

t.test('a remote backend that goes away and comes back', async (t) => {
  const first = await startRemote(t)
  const gw = await startGateway(t, {
    config: { mcpServers: { remote: { url: `http://127.0.0.1:${first.port}/mcp`, pingInterval: 200, restart: { initialDelayMs: 50, maxDelayMs: 200 } } } }
  })
  const backend = gw.app.backends.get('remote')!
  t.equal(backend.state, 'ready')
  t.equal(backend.transportName, 'streamable-http')
  const client = await connect(t, gw.url)
  const ok = await client.callTool({ name: 'remote_1mcp_echo', arguments: { text: 'one' } })
  t.same(ok.content, [{ type: 'text', text: 'remote: one' }])

  first.child.kill('SIGKILL')
  await new Promise((resolve) => first.child.once('exit', resolve))
  const down = await client.callTool({ name: 'remote_1mcp_echo', arguments: { text: 'two' } }).catch((e) => e)
  t.match(String(down?.message ?? JSON.stringify(down)), /backend 'remote'/, 'a call while it is down fails naming the backend')
  await waitFor(() => backend.state !== 'ready', 'the gateway to notice')

  await startRemote(t, first.port)
  await waitFor(() => backend.state === 'ready', 'the reconnect', 15_000)
  const back = await client.callTool({ name: 'remote_1mcp_echo', arguments: { text: 'three' } })
  t.same(back.content, [{ type: 'text', text: 'remote: three' }])
})

t.test('an expired remote session is re-established; read-only calls are retried once', async (t) => {
  const first = await startRemote(t)
  const gw = await startGateway(t, {
    config: { mcpServers: { remote: { url: `http://127.0.0.1:${first.port}/mcp`, pingInterval: 0, restart: { initialDelayMs: 20, maxDelayMs: 50 } } } }
  })
  const client = await connect(t, gw.url)
  // restart the server quickly: the backend session the gateway holds is now unknown to it (404)
  first.child.kill('SIGKILL')
  await new Promise((resolve) => first.child.once('exit', resolve))
  const second = await startRemote(t, first.port)
  const peek = await client.callTool({ name: 'remote_1mcp_peek', arguments: {} })
  t.same(peek.content, [{ type: 'text', text: 'remote: peeked' }], 'a readOnlyHint tool is retried after the reconnect')
  second.child.kill('SIGKILL')
  await new Promise((resolve) => second.child.once('exit', resolve))
  await startRemote(t, first.port)
  const echo = await client.callTool({ name: 'remote_1mcp_echo', arguments: { text: 'x' } }).catch((e) => e)
  t.ok(echo instanceof Error, 'a tool without readOnly/idempotent hints is not sent twice')
  await waitFor(() => gw.app.backends.get('remote')!.state === 'ready', 'the reconnect')
  const after = await client.callTool({ name: 'remote_1mcp_echo', arguments: { text: 'y' } })
  t.same(after.content, [{ type: 'text', text: 'remote: y' }])
})

t.test('200 concurrent calls over 3 backends with one killed midway: every call returns', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { a: echoFixture('a'), b: echoFixture('b'), c: echoFixture('c') } } })
  const clients = await Promise.all([0, 1, 2, 3].map((i) => connect(t, gw.url, {}, `client-${i}`)))
  const names = ['a', 'b', 'c']
  const calls = Array.from({ length: 200 }, (_v, i) => {
    const backend = names[i % 3]
    return clients[i % 4].callTool({ name: `${backend}_1mcp_slow`, arguments: { ms: 400, steps: 2 } })
      .then(() => ({ backend, ok: true, message: '' }), (err: Error) => ({ backend, ok: false, message: err.message }))
  })
  await waitFor(() => gw.app.backends.get('b')!.active > 0, 'calls in flight at b')
  await new Promise((resolve) => setTimeout(resolve, 100))
  gw.app.backends.get('b')!.kill('SIGKILL')
  const guard = new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error('a call hung')), 20_000).unref())
  const outcomes = await Promise.race([Promise.all(calls), guard])
  t.equal(outcomes.length, 200)
  const failed = outcomes.filter((o) => !o.ok)
  t.ok(failed.length > 0, 'calls to the killed backend failed')
  for (const f of failed) {
    t.equal(f.backend, 'b', 'only calls to the killed backend fail')
    t.match(f.message, /backend 'b' is unavailable/)
  }
  t.ok(outcomes.filter((o) => o.ok && o.backend !== 'b').length === outcomes.filter((o) => o.backend !== 'b').length, 'every call to a and c succeeded')
})

t.test('calls in flight per backend are capped, with a bounded queue', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { one: echoFixture('one', {}, { maxInFlight: 1 }) } } })
  const client = await connect(t, gw.url)
  const calls = Array.from({ length: 8 }, () => client.callTool({ name: 'one_1mcp_slow', arguments: { ms: 200, steps: 1 } }).then(() => 'ok', (e) => e.message))
  const outcomes = await Promise.all(calls)
  const overloaded = outcomes.filter((o) => /backend 'one' is overloaded/.test(o))
  t.equal(overloaded.length, 3, '1 in flight + 4 queued; the rest are refused at once')
  t.equal(outcomes.filter((o) => o === 'ok').length, 5)
})

t.test('rate limits: 429 with Retry-After per client', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: {}, rateLimit: { max: 3, timeWindowMs: 60_000 } } })
  const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }
  const statuses: number[] = []
  let last: Response | undefined
  for (let i = 0; i < 4; i++) {
    last = await fetch(gw.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify(init) })
    statuses.push(last.status)
  }
  t.same(statuses, [200, 200, 200, 429])
  t.ok(Number(last!.headers.get('retry-after')) > 0)
  t.match((await last!.json()).error.message, /Too Many Requests/)
  const health = await fetch(`${gw.base}/health`)
  t.equal(health.status, 200, '/health is not rate-limited')
})

t.test('load shedding: 503 with Retry-After while the event loop lags', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: {}, loadShedding: { maxEventLoopDelayMs: 50, retryAfterSeconds: 7 } } })
  await new Promise((resolve) => setTimeout(resolve, 150))
  const until = Date.now() + 1200
  while (Date.now() < until) { /* block the event loop on purpose */ }
  await new Promise((resolve) => setTimeout(resolve, 0))
  const res = await gw.app.inject({ method: 'POST', url: '/mcp', payload: {}, headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' } })
  t.equal(res.statusCode, 503)
  t.equal(res.headers['retry-after'], '7')
  const live = await gw.app.inject({ url: '/health/live' })
  t.equal(live.statusCode, 200, 'health answers under pressure')
})

t.test('idle sessions expire', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { a: echoFixture('a') }, sessions: { idleTimeoutMs: 200 } } })
  const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }
  const res = await fetch(gw.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify(init) })
  const id = res.headers.get('mcp-session-id')!
  t.equal(gw.app.sessions.size, 1)
  await waitFor(() => gw.app.sessions.size === 0, 'the idle session to expire')
  const after = await fetch(gw.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': id }, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }) })
  t.equal(after.status, 404)
})
