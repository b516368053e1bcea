import { connect as netConnect } from 'node:net'
import t, { type Test } from 'tap'
import { browser } from '../auth-helpers.js'
import { tokenFor } from '../oauth-client.js'
import { type AuthGateway, initializeRequest, postMcp, startGateway } from '../helpers.js'

// Issue 16, item 6: what one client can hold. A request must arrive within `receiveTimeoutMs`
// (a trickled body is cut, no token needed), while responses, SSE streams included, last as long as
// they need; sessions and /sse streams count against the global cap and against a per-client share.

const INITIALIZE = initializeRequest('2025-11-25', 'limits')

/**
 * Sends `head` and then one byte of the announced body every 100 ms, up to 100 bytes (10 s): how many
 * bytes went out before the gateway closed the connection, and what it answered.
 */
function trickle (base: string, head: string): Promise<{ sent: number, answer: string }> {
  const { hostname, port } = new URL(base)
  return new Promise((resolve, reject) => {
    const socket = netConnect(Number(port), hostname)
    let answer = ''
    let sent = 0
    let timer: NodeJS.Timeout | undefined
    socket.on('data', (chunk) => { answer += chunk.toString('latin1') })
    socket.on('error', () => {})
    socket.on('close', () => { clearInterval(timer); resolve({ sent, answer }) })
    socket.on('connect', () => {
      socket.write(head)
      timer = setInterval(() => {
        if (sent >= 100) { clearInterval(timer); socket.destroy(); reject(new Error('the gateway let a trickled body run for 10 s')); return }
        sent++
        socket.write('a')
      }, 100)
    })
  })
}

const headOf = (path: string, type: string, extra = '') => `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${type}\r\nContent-Length: 10000\r\n${extra}\r\n`

/** Reads an SSE response's events into `events` until the test ends. */
function readEvents (t: Test, res: Response): string[] {
  const events: string[] = []
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
  t.teardown(() => reader.cancel().catch(() => {}))
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }))
      if (done) return
      events.push(value ?? '')
    }
  })()
  return events
}

async function until (check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 20))
  if (!check()) throw new Error(`timed out waiting for ${what}`)
}

t.test('a trickled request is cut after receiveTimeoutMs; streams outlive it', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: {}, receiveTimeoutMs: 500 } })
  const { accessToken } = await tokenFor(gw.base, 'trickler')

  for (const [path, type, extra] of [
    ['/token', 'application/x-www-form-urlencoded', ''],
    ['/register', 'application/json', ''],
    ['/mcp', 'application/json', `Accept: application/json, text/event-stream\r\nAuthorization: Bearer ${accessToken}\r\n`]
  ]) {
    const { sent, answer } = await trickle(gw.base, headOf(path, type, extra))
    t.ok(sent < 100, `${path}: the gateway closed the connection (after ${sent} trickled bytes)`)
    t.match(answer, /^HTTP\/1\.1 408/, `${path}: answered 408 Request Timeout`)
  }

  // a legacy SSE stream and a Streamable HTTP GET stream, both open well past the receive timeout
  const auth = { authorization: `Bearer ${accessToken}` }
  const sse = await fetch(`${gw.base}/sse`, { headers: { ...auth, accept: 'text/event-stream' }, signal: AbortSignal.timeout(15_000) })
  t.equal(sse.status, 200)
  const sseEvents = readEvents(t, sse)
  await until(() => sseEvents.join('').includes('sessionId='), 'the endpoint event')
  const endpoint = /data: (\/messages\?sessionId=[\w-]+)/.exec(sseEvents.join(''))![1]
  const init = await postMcp(gw.url, { headers: auth, body: INITIALIZE })
  const session = init.headers.get('mcp-session-id')!
  const standing = await fetch(gw.url, { headers: { ...auth, accept: 'text/event-stream', 'mcp-session-id': session }, signal: AbortSignal.timeout(15_000) })
  t.equal(standing.status, 200)
  readEvents(t, standing)

  // four receive timeouts later (and more checks of the connections than that), both still answer
  await new Promise((resolve) => setTimeout(resolve, 2000))
  const posted = await fetch(`${gw.base}${endpoint}`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(INITIALIZE) })
  t.equal(posted.status, 202, 'the legacy session still takes messages')
  await until(() => sseEvents.join('').includes('"protocolVersion"'), 'the initialize result on the SSE stream')
  t.match(sseEvents.join(''), /"protocolVersion"/, 'the initialize result arrived on the SSE stream opened before the wait')
  const again = await fetch(gw.url, { headers: { ...auth, accept: 'text/event-stream', 'mcp-session-id': session }, signal: AbortSignal.timeout(10_000) })
  t.equal(again.status, 409, 'the GET stream is still open (a second one is refused)')
  await again.body?.cancel()
})

async function initialize (gw: AuthGateway, token: string): Promise<{ status: number, session: string | null, body: Record<string, unknown> }> {
  const res = await postMcp(gw.url, { token, body: INITIALIZE, signal: AbortSignal.timeout(10_000) })
  return { status: res.status, session: res.headers.get('mcp-session-id'), body: await res.json() as Record<string, unknown> }
}

async function openSse (t: Test, gw: AuthGateway, token: string): Promise<Response & { close: () => void }> {
  const controller = new AbortController()
  const res = await fetch(`${gw.base}/sse`, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, signal: controller.signal })
  t.teardown(() => controller.abort())
  if (res.status === 200) readEvents(t, res)
  return Object.assign(res, { close: () => controller.abort() })
}

t.test('one client holds at most its share of sessions and /sse streams (a quarter of sessions.max)', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: {}, sessions: { max: 8 } } })
  const owner = browser()
  const a = await tokenFor(gw.base, 'client A', { owner })
  const b = await tokenFor(gw.base, 'client B', { owner })

  const first = await initialize(gw, a.accessToken)
  const second = await initialize(gw, a.accessToken)
  t.same([first.status, second.status], [200, 200], 'client A opens its share: 2 of 8')
  const third = await initialize(gw, a.accessToken)
  t.equal(third.status, 429, 'a third session of client A is refused')
  t.match(third.body, { id: 1, error: { code: -32003, message: /limit \(sessions\.maxPerClient\) is 2/ } })
  t.equal((await openSse(t, gw, a.accessToken)).status, 429, 'so is an /sse stream of client A')

  t.equal((await initialize(gw, b.accessToken)).status, 200, 'client B (same subject) has a share of its own')
  const stream = await openSse(t, gw, b.accessToken)
  t.equal(stream.status, 200, 'client B opens a stream: its second place')
  const refused = await openSse(t, gw, b.accessToken)
  t.equal(refused.status, 429, 'an /sse stream counts against the share before any initialize')
  t.match(await refused.json(), { message: /maxPerClient/ })

  const ended = await fetch(gw.url, { method: 'DELETE', headers: { authorization: `Bearer ${a.accessToken}`, 'mcp-session-id': first.session! } })
  t.equal(ended.status, 200)
  t.equal((await initialize(gw, a.accessToken)).status, 200, 'a session ended gives its place back')
})

t.test('/sse streams count against sessions.max', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: {}, sessions: { max: 3, maxPerClient: 3 } } })
  const owner = browser()
  const a = await tokenFor(gw.base, 'streams', { owner })
  const b = await tokenFor(gw.base, 'late', { owner })
  const streams = [await openSse(t, gw, a.accessToken), await openSse(t, gw, a.accessToken), await openSse(t, gw, a.accessToken)]
  t.same(streams.map((s) => s.status), [200, 200, 200], 'three streams fill the gateway')
  const full = await initialize(gw, b.accessToken)
  t.equal(full.status, 503, 'the gateway is full: another client\'s session waits')
  t.match(full.body, { error: { code: -32003, message: /limit of 3 sessions/ } })
  t.equal((await openSse(t, gw, b.accessToken)).status, 503, 'and so does another stream')
  streams[0].close()
  await until(() => gw.app.sessions.heldBy(`owner\n${a.clientId}`) === 2, 'the closed stream to give its place back')
  t.equal((await initialize(gw, b.accessToken)).status, 200, 'a closed stream frees its place')
})
