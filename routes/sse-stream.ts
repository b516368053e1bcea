import type { ServerResponse } from 'node:http'
import type { JSONRPCMessage } from '@modelcontextprotocol/client'
import type { Channel, ReplayBuffer } from '../plugins/sessions.js'

export function parseEventId (id: string): { stream: string, seq: number } | undefined {
  const at = id.lastIndexOf(':')
  if (at <= 0) return undefined
  const seq = Number(id.slice(at + 1))
  return Number.isSafeInteger(seq) && seq >= 0 ? { stream: id.slice(0, at), seq } : undefined
}

/**
 * The headers of every event stream the gateway starts (`/mcp` POST and GET, legacy `/sse`): no
 * caching or transformation on the way, and `X-Accel-Buffering: no`, without which nginx (buffering
 * on by default) holds the events back until its buffer fills, which for a stream means never.
 */
export const EVENT_STREAM_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no'
}

/**
 * One server-sent-events stream on a raw response: event ids `<stream>:<seq>`, a priming event,
 * keep-alive comments, and a replay buffer shared by the session's streams.
 */
export class SseStream implements Channel {
  private seq: number
  private keepAlive?: NodeJS.Timeout
  closed = false
  onclose?: () => void

  constructor (
    private readonly res: ServerResponse,
    readonly id: string,
    private readonly replay: ReplayBuffer | undefined,
    options: { headers?: Record<string, string>, keepAliveMs?: number, startSeq?: number } = {}
  ) {
    this.seq = options.startSeq ?? 0
    res.writeHead(200, { ...EVENT_STREAM_HEADERS, ...options.headers })
    res.flushHeaders()
    res.on('close', () => this.markClosed())
    const interval = options.keepAliveMs ?? 15_000
    if (interval > 0) {
      this.keepAlive = setInterval(() => { if (!this.closed) res.write(': keep-alive\n\n') }, interval)
      this.keepAlive.unref()
    }
  }

  /** An event with an id and no data: tells the client where to resume from. */
  prime (): void {
    if (this.closed) return
    this.res.write(`id: ${this.id}:${this.seq}\ndata: \n\n`)
  }

  send (message: JSONRPCMessage): void {
    const seq = ++this.seq
    this.replay?.add(this.id, seq, message)
    this.write(seq, message)
  }

  /** Writes an earlier event again (resumption), keeping its id. */
  resend (seq: number, message: JSONRPCMessage): void {
    this.write(seq, message)
  }

  private write (seq: number, message: JSONRPCMessage): void {
    if (this.closed) return
    this.res.write(`id: ${this.id}:${seq}\nevent: message\ndata: ${JSON.stringify(message)}\n\n`)
  }

  end (): void {
    if (this.closed) return
    this.res.end()
    this.markClosed()
  }

  private markClosed (): void {
    if (this.closed) return
    this.closed = true
    clearInterval(this.keepAlive)
    this.onclose?.()
  }
}
