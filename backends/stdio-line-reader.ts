import type { JSONRPCMessage } from '@modelcontextprotocol/client'
import { DEFAULTS } from '../schemas/config.js'

/**
 * Newline-delimited JSON-RPC from a child's stdout. Each line is parsed once and checked for the
 * shape of a JSON-RPC 2.0 message; deeper validation is left to the protocol layer (the SDK's own
 * reader runs a schema over every message, which the backend hot path does not need).
 */
export class LineReader {
  /** the start of a line whose newline has yet to come, in the chunks it came in */
  private parts: Buffer[] = []
  private partBytes = 0
  /** a line over the limit is being skipped, up to its newline */
  private skipping = false

  constructor (private readonly maxBytes: () => number = () => DEFAULTS.server.maxMessageBytes) {}

  /**
   * The complete messages in `chunk` (with what came before). Lines that are not JSON-RPC are handed
   * to `onBad`. A line longer than the limit is reported to `onOversized` as soon as it is known to be
   * too long (once per line) and skipped up to its newline, where reading resynchronises.
   */
  read (chunk: Buffer, onBad: (line: string, reason: string) => void, onOversized: (limit: number) => void = () => {}): JSONRPCMessage[] {
    const limit = this.maxBytes()
    const first = chunk.indexOf(10)
    if (first < 0) {
      this.hold(chunk, limit, onOversized)
      return []
    }
    const buffer = this.join(chunk, first)
    const messages: JSONRPCMessage[] = []
    const rest = this.parseLines(buffer, limit, messages, onBad, onOversized)
    if (rest < buffer.length) this.hold(buffer.subarray(rest), limit, onOversized)
    return messages
  }

  /** What was held and `chunk` (whose first newline is at `first`), as one buffer of whole lines and a rest. */
  private join (chunk: Buffer, first: number): Buffer {
    const buffer = this.skipping ? chunk.subarray(first + 1) : this.parts.length > 0 ? Buffer.concat([...this.parts, chunk]) : chunk
    this.clear()
    return buffer
  }

  /** Parses the whole lines of `buffer` into `messages`; returns where the unfinished rest starts. */
  private parseLines (buffer: Buffer, limit: number, messages: JSONRPCMessage[], onBad: (line: string, reason: string) => void, onOversized: (limit: number) => void): number {
    // offsets, not a subarray per line: a chunk under load holds many answers
    let start = 0
    for (let newline = buffer.indexOf(10); newline >= 0; start = newline + 1, newline = buffer.indexOf(10, start)) {
      const end = newline > start && buffer[newline - 1] === 13 ? newline - 1 : newline
      if (end === start) continue
      if (end - start > limit) {
        onOversized(limit)
        continue
      }
      const line = buffer.toString('utf8', start, end)
      const message = parseMessage(line)
      if (typeof message !== 'string') messages.push(message)
      else if (line.trim() !== '') onBad(line, message)
    }
    return start
  }

  /** Keeps the start of a line until its newline comes; from the byte that makes it too long, the line is skipped. */
  private hold (part: Buffer, limit: number, onOversized: (limit: number) => void): void {
    if (this.skipping) return
    if (this.partBytes + part.length > limit) {
      this.clear()
      this.skipping = true
      onOversized(limit)
      return
    }
    this.parts.push(part)
    this.partBytes += part.length
  }

  clear (): void {
    this.parts = []
    this.partBytes = 0
    this.skipping = false
  }
}

/** A JSON-RPC 2.0 message, or why the line is not one. */
function parseMessage (line: string): JSONRPCMessage | string {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    return 'not JSON'
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'not a JSON object'
  const message = value as Record<string, unknown>
  if (message.jsonrpc !== '2.0') return 'not JSON-RPC 2.0'
  return typeof message.method === 'string' || isResponse(message) ? message as unknown as JSONRPCMessage : 'neither a request, a notification nor a response'
}

function isResponse (message: Record<string, unknown>): boolean {
  const id = message.id
  return (typeof id === 'string' || typeof id === 'number') && ('result' in message || 'error' in message)
}
