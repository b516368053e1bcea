/**
 * What a server's tool definitions cost in an LLM's context: the tokens of each tool as a client
 * hands it to the model (name, title, description, input and output schemas, annotations), counted
 * with the o200k_base tokenizer (GPT-4o and later). Other models tokenize differently; this is a
 * faithful count for one real tokenizer, good for comparing servers, not an exact bill for every model.
 *
 * The tokenizer's tables are about 70 MB once loaded, more than the rest of the gateway, and they are
 * needed only when a backend's tools change. So the counting is done in a short-lived child process
 * (plain `node`, the tokenizer imported by its resolved URL): it starts on the first count, serves every
 * count asked for while it runs (20 backends starting together share one), and exits IDLE_MS after the
 * last answer, giving all of that memory back. Where no child can be started from a module file (the
 * single executable's bundle, where `import.meta.resolve` does not exist) the tokenizer is loaded here.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'

type CountTokens = (text: string) => number
type Tool = Record<string, unknown>

/** How long the counting child waits for more work before it exits. */
const IDLE_MS = 2000

// The child: one JSON array of texts per stdin line, one JSON array of counts per stdout line, in order.
const CHILD = `import { createInterface } from 'node:readline'
const { countTokens } = await import(process.argv[1])
for await (const line of createInterface({ input: process.stdin })) process.stdout.write(JSON.stringify(JSON.parse(line).map((t) => countTokens(t))) + '\\n')`

let inProcess: Promise<CountTokens> | undefined
let child: { proc: ChildProcessWithoutNullStreams, waiting: Array<{ resolve: (n: number[]) => void, reject: (e: Error) => void }>, idle?: NodeJS.Timeout } | undefined

function tokenizerUrl (): string | undefined {
  try {
    return typeof import.meta.resolve === 'function' ? import.meta.resolve('gpt-tokenizer/encoding/o200k_base') : undefined
  } catch {
    return undefined
  }
}

function startChild (url: string): NonNullable<typeof child> {
  const proc = spawn(process.execPath, ['--input-type=module', '-e', CHILD, url], { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: process.env.PATH } })
  const state: NonNullable<typeof child> = { proc, waiting: [] }
  const fail = (err: Error) => {
    if (child === state) child = undefined
    for (const w of state.waiting.splice(0)) w.reject(err)
  }
  let stderr = ''
  let partial = ''
  proc.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-2000) })
  proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) state.waiting.shift()?.resolve(JSON.parse(line) as number[])
    if (state.waiting.length === 0) {
      hold(state, false)
      clearTimeout(state.idle)
      state.idle = setTimeout(() => { if (child === state) child = undefined; proc.stdin.end() }, IDLE_MS).unref()
    }
  })
  proc.once('error', fail)
  proc.once('exit', (code) => fail(new Error(`the token-counting process ended (${code ?? 'signal'}): ${stderr.trim() || 'no output'}`)))
  proc.stdin.on('error', () => {}) // a child gone early is reported by 'exit'
  return state
}

/** An idle counting child does not keep the process alive (a busy one does, for its answers). */
function hold (state: NonNullable<typeof child>, on: boolean) {
  const method = on ? 'ref' : 'unref'
  state.proc[method]()
  for (const stream of [state.proc.stdin, state.proc.stdout, state.proc.stderr]) (stream as unknown as Record<string, (() => void) | undefined>)[method]?.()
}

/** Counts of `texts` from the counting child (started if need be). */
function countInChild (url: string, texts: string[]): Promise<number[]> {
  child ??= startChild(url)
  const state = child
  clearTimeout(state.idle)
  hold(state, true)
  return new Promise((resolve, reject) => {
    state.waiting.push({ resolve, reject })
    state.proc.stdin.write(JSON.stringify(texts) + '\n')
  })
}

async function countHere (texts: string[]): Promise<number[]> {
  inProcess ??= import('gpt-tokenizer/encoding/o200k_base').then((m) => m.countTokens as CountTokens)
  const count = await inProcess
  return texts.map((t) => count(t))
}

/** The part of a tool the model sees. */
function modelView (tool: Tool): Tool {
  const { name, title, description, inputSchema, outputSchema, annotations } = tool
  return Object.fromEntries(Object.entries({ name, title, description, inputSchema, outputSchema, annotations }).filter(([, v]) => v !== undefined))
}

/** Tokens of a list of tool definitions. */
export async function countToolTokens (tools: Tool[]): Promise<number> {
  if (tools.length === 0) return 0
  const texts = tools.map((tool) => JSON.stringify(modelView(tool)))
  const url = tokenizerUrl()
  const counts = url ? await countInChild(url, texts) : await countHere(texts)
  return counts.reduce((a, b) => a + b, 0)
}
