import { spawn } from 'node:child_process'
import { createServer, type IncomingMessage } from 'node:http'
import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js'
import { MCP_HEADERS, STATELESS_VERSION, connect, echoFixture, initializeRequest, postMcp, postStateless, startGateway, tempDir, waitFor } from '../helpers.js'
import { startServe } from '../process-helpers.js'
import { tracingConfigured } from '../../plugins/tracing.js'

const TRACE_ECHO = fileURLToPath(new URL('../fixtures/trace-echo.mjs', import.meta.url))

interface OtlpSpan { traceId: string, spanId: string, parentSpanId?: string, name: string, kind: number, attributes: Array<{ key: string, value: Record<string, unknown> }>, status?: { code?: number } }

/** A real OTLP/HTTP receiver on loopback: it keeps every span the exporter posts (OTLP JSON) and the raw bodies. */
async function otlpReceiver (t: Test) {
  const spans: OtlpSpan[] = []
  const bodies: string[] = []
  const server = createServer((req: IncomingMessage, res) => {
    let body = ''
    req.setEncoding('utf8').on('data', (chunk: string) => { body += chunk }).on('end', () => {
      bodies.push(body)
      if (req.url === '/v1/traces') {
        const message = JSON.parse(body) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }> }
        for (const r of message.resourceSpans) for (const s of r.scopeSpans) spans.push(...s.spans)
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const { port } = server.address() as { port: number }
  return { url: `http://127.0.0.1:${port}`, spans, bodies }
}

/** What the trace-echo fixture's tool answered: the context it was handed. */
function seenIn (text: string): { traceparent: string | null, header: string | null } {
  const result = /"text":"((?:[^"\\]|\\.)*)"/.exec(text)?.[1] ?? '{}'
  return JSON.parse(JSON.parse(`"${result}"`) as string) as { traceparent: string | null, header: string | null }
}

function attr (span: OtlpSpan, key: string): unknown {
  const value = span.attributes.find((a) => a.key === key)?.value
  return value === undefined ? undefined : Object.values(value)[0]
}

t.test('tracing is off unless an OTLP endpoint is set, and OTEL_SDK_DISABLED wins', async (t) => {
  t.equal(tracingConfigured({}), false)
  t.equal(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }), true)
  t.equal(tracingConfigured({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' }), true)
  t.equal(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SDK_DISABLED: 'true' }), false)
  t.equal(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_TRACES_EXPORTER: 'none' }), false)
})

t.test('a tools/call yields the request span and its backend child in the client\'s trace; the backend sees the context', async (t) => {
  const receiver = await otlpReceiver(t)
  const dir = await tempDir(t)
  const configPath = join(dir, 'config.json')
  await writeFile(configPath, JSON.stringify({ mcpServers: { tr: { command: process.execPath, args: [TRACE_ECHO] } } }))
  const gateway = startServe(t, ['--config', configPath, '--port', '0', '--no-auth'], {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_SERVICE_NAME: 'gw-under-test',
    OTEL_BSP_SCHEDULE_DELAY: '50'
  })
  const base = await gateway.base()
  const url = `${base}/mcp`
  const init = await postMcp(url, { body: initializeRequest() })
  const session = init.headers.get('mcp-session-id') ?? ''
  t.ok(session, 'a session')
  await init.text()
  await (await postMcp(url, { session, body: { jsonrpc: '2.0', method: 'notifications/initialized' } })).text()
  await waitFor(async () => {
    const res = await postMcp(url, { session, body: { jsonrpc: '2.0', id: 9, method: 'tools/list' } })
    return (await res.text()).includes('tr_1mcp_seen')
  }, 'the backend tool listed', 20_000)

  const clientTrace = '4bf92f3577b34da6a3ce929d0e0e4736'
  const clientSpan = '00f067aa0ba902b7'
  const bearer = 'Bearer sk-very-secret-token-1234567890'
  const res = await fetch(url, {
    method: 'POST',
    headers: { ...MCP_HEADERS, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25', traceparent: `00-${clientTrace}-${clientSpan}-01`, authorization: bearer },
    body: JSON.stringify({ jsonrpc: '2.0', id: 10, method: 'tools/call', params: { name: 'tr_1mcp_seen', arguments: { secret: 'argument-value-42' } } })
  })
  const text = await res.text()
  const seen = seenIn(text)
  t.match(seen.traceparent, new RegExp(`^00-${clientTrace}-[0-9a-f]{16}-01$`), 'the backend got the client\'s trace id in _meta.traceparent')

  const request = await waitFor(() => receiver.spans.find((s) => attr(s, 'mcp.method.name') === 'tools/call' && s.kind === 2), 'the request span', 15_000) as OtlpSpan
  const backend = await waitFor(() => receiver.spans.find((s) => s.kind === 3 && attr(s, 'mcp.method.name') === 'tools/call'), 'the backend span', 15_000) as OtlpSpan
  t.equal(request.traceId, clientTrace, 'the request span continues the client\'s trace')
  t.equal(request.parentSpanId, clientSpan, 'its parent is the client\'s span')
  t.equal(request.name, 'tools/call tr_1mcp_seen')
  t.equal(attr(request, 'gen_ai.tool.name'), 'tr_1mcp_seen')
  t.equal(attr(request, 'mcp.gateway.backend'), 'tr')
  t.equal(attr(request, 'mcp.session.id'), session.slice(0, 8))
  t.equal(backend.traceId, clientTrace, 'the backend call is in the same trace')
  t.equal(backend.parentSpanId, request.spanId, 'the backend call is a child of the request span')
  t.equal(seen.traceparent, `00-${clientTrace}-${backend.spanId}-01`, 'the backend was handed the backend call span as its parent')
  const all = receiver.bodies.join('\n')
  t.notOk(all.includes('sk-very-secret-token'), 'no span holds the bearer token')
  t.notOk(all.includes('argument-value-42'), 'no span holds an argument value')
  t.ok(all.includes('gw-under-test'), 'OTEL_SERVICE_NAME names the service')
})

t.test('a 2026-07-28 request continues the client\'s trace from the traceparent HTTP header', async (t) => {
  const receiver = await otlpReceiver(t)
  const dir = await tempDir(t)
  const configPath = join(dir, 'config.json')
  await writeFile(configPath, JSON.stringify({ mcpServers: { tr: { command: process.execPath, args: [TRACE_ECHO] } } }))
  const gateway = startServe(t, ['--config', configPath, '--port', '0', '--no-auth'], { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '50' })
  const url = `${await gateway.base()}/mcp`
  const meta = { 'io.modelcontextprotocol/protocolVersion': STATELESS_VERSION, 'io.modelcontextprotocol/clientCapabilities': {} }
  await waitFor(async () => JSON.stringify((await postStateless(url, { id: 1, method: 'tools/list', params: { _meta: meta } })).json).includes('tr_1mcp_seen'), 'the backend tool listed', 20_000)
  const clientTrace = '0af7651916cd43dd8448eb211c80319c'
  const clientSpan = 'b7ad6b7169203331'
  const { json } = await postStateless(url, { id: 2, method: 'tools/call', params: { name: 'tr_1mcp_seen', arguments: {}, _meta: meta } }, { traceparent: `00-${clientTrace}-${clientSpan}-01` })
  t.match(seenIn(JSON.stringify(json)).traceparent, new RegExp(`^00-${clientTrace}-[0-9a-f]{16}-01$`), 'the backend got the client\'s trace id')
  const request = await waitFor(() => receiver.spans.find((s) => attr(s, 'mcp.method.name') === 'tools/call' && s.kind === 2), 'the request span', 15_000) as OtlpSpan
  t.equal(request.traceId, clientTrace, 'the request span continues the client\'s trace')
  t.equal(request.parentSpanId, clientSpan, 'its parent is the client\'s span')
})

t.test('an unknown tool ends the request span with the JSON-RPC error code; _meta.traceparent continues the trace', async (t) => {
  const receiver = await otlpReceiver(t)
  const dir = await tempDir(t)
  const configPath = join(dir, 'config.json')
  await writeFile(configPath, JSON.stringify({ mcpServers: { tr: { command: process.execPath, args: [TRACE_ECHO] } } }))
  const gateway = startServe(t, ['--config', configPath, '--port', '0', '--no-auth'], { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`, OTEL_BSP_SCHEDULE_DELAY: '50' })
  const url = `${await gateway.base()}/mcp`
  const init = await postMcp(url, { body: initializeRequest() })
  const session = init.headers.get('mcp-session-id') ?? ''
  await init.text()
  const clientTrace = 'aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb'
  const res = await postMcp(url, { session, body: { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'nope', _meta: { traceparent: `00-${clientTrace}-cccccccccccccccc-01` } } } })
  t.match(await res.text(), /"error"/)
  const span = await waitFor(() => receiver.spans.find((s) => attr(s, 'mcp.method.name') === 'tools/call'), 'the request span', 15_000) as OtlpSpan
  t.equal(span.traceId, clientTrace)
  t.equal(span.status?.code, 2, 'status ERROR')
  t.match(String(attr(span, 'rpc.response.status_code')), /^-32\d{3}$/, 'the JSON-RPC error code')
})

t.test('a remote backend gets the trace context in the traceparent HTTP header too', async (t) => {
  const receiver = await otlpReceiver(t)
  const remote = spawn(process.execPath, [TRACE_ECHO], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { remote.kill() })
  let out = ''
  remote.stdout.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  const port = await waitFor(() => /listening (\d+)/.exec(out)?.[1], 'the remote backend')
  const dir = await tempDir(t)
  const configPath = join(dir, 'config.json')
  await writeFile(configPath, JSON.stringify({ mcpServers: { far: { type: 'http', url: `http://127.0.0.1:${port}/mcp` } } }))
  const gateway = startServe(t, ['--config', configPath, '--port', '0', '--no-auth'], { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '50' })
  const url = `${await gateway.base()}/mcp`
  const init = await postMcp(url, { body: initializeRequest() })
  const session = init.headers.get('mcp-session-id') ?? ''
  await init.text()
  const clientTrace = '0123456789abcdef0123456789abcdef'
  const text = await waitFor(async () => {
    const res = await postMcp(url, { session, headers: { traceparent: `00-${clientTrace}-0123456789abcdef-01` }, body: { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'far_1mcp_seen', arguments: {} } } })
    const body = await res.text()
    return body.includes('"result"') ? body : undefined
  }, 'the remote tool answered', 20_000)
  const seen = seenIn(text as string)
  t.match(seen.header, new RegExp(`^00-${clientTrace}-[0-9a-f]{16}-01$`), 'the traceparent header continues the client\'s trace')
  t.equal(seen.header, seen.traceparent, 'header and _meta carry the same context')
})

t.test('the token check is a span of the client\'s trace that never holds the token', async (t) => {
  const receiver = await otlpReceiver(t)
  const dir = await tempDir(t)
  const configPath = join(dir, 'config.json')
  await writeFile(configPath, JSON.stringify({ mcpServers: {}, auth: { dataDir: join(dir, 'data') } }))
  const gateway = startServe(t, ['--config', configPath, '--port', '0'], { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '50' })
  const url = `${await gateway.base()}/mcp`
  const clientTrace = 'feedfacefeedfacefeedfacefeedface'
  const res = await postMcp(url, { token: 'sk-wrong-secret-0987654321', headers: { traceparent: `00-${clientTrace}-feedfacefeedface-01` } })
  t.equal(res.status, 401)
  await res.text()
  const span = await waitFor(() => receiver.spans.find((s) => s.name === 'token check'), 'the token check span', 15_000) as OtlpSpan
  t.equal(span.traceId, clientTrace, 'in the client\'s trace')
  t.equal(attr(span, 'mcp.gateway.auth.outcome'), '401')
  t.notOk(receiver.bodies.join('\n').includes('sk-wrong-secret'), 'no span holds the token')
})

t.test('a backend\'s sampling request during a call is a child span of the call', async (t) => {
  const receiver = await otlpReceiver(t)
  const dir = await tempDir(t)
  const configPath = join(dir, 'config.json')
  await writeFile(configPath, JSON.stringify({ mcpServers: { echo: echoFixture('echo') } }))
  const gateway = startServe(t, ['--config', configPath, '--port', '0', '--no-auth'], { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '50' })
  const client = await connect(t, `${await gateway.base()}/mcp`, { sampling: {} })
  client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', content: { type: 'text', text: 'sampled' }, model: 'm' }))
  await waitFor(async () => (await client.listTools()).tools.some((tool) => tool.name === 'echo_1mcp_sample'), 'the backend tools', 20_000)
  const result = await client.callTool({ name: 'echo_1mcp_sample', arguments: { prompt: 'hi' } })
  t.match(JSON.stringify(result), /sampled: sampled/)
  const call = await waitFor(() => receiver.spans.find((s) => s.name === 'tools/call echo_1mcp_sample'), 'the request span', 15_000) as OtlpSpan
  const round = await waitFor(() => receiver.spans.find((s) => s.name === 'sampling/createMessage → client'), 'the client round span', 15_000) as OtlpSpan
  t.equal(round.traceId, call.traceId, 'one trace')
  t.equal(round.parentSpanId, call.spanId, 'the round is a child of the request span')
})

t.test('in process: the gateway built with an OTLP endpoint in its environment traces a call, and its close exports the rest', async (t) => {
  const receiver = await otlpReceiver(t)
  const saved = { ...process.env }
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url
  process.env.OTEL_TRACES_SAMPLER = 'always_on'
  t.teardown(() => { process.env = saved })
  const gw = await startGateway(t, { config: { mcpServers: { echo: echoFixture('echo') } } })
  t.ok(gw.app.tracing, 'tracing is on')
  const client = await connect(t, gw.url)
  const result = await client.callTool({ name: 'echo_1mcp_echo', arguments: { text: 'hi' } })
  t.match(JSON.stringify(result), /echo: hi/)
  await t.rejects(client.callTool({ name: 'echo_1mcp_fail', arguments: {} }).then((r) => { if (r.isError) throw new Error('failed') }))
  await client.close()
  await gw.app.close()
  const names = receiver.spans.map((s) => s.name)
  t.ok(names.includes('tools/call echo_1mcp_echo'), 'the request span was exported by close')
  t.ok(names.some((n) => n.startsWith('tools/call echo → echo')), 'and its backend call')
})
