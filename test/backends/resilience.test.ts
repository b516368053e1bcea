import t from 'tap'
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js'
import { alive, connect, echoFixture, settle, startGateway, waitFor } from '../helpers.js'

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
  t.notOk(alive(pid), 'the process that stopped answering was killed')
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

t.test('resource subscriptions survive a backend restart: the new process is asked again', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { r: echoFixture('r', {}, { restart: { initialDelayMs: 20 } }) } } })
  const client = await connect(t, gw.url)
  const updates: string[] = []
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, async (n) => { updates.push(n.params.uri) })
  await client.subscribeResource({ uri: 'fixture://hello' })
  const backend = gw.app.backends.get('r')!
  const before = backend.pid
  backend.kill('SIGKILL')
  await waitFor(() => backend.state === 'ready' && backend.pid !== before, 'the backend to come back')
  const touched = await waitFor(async () => {
    const result = await client.callTool({ name: 'r_1mcp_touch', arguments: { uri: 'fixture://hello' } }).catch(() => undefined)
    return (result?.content as Array<{ text: string }> | undefined)?.[0]?.text === 'notified' ? result : undefined
  }, 'the restarted backend to hold the subscription again')
  t.ok(touched, 'the new process was subscribed')
  await waitFor(() => updates.includes('fixture://hello'), 'the update to reach the subscriber')
  t.ok(updates.includes('fixture://hello'), 'the subscriber got the update from the restarted backend')
})
