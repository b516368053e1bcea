import type { ServerResponse } from 'node:http'
import type { JSONRPCMessage } from '@modelcontextprotocol/client'
import type { Channel, ReplayBuffer } from '../mcp/session.js'

export function parseEventId (id: string): { stream: string, seq: number } | undefined {
  const at = id.lastIndexOf(':')
  if (at <= 0) return undefined
  const seq = Number(id.slice(at + 1))
  return Number.isSafeInteger(seq) && seq >= 0 ? { stream: id.slice(0, at), seq } : undefined
}

/**
 * How much a stream may hold unsent for a client that reads slowly (or not at all) before the
 * gateway drops notifications to it: answers and server→client requests are always written.
 */
export const STREAM_BACKLOG_LIMIT = 1024 * 1024

/** Whether a notification to this response should be dropped: the client is that far behind. */
export function streamBehind (res: ServerResponse, message: JSONRPCMessage): boolean {
  return !('id' in message) && res.writableLength > STREAM_BACKLOG_LIMIT
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
    private readonly options: { headers?: Record<string, string>, keepAliveMs?: number, startSeq?: number, onDropped?: () => void } = {}
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

  /** Bytes written to the stream that the client has not taken yet. */
  get backlog (): number { return this.res.writableLength }

  send (message: JSONRPCMessage): void {
    if (streamBehind(this.res, message)) {
      this.options.onDropped?.()
      return
    }
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
