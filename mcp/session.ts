import { randomBytes } from 'node:crypto'
import type { ClientCapabilities, Implementation, JSONRPCMessage, RequestId, Result } from '@modelcontextprotocol/client'
import { RpcCode, RpcError } from '../backends/errors.js'
import type { Cancellation } from '../backends/cancellation.js'
import type { Scope } from './scope.js'
import { ANONYMOUS_USER } from '../backends/user-connections.js'

/** Something a JSON-RPC message can be sent to: a call's response stream, or a session's standing stream. */
export interface Channel {
  send: (message: JSONRPCMessage) => void
  readonly closed: boolean
  /** the backend a call's request went to, set by the dispatcher (for logs and metrics) */
  backend?: string
  /**
   * the call waits for its client to answer requests it raised (a parked 2026-07-28 round): a new
   * server→client request of its backend goes to another call in flight when there is one
   */
  readonly waiting?: boolean
  /** the call cannot go on: a server→client request it raised needs a capability the client lacks */
  refuse?: (err: Error) => void
}

/** Recent events of a session's streams, so a client that lost one can resume it with `Last-Event-ID`. */
export class ReplayBuffer {
  private readonly events: Array<{ stream: string, seq: number, message: JSONRPCMessage }> = []
  constructor (private readonly size: number) {}

  add (stream: string, seq: number, message: JSONRPCMessage): void {
    if (this.size === 0) return
    this.events.push({ stream, seq, message })
    if (this.events.length > this.size) this.events.shift()
  }

  /** Events of `stream` after `seq`, oldest first. */
  after (stream: string, seq: number): Array<{ seq: number, message: JSONRPCMessage }> {
    return this.events.filter((e) => e.stream === stream && e.seq > seq)
  }
}

/** A secure-random session id of visible ASCII. */
export function newSessionId (): string {
  return randomBytes(24).toString('base64url')
}

export const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency']

/** A call this session has in flight at a backend. */
export interface InFlight {
  backend: string
  cancellation: Cancellation
  channel: Channel
}

interface PendingClientRequest {
  resolve: (result: Result) => void
  reject: (err: Error) => void
}

/** A resource a session subscribed to: the URI the client used, and the backend's own. */
export interface Subscription {
  uri: string
  backend: string
  original: string
}

/** One client session: what it negotiated, what it may see, and what it has in flight. */
export class Session {
  readonly createdAt = Date.now()
  lastSeen = Date.now()
  initialized = false
  logLevel?: string
  /** the standing stream opened by GET, when there is one */
  standalone?: Channel
  readonly replay: ReplayBuffer
  /** the resources the client subscribed to, by `backend\n<original URI>`: updates reach it under the URI it used */
  readonly subscriptions = new Map<string, Subscription>()
  readonly backendsTouched = new Set<string>()
  readonly inflight = new Map<RequestId, InFlight>()
  private readonly pending = new Map<string, PendingClientRequest>()
  private nextRequestId = 0
  /**
   * appended to the ids of the requests this session sends its client: names (sealed) the instance
   * that waits for the answer, so an instance the answer reaches instead can pass it on
   */
  replyTag = ''
  private streamCount = 0
  closed = false

  constructor (
    readonly id: string,
    readonly protocolVersion: string,
    readonly clientInfo: Implementation | undefined,
    readonly clientCapabilities: ClientCapabilities,
    readonly scope: Scope,
    replaySize: number,
    /** who the session belongs to (the token subject when auth is on) */
    readonly owner?: string,
    /** whose budget of sessions it counts against (the token's subject and client), when auth is on */
    readonly client?: string
  ) {
    this.replay = new ReplayBuffer(replaySize)
  }

  /**
   * The gateway user behind the session, whose upstream grants a `credentials: "per-user"` server
   * uses: the token's subject and client (a 2026-07-28 request has only its owner, which starts
   * with both); without auth, every client is the one anonymous user.
   */
  get user (): string {
    return this.client ?? this.owner?.split('\n').slice(0, 2).join('\n') ?? ANONYMOUS_USER
  }

  newStreamId (): string { return `${++this.streamCount}` }

  /** Sends a notification on the standing stream; dropped when the client never opened one. */
  notify (message: JSONRPCMessage): boolean {
    if (!this.standalone) return false
    // a closed stream still numbers and buffers the event, so a client that resumes gets it
    this.standalone.send(message)
    return !this.standalone.closed
  }

  /** Sends a request to the client on `channel` and waits for its answer. */
  requestClient (channel: Channel, method: string, params: unknown, signal: AbortSignal): Promise<Result> {
    if (channel.closed) return Promise.reject(new RpcError(RpcCode.InternalError, 'the client stream for this call is closed'))
    const id = `gw-${++this.nextRequestId}${this.replyTag}`
    return new Promise<Result>((resolve, reject) => {
      const onAbort = () => {
        this.pending.delete(id)
        channel.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: String(signal.reason ?? 'cancelled') } })
        reject(new RpcError(RpcCode.RequestTimeout, 'the request to the client was cancelled'))
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.pending.set(id, {
        resolve: (r) => { signal.removeEventListener('abort', onAbort); resolve(r) },
        reject: (e) => { signal.removeEventListener('abort', onAbort); reject(e) }
      })
      channel.send({ jsonrpc: '2.0', id, method, params: params as Record<string, unknown> })
    })
  }

  /** Delivers a client's answer to a request the gateway sent it; false when none was waiting. */
  answer (id: RequestId, result: Result | undefined, error: { code: number, message: string, data?: unknown } | undefined): boolean {
    const pending = this.pending.get(String(id))
    if (!pending) return false
    this.pending.delete(String(id))
    if (error) pending.reject(new RpcError(error.code, error.message, error.data))
    else pending.resolve(result ?? {})
    return true
  }

  /** Ends the session: cancels its calls, rejects what waits on the client, closes its stream. */
  close (reason = 'session ended'): void {
    if (this.closed) return
    this.closed = true
    for (const call of this.inflight.values()) call.cancellation.abort(new Error(reason))
    this.inflight.clear()
    for (const p of this.pending.values()) p.reject(new RpcError(RpcCode.InternalError, reason))
    this.pending.clear()
    const stream = this.standalone as (Channel & { end?: () => void }) | undefined
    stream?.end?.()
  }
}
