// `npm run call-path`: which of our files one `tools/call` runs code in, from the HTTP request to the
// stdio child and back, measured rather than read off the code: V8's precise coverage (call counts)
// is reset after a warm-up call and taken after one more, so what it lists ran for that call only.
import { Session } from 'node:inspector/promises'
import { fileURLToPath } from 'node:url'
import { buildApp } from '../app.js'

const ROOT = new URL('..', import.meta.url).href
const ECHO = fileURLToPath(new URL('../test/fixtures/echo-server.mjs', import.meta.url))
const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }

interface FunctionCoverage { functionName: string, ranges: Array<{ count: number }> }
interface ScriptCoverage { url: string, functions: FunctionCoverage[] }

const inspector = new Session()
inspector.connect()
await inspector.post('Profiler.enable')
await inspector.post('Profiler.startPreciseCoverage', { callCount: true, detailed: false })

const app = await buildApp({ noAuth: true, logger: false, config: { loadShedding: false, mcpServers: { echo: { command: process.execPath, args: [ECHO] } } } })
await app.listen({ port: 0, host: '127.0.0.1' })
const address = app.server.address()
const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/mcp`

async function post (body: unknown, session?: string): Promise<{ session: string | null, text: string }> {
  const headers = session ? { ...HEADERS, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' } : HEADERS
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) })
  return { session: res.headers.get('mcp-session-id'), text: await res.text() }
}

try {
  const deadline = Date.now() + 10_000
  while (app.backends.get('echo')?.state !== 'ready' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  const init = await post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'call-path', version: '1' } } })
  const session = init.session ?? ''
  await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, session)
  const call = (id: number) => post({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo_1mcp_echo', arguments: { text: 'hi' } } }, session)
  await call(2)
  await inspector.post('Profiler.takePreciseCoverage')
  const answer = await call(3)
  const { result } = await inspector.post('Profiler.takePreciseCoverage') as unknown as { result: ScriptCoverage[] }
  if (!answer.text.includes('echo: hi')) throw new Error(`the call failed: ${answer.text}`)
  const files = result
    .filter((script) => script.url.startsWith(ROOT) && !script.url.includes('/node_modules/') && !script.url.includes('/test/') && !script.url.includes('/scripts/'))
    .map((script) => ({ file: script.url.slice(ROOT.length), ran: script.functions.filter((f) => f.functionName && f.ranges[0].count > 0).map((f) => f.functionName) }))
    .filter(({ ran }) => ran.length > 0)
    .sort((a, b) => a.file.localeCompare(b.file))
  for (const { file, ran } of files) process.stdout.write(`${file.padEnd(32)} ${ran.join(', ')}\n`)
  process.stdout.write(`${files.length} files of ours ran code for one tools/call\n`)
} finally {
  await app.close()
}
