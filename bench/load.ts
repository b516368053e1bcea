import { Pool } from 'undici'

export const PROTOCOL_VERSION = '2025-11-25'

export interface RpcAnswer {
  status: number
  sessionId?: string
  message?: { result?: Record<string, unknown>, error?: { code: number, message: string } }
}

/**
 * A lightweight MCP-over-HTTP client for load: raw JSON-RPC POSTs on keep-alive connections.
 * A session is opened with a real `initialize` + `notifications/initialized`; calls then carry
 * its `Mcp-Session-Id`.
 */
export class McpHttp {
  private readonly pool: Pool
  private nextId = 1

  constructor (readonly origin: string, readonly path: string, connections: number) {
    this.pool = new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 30_000 })
  }

  /** A POST whose body is returned as text, not parsed: for large answers whose parsing would dominate. */
  async postRaw (message: Record<string, unknown>, sessionId: string): Promise<{ status: number, text: string }> {
    const res = await this.pool.request({ method: 'POST', path: this.path, headers: this.headers(sessionId), body: JSON.stringify(message) })
    return { status: res.statusCode, text: await res.body.text() }
  }

  private headers (sessionId?: string): Record<string, string> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream'
    }
    if (sessionId) {
      headers['mcp-session-id'] = sessionId
      headers['mcp-protocol-version'] = PROTOCOL_VERSION
    }
    return headers
  }

  async post (message: Record<string, unknown>, sessionId?: string): Promise<RpcAnswer> {
    const res = await this.pool.request({ method: 'POST', path: this.path, headers: this.headers(sessionId), body: JSON.stringify(message) })
    const text = await res.body.text()
    const sid = res.headers['mcp-session-id']
    return {
      status: res.statusCode,
      sessionId: typeof sid === 'string' ? sid : undefined,
      message: text ? parseBody(text, String(res.headers['content-type'] ?? '')) : undefined
    }
  }

  /** Opens a session the way a real client does; returns its id. */
  async initialize (): Promise<string> {
    const init = await this.post({
      jsonrpc: '2.0',
      id: this.nextId++,
      method: 'initialize',
      params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'bench', version: '1.0.0' } }
    })
    if (init.status !== 200 || !init.sessionId || !init.message?.result) throw new Error(`initialize failed at ${this.origin}${this.path}: HTTP ${init.status} ${JSON.stringify(init.message)}`)
    const note = await this.post({ jsonrpc: '2.0', method: 'notifications/initialized' }, init.sessionId)
    if (note.status !== 202) throw new Error(`notifications/initialized answered HTTP ${note.status}`)
    return init.sessionId
  }

  /** One request; returns its result or throws with the JSON-RPC error. */
  async request (sessionId: string, method: string, params: Record<string, unknown>): Promise<Record<string, unknown>> {
    const answer = await this.post({ jsonrpc: '2.0', id: this.nextId++, method, params }, sessionId)
    if (answer.message?.error) throw new Error(`${method}: ${answer.message.error.message} (${answer.message.error.code})`)
    if (answer.status !== 200 || !answer.message?.result) throw new Error(`${method}: HTTP ${answer.status}`)
    return answer.message.result
  }

  /** A tools/call whose result is a tool error counts as a failure too. */
  async callTool (sessionId: string, name: string, args: Record<string, unknown>): Promise<Record<string, unknown>> {
    const result = await this.request(sessionId, 'tools/call', { name, arguments: args })
    if (result.isError) throw new Error(`${name}: ${JSON.stringify(result.content)}`)
    return result
  }

  private closing?: Promise<void>
  close (): Promise<void> {
    this.closing ??= this.pool.close()
    return this.closing
  }
}

function parseBody (text: string, type: string): RpcAnswer['message'] {
  if (!type.includes('text/event-stream')) return JSON.parse(text)
  // the last `data:` line of an SSE answer holds the response
  const data = text.split('\n').filter((l) => l.startsWith('data: ') && l.length > 7).pop()
  return data ? JSON.parse(data.slice(6)) : undefined
}

export interface LoadResult {
  calls: number
  errors: number
  rps: number
  p50: number
  p99: number
  firstError?: string
}

/** The raw outcome of one run. */
export interface Sample {
  latencies: Float64Array
  elapsedMs: number
  errors: number
  firstError?: string
}

export interface LoadOptions {
  /** one worker per entry: the session it uses */
  workers: string[]
  durationMs: number
  /** a hard cap on calls, whatever the duration */
  maxCalls: number
  call: (sessionId: string) => Promise<unknown>
}

/** Runs the workers in parallel until the duration or the call cap is reached. */
export async function runLoad (opts: LoadOptions): Promise<Sample> {
  const latencies = new Float64Array(opts.maxCalls)
  let calls = 0
  let errors = 0
  let firstError: string | undefined
  const start = performance.now()
  const deadline = start + opts.durationMs
  const worker = async (sessionId: string) => {
    while (calls < opts.maxCalls && performance.now() < deadline) {
      const slot = calls++
      const t0 = performance.now()
      try {
        await opts.call(sessionId)
      } catch (err) {
        errors++
        firstError ??= (err as Error).message
      }
      latencies[slot] = performance.now() - t0
    }
  }
  await Promise.all(opts.workers.map(worker))
  return { latencies: latencies.slice(0, calls), elapsedMs: performance.now() - start, errors, firstError }
}

/** Throughput and percentiles over several runs (rounds interleaved with the other targets). */
export function summarize (samples: Sample[]): LoadResult {
  const calls = samples.reduce((n, s) => n + s.latencies.length, 0)
  const all = new Float64Array(calls)
  let at = 0
  for (const s of samples) { all.set(s.latencies, at); at += s.latencies.length }
  all.sort()
  const elapsedMs = samples.reduce((n, s) => n + s.elapsedMs, 0)
  return {
    calls,
    errors: samples.reduce((n, s) => n + s.errors, 0),
    rps: calls / (elapsedMs / 1000),
    p50: quantile(all, 0.5),
    p99: quantile(all, 0.99),
    firstError: samples.find((s) => s.firstError)?.firstError
  }
}

export function quantile (sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}

export function median (values: number[]): number {
  return quantile([...values].sort((a, b) => a - b), 0.5)
}
