import type { JSONRPCMessage, Result } from '@modelcontextprotocol/client'
import type { ServerContext } from '@modelcontextprotocol/server'
import { LOG_LEVELS, type Channel, type Session } from '../mcp/session.js'
import type { Params } from './generation.js'

/**
 * The response channel of a 2026 call: notifications go to the current HTTP exchange, and a
 * server→client request of a 2025 backend is kept as an input request for the client's next round.
 */
export class InputChannel implements Channel {
  backend?: string
  ctx: ServerContext
  readonly requests = new Map<string, { method: string, params?: Params }>()
  private wake?: () => void
  finished = false
  /** why the call cannot go on, when a request it raised cannot be put to this client */
  refused?: Error

  constructor (ctx: ServerContext, private readonly logLevel: string | undefined) {
    this.ctx = ctx
  }

  get closed (): boolean { return this.finished }

  /** parked: the client has input requests of this call to answer */
  get waiting (): boolean { return this.requests.size > 0 }

  send (message: JSONRPCMessage): void {
    if (this.finished || !('method' in message)) return
    if ('id' in message) {
      this.requests.set(String(message.id), { method: message.method, params: message.params as Params | undefined })
      this.wake?.()
    } else if (this.passes(message.method, message.params as Params | undefined)) {
      void this.ctx.mcpReq.notify({ method: message.method, params: message.params }).catch(() => {})
    }
  }

  /** Whether a notification reaches the client: not a cancellation of an input request it never saw, a log message only at its level. */
  private passes (method: string, params: Params | undefined): boolean {
    if (method === 'notifications/cancelled') return !this.requests.delete(String(params?.requestId))
    if (method === 'notifications/message') return this.logs(params?.level)
    return true
  }

  refuse (err: Error): void {
    this.refused ??= err
    this.wake?.()
  }

  /** Log messages reach a 2026 client only when it asked for them with a level in `_meta`. */
  private logs (level: unknown): boolean {
    return this.logLevel !== undefined && LOG_LEVELS.indexOf(String(level)) >= LOG_LEVELS.indexOf(this.logLevel)
  }

  /** Resolves once at least one input request waits for the client. */
  whenInputNeeded (): Promise<void> {
    if (this.requests.size > 0 || this.refused) return Promise.resolve()
    return new Promise((resolve) => {
      // requests raised together reach the client together
      this.wake = () => { this.wake = undefined; setImmediate(resolve) }
    })
  }
}

/** A 2025 backend's call waiting for the 2026 client to answer its server→client requests. */
export interface ParkedCall {
  session: Session
  channel: InputChannel
  outcome: Promise<Outcome>
  timer?: NodeJS.Timeout
}

export type Outcome = { result?: Result, error?: unknown }
