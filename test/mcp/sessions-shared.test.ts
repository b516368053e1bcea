import { randomBytes } from 'node:crypto'
import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { echoFixture, type Gateway, postMcp, startGateway, tempDir, waitFor } from '../helpers.js'
import { LogCapture } from '../auth-helpers.js'

// Issue 20, item 1: instances that share one auth.dataDir and one session key tell each other that a
// client ended a session (DELETE) and which log level it asked for (logging/setLevel), through marker
// files under <dataDir>/sessions/ (docs/deploy/README.md, "Several instances"). Three gateways on
// loopback, raw HTTP, each request sent to the instance the test names (what round robin does).

const KEY = randomBytes(32).toString('base64')
const VERSION = '2025-11-25'

async function instances (t: Test, count: number, sessions: Record<string, unknown> = {}): Promise<{ gateways: Gateway[], dataDir: string }> {
  const dataDir = await tempDir(t, '1mcp-shared-')
  const gateways = await Promise.all(Array.from({ length: count }, () => startGateway(t, {
    config: { mcpServers: { a: echoFixture('a') }, sessions: { key: KEY, ...sessions }, auth: { dataDir } } as never
  })))
  return { gateways, dataDir }
}

/** A backend log message at `level` during a call on `gw`: whether the call's stream carried it to the client. */
async function heard (gw: Gateway, session: string, level: string): Promise<boolean> {
  const text = `said-at-${level}-${randomBytes(3).toString('hex')}`
  const res = await rpc(gw, session, { id: 4, method: 'tools/call', params: { name: 'a_1mcp_log', arguments: { level, text } } })
  if (res.status !== 200 || !res.text.includes('logged')) throw new Error(`the call failed: ${res.status} ${res.text}`)
  return res.text.includes(text)
}

async function rpc (gw: Gateway, session: string, body: Record<string, unknown>): Promise<{ status: number, text: string }> {
  const res = await postMcp(gw.url, { session, body: { jsonrpc: '2.0', ...body }, headers: { 'mcp-protocol-version': VERSION } })
  return { status: res.status, text: await res.text() }
}

async function sessionOn (gw: Gateway): Promise<string> {
  const res = await postMcp(gw.url, { body: { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: VERSION, capabilities: {}, clientInfo: { name: 'raw', version: '1' } } } })
  await res.body?.cancel()
  const session = res.headers.get('mcp-session-id')!
  await rpc(gw, session, { method: 'notifications/initialized' })
  return session
}

const ping = async (gw: Gateway, session: string) => (await rpc(gw, session, { id: 2, method: 'ping' })).status

/** The GET stream of `session` on `gw`; `ended` resolves when the gateway ends it. */
async function listen (t: Test, gw: Gateway, session: string): Promise<{ ended: Promise<void> }> {
  const abort = new AbortController()
  t.teardown(() => abort.abort())
  const res = await fetch(gw.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': session, 'mcp-protocol-version': VERSION }, signal: abort.signal })
  if (res.status !== 200 || !res.body) throw new Error(`GET stream: ${res.status}`)
  const reader = res.body.getReader()
  const ended = (async () => {
    for (;;) if ((await reader.read()).done) return
  })()
  ended.catch(() => {})
  return { ended }
}

t.test('DELETE on one instance ends the session on all three within about a second', async (t) => {
  const { gateways: [a, b, c], dataDir } = await instances(t, 3)
  const session = await sessionOn(a)
  t.equal(await ping(b, session), 200, 'b serves the session (rebuilt from its id)')
  const stream = await listen(t, b, session)
  let streamEndedAt = 0
  void stream.ended.then(() => { streamEndedAt = Date.now() })

  const del = await fetch(a.url, { method: 'DELETE', headers: { 'mcp-session-id': session, 'mcp-protocol-version': VERSION } })
  t.equal(del.status, 200, 'a ends it')
  const deleted = Date.now()
  t.equal(await ping(a, session), 404, 'at once on the instance that got the DELETE')
  await waitFor(async () => await ping(b, session) === 404, 'b to refuse the id', 3000)
  const onB = Date.now() - deleted
  t.equal(await ping(c, session), 404, 'c, which never saw the session, does not rebuild it')
  await waitFor(() => streamEndedAt > 0, 'b to end the GET stream', 3000)
  t.ok(onB < 2500, `b refused the id ${onB} ms after the DELETE`)
  t.ok(streamEndedAt - deleted < 2500, `b's GET stream ended ${streamEndedAt - deleted} ms after the DELETE`)
  const markers = await readdir(join(dataDir, 'sessions', 'ended'))
  t.match(markers, [/^[0-9a-f]{32}\.\d+$/], 'one marker, named by a hash of the id (not the id, which carries the sealed state)')
  t.notOk(markers.some((m) => session.includes(m.split('.')[0])), 'the id itself is not written')

  const other = await sessionOn(b)
  t.equal(await ping(c, other), 200, 'another session is not touched')
})

t.test('logging/setLevel on one instance is the level of the notifications another sends that client', async (t) => {
  const { gateways: [a, b, c] } = await instances(t, 3)
  const session = await sessionOn(a)
  t.equal(await ping(b, session), 200, 'b holds the session before the level is set')
  const set = await rpc(a, session, { id: 3, method: 'logging/setLevel', params: { level: 'warning' } })
  t.equal(set.status, 200)
  for (const [name, gw] of [['b (held the session)', b], ['c (rebuilds it after the level was set)', c]] as const) {
    await waitFor(async () => !await heard(gw, session, 'info'), `${name} to drop an info message`, 3000)
    t.notOk(await heard(gw, session, 'info'), `${name}: an info message below the level is not sent`)
    t.ok(await heard(gw, session, 'error'), `${name}: an error message at or above the level is sent`)
  }
  t.notOk(await heard(a, session, 'debug'), 'and on the instance that got the setLevel')
})

t.test('the level is renewed while the session is used: an instance that rebuilds it later still gets it', async (t) => {
  // a short idle timeout: the level's marker first holds for 1.5 s and is renewed once half of it passed
  const { gateways: [a, b, c], dataDir } = await instances(t, 3, { idleTimeoutMs: 1500 })
  const session = await sessionOn(a)
  t.equal((await rpc(a, session, { id: 3, method: 'logging/setLevel', params: { level: 'error' } })).status, 200)
  const set = Date.now()
  // the client goes on using the session on b, past the first marker's expiry
  const statuses = new Set<number>()
  for (let i = 0; i < 100 && Date.now() - set < 2500; i++) {
    statuses.add(await ping(b, session))
    await new Promise((resolve) => setTimeout(resolve, 150))
  }
  t.same([...statuses], [200], 'b served the session all along')
  const [marker] = await readdir(join(dataDir, 'sessions', 'levels'))
  t.match(marker, /^[0-9a-f]{32}\.\d+\.error$/, 'one level marker')
  t.ok(Number(marker.split('.')[1]) > set + 1500, 'renewed past the first expiry')
  t.notOk(await heard(c, session, 'warning'), 'c, rebuilding the session now, filters at the level set on a, 2.5 s ago')
  t.ok(await heard(c, session, 'error'))
})

t.test('a sessions folder that cannot be written: one warning, and DELETE still ends the session where it lands', async (t) => {
  const dataDir = await tempDir(t, '1mcp-shared-')
  await writeFile(join(dataDir, 'sessions'), 'a file in the folder\'s place')
  const logs = new LogCapture()
  const gw = await startGateway(t, { config: { mcpServers: { a: echoFixture('a') }, sessions: { key: KEY }, auth: { dataDir } } as never, logger: { level: 'warn', stream: logs.stream } })
  const warnings = () => logs.entries.filter((e) => String(e.msg).includes('shared sessions folder cannot be read or written'))
  for (let i = 0; i < 3; i++) {
    const session = await sessionOn(gw)
    t.equal((await rpc(gw, session, { id: 3, method: 'logging/setLevel', params: { level: 'error' } })).status, 200, 'setLevel answers')
    t.equal((await fetch(gw.url, { method: 'DELETE', headers: { 'mcp-session-id': session, 'mcp-protocol-version': VERSION } })).status, 200, 'DELETE answers')
    t.equal(await ping(gw, session), 404, 'and the session is ended here')
  }
  await new Promise((resolve) => setTimeout(resolve, 1200))
  t.equal(warnings().length, 2, 'one warning per folder (ended, levels), not one per call or per rescan')
  t.notOk(logs.lines.some((l) => l.includes('s1.')), 'no session id in the log')
})
