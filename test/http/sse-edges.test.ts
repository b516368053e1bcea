import t, { type Test } from 'tap'
import { startGateway, waitFor } from '../helpers.js'

// The legacy HTTP+SSE transport with a raw client: what each kind of POST /messages gets back,
// on the HTTP answer and on the stream.

interface Stream { events: Array<{ event: string, data: string }>, close: () => void }

async function openSse (t: Test, url: string): Promise<Stream> {
  const controller = new AbortController()
  const res = await fetch(url, { headers: { accept: 'text/event-stream' }, signal: controller.signal })
  t.equal(res.status, 200)
  const stream: Stream = { events: [], close: () => controller.abort() }
  t.teardown(stream.close)
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }))
      if (done) return
      buffer += value
      let end
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message'
        const data = /^data: (.*)$/m.exec(block)?.[1]
        if (data !== undefined) stream.events.push({ event, data })
      }
    }
  })()
  return stream
}

t.test('legacy SSE: POST /messages answers by kind of message, replies go on the stream', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: {}, externalUrl: 'http://127.0.0.1/gw/' } })
  const post = (path: string, body: string) => fetch(`${gw.base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })

  t.equal((await post('/messages?sessionId=nope', '{}')).status, 404, 'an unknown session')
  t.equal((await post('/messages', '{}')).status, 404, 'no session id at all')
  const badPreset = await fetch(`${gw.base}/sse?preset=nope`, { headers: { accept: 'text/event-stream' } })
  t.equal(badPreset.status, 400, 'a bad filter is refused before the stream opens')

  const stream = await openSse(t, `${gw.base}/sse`)
  const endpoint = (await waitFor(() => stream.events.find((e) => e.event === 'endpoint')?.data, 'the endpoint event'))!
  t.match(endpoint, /^\/gw\/messages\?sessionId=[\w-]+$/, 'the endpoint is under externalUrl\'s path')
  const messages = endpoint.replace(/^\/gw/, '')

  const unparsable = await post(messages, '{ nope')
  t.equal(unparsable.status, 400)
  t.match(await unparsable.json(), { error: { code: -32700 } })
  const early = await post(messages, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }))
  t.equal(early.status, 400, 'a request before initialize')
  t.match(await early.json(), { error: { message: /send initialize first/ } })

  const init = await post(messages, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }))
  t.equal(init.status, 202)
  const initialized = (await waitFor(() => stream.events.find((e) => e.event === 'message' && JSON.parse(e.data).id === 1), 'the initialize result'))!
  t.match(JSON.parse(initialized.data), { result: { protocolVersion: '2024-11-05', serverInfo: { name: '1mcp-gateway' } } })

  t.equal((await post(messages, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }))).status, 202, 'a notification')
  t.equal((await post(messages, JSON.stringify({ jsonrpc: '2.0', id: 'x', result: {} }))).status, 202, 'a response to nothing is accepted and dropped')
  const invalid = await post(messages, JSON.stringify({ jsonrpc: '2.0' }))
  t.equal(invalid.status, 400)
  t.match(await invalid.json(), { error: { message: /not a JSON-RPC 2.0 request, notification or response/ } })

  t.equal((await post(messages, JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }))).status, 202)
  const pong = (await waitFor(() => stream.events.find((e) => e.event === 'message' && JSON.parse(e.data).id === 2), 'the ping result'))!
  t.same(JSON.parse(pong.data), { jsonrpc: '2.0', id: 2, result: {} })
  t.equal((await post(messages, JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'no/such' }))).status, 202)
  const missing = (await waitFor(() => stream.events.find((e) => e.event === 'message' && JSON.parse(e.data).id === 3), 'the error'))!
  t.match(JSON.parse(missing.data), { error: { code: -32601 } })

  stream.close()
  await waitFor(async () => (await post(messages, '{}')).status === 404, 'the session ends with its stream')
  t.equal((await post(messages, '{}')).status, 404, 'the session ended with its stream')
})
