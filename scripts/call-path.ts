// `npm run call-path` (`-- --json` for the test): the call path of one `tools/call` from the route to the
// stdio child and back, measured rather than read off the code, as the files of ours on its chain of calls.
//
// The request: the stack when the call is written to the child's stdin (its pipe's write), stitched with
// the stack where each async step it continues was started (async_hooks `init`), from the route handler
// Fastify calls. The answer: the stacks from the child's answer arriving on stdout (StdioTransport.onData)
// to the response written to the client (ServerResponse.end): the code each promise settles in as the
// result climbs back up the awaits. What only runs beside the call (hooks, metrics, logs) is on neither.
// The secondary line counts every file V8's precise coverage saw run code for the call (hooks included).
import { createHook, executionAsyncId } from 'node:async_hooks'
import { ServerResponse } from 'node:http'
import { Socket } from 'node:net'
import { Session } from 'node:inspector/promises'
import { fileURLToPath } from 'node:url'
import { buildApp } from '../app.js'
import { StdioTransport } from '../backends/stdio-transport.js'

Error.stackTraceLimit = Infinity
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const ECHO = fileURLToPath(new URL('../test/fixtures/echo-server.mjs', import.meta.url))
const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
const MARK = 'measured-call'
/** the frame in Fastify that calls a route's handler: the request's chain starts after it */
const HANDLER_CALLER = '/fastify/lib/handle-request.js'

interface Frame { fn: string, file: string, async: boolean }
interface Step { file: string, functions: string[] }

function stackNow (): string {
  const holder: { stack?: string } = {}
  Error.captureStackTrace(holder, stackNow)
  return holder.stack ?? ''
}

/** The frames of a stack, innermost first. */
function frames (stack: string): Frame[] {
  const found: Frame[] = []
  for (const line of stack.split('\n')) {
    const match = /^\s*at (async )?(?:(.*?) \()?(.*?):\d+:\d+\)?$/.exec(line)
    if (match) found.push({ async: match[1] !== undefined, fn: match[2] ?? '<anonymous>', file: match[3].replace(/^file:\/\//, '') })
  }
  return found
}

function ours (frame: Frame): boolean {
  const file = frame.file
  return file.startsWith(ROOT) && !file.includes('/node_modules/') && !file.startsWith(`${ROOT}scripts/`) && !file.startsWith(`${ROOT}test/`)
}

/** The distinct files of ours in `chain` (outermost first), in the order the call reaches them, each with its functions. */
function steps (chain: Frame[]): Step[] {
  const byFile = new Map<string, Step>()
  for (const frame of chain.filter(ours)) {
    const file = frame.file.slice(ROOT.length)
    const step = byFile.get(file) ?? { file, functions: [] }
    if (!step.functions.includes(frame.fn)) step.functions.push(frame.fn)
    byFile.set(file, step)
  }
  return [...byFile.values()]
}

// where each async resource (a promise, an I/O callback) was created, and in which async context
const created = new Map<number, { stack: string, context: number }>()
let requestChain: Frame[] | undefined
let answerStacks: string[] | undefined
let answerChain: Frame[] | undefined
const hook = createHook({
  init (asyncId) {
    const stack = stackNow()
    created.set(asyncId, { stack, context: executionAsyncId() })
    answerStacks?.push(stack)
  },
  promiseResolve () { answerStacks?.push(stackNow()) }
})

/** The stack now, stitched with where each async step it continues began: outermost first, from the route handler. */
function stitched (): Frame[] {
  const segments = [frames(stackNow()).filter((f) => !f.async)]
  const seen = new Set<number>()
  for (let context = executionAsyncId(); created.has(context) && !seen.has(context);) {
    seen.add(context)
    const origin = created.get(context)!
    segments.push(frames(origin.stack).filter((f) => !f.async))
    context = origin.context
  }
  const chain = segments.reverse().flatMap((segment) => segment.reverse())
  let start = -1
  chain.forEach((frame, i) => { if (frame.file.endsWith(HANDLER_CALLER)) start = i })
  if (start < 0) throw new Error('the request chain does not reach the route handler')
  return chain.slice(start + 1)
}

const transport = StdioTransport.prototype as unknown as { onData?: (chunk: Buffer) => void }
const onData = transport.onData
if (typeof onData !== 'function') throw new Error('StdioTransport has no onData: the measure reads the child\'s answers there')
const write = Socket.prototype.write
Socket.prototype.write = function (this: Socket, chunk: unknown, ...rest: unknown[]) {
  if (!requestChain && typeof chunk === 'string' && chunk.includes(MARK) && chunk.includes('"tools/call"')) requestChain = stitched()
  return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest)
} as typeof Socket.prototype.write
transport.onData = function (this: StdioTransport, chunk: Buffer) {
  if (requestChain && !answerStacks && !answerChain && chunk.includes(MARK)) answerStacks = [stackNow()]
  return onData.call(this, chunk)
}
const end = ServerResponse.prototype.end
ServerResponse.prototype.end = function (this: ServerResponse, ...args: unknown[]) {
  if (answerStacks) {
    answerStacks.push(stackNow())
    // in the order they ran; each stack's own frames outermost first (its async frames resume later, as their own stacks)
    answerChain = answerStacks.flatMap((stack) => frames(stack).filter((f) => !f.async).reverse())
    answerStacks = undefined
  }
  return (end as (...a: unknown[]) => ServerResponse).apply(this, args)
} as typeof ServerResponse.prototype.end

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

function ranCode (result: ScriptCoverage[]): string[] {
  return result
    .filter((script) => script.url.startsWith(`file://${ROOT}`) && !script.url.includes('/node_modules/') && !script.url.includes('/test/') && !script.url.includes('/scripts/'))
    .filter((script) => script.functions.some((f) => f.functionName && f.ranges[0].count > 0))
    .map((script) => script.url.slice(`file://${ROOT}`.length))
    .sort()
}

function print (title: string, chain: Step[]): void {
  process.stdout.write(`${title}: ${chain.length} files of ours\n`)
  chain.forEach(({ file, functions }, i) => process.stdout.write(`  ${String(i + 1).padStart(2)}. ${file.padEnd(30)} ${functions.join(' → ')}\n`))
}

try {
  const deadline = Date.now() + 10_000
  while (app.backends.get('echo')?.state !== 'ready' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  const init = await post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'call-path', version: '1' } } })
  const session = init.session ?? ''
  await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, session)
  const call = (id: number, text: string) => post({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo_1mcp_echo', arguments: { text } } }, session)
  // a warm-up call: what runs once (lazy imports, first-use caches) is not counted
  await call(2, 'warm-up')
  await inspector.post('Profiler.takePreciseCoverage')
  hook.enable()
  const answer = await call(3, MARK)
  hook.disable()
  const { result } = await inspector.post('Profiler.takePreciseCoverage') as unknown as { result: ScriptCoverage[] }
  if (!answer.text.includes(`echo: ${MARK}`)) throw new Error(`the call failed: ${answer.text}`)
  if (!requestChain || !answerChain) throw new Error('the call was not seen on its way to the child and back')
  const measured = { request: steps(requestChain), answer: steps(answerChain), ran: ranCode(result) }
  if (process.argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify(measured)}\n`)
  } else {
    print('request (route → child stdin)', measured.request)
    print('answer (child stdout → response)', measured.answer)
    process.stdout.write(`coverage: ${measured.ran.length} files of ours ran code for one tools/call (hooks and helpers included)\n`)
  }
} finally {
  await app.close()
}
