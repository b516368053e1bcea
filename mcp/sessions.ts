import { EventEmitter } from 'node:events'
import type { ClientCapabilities, Implementation } from '@modelcontextprotocol/client'
import type { Scope } from './scope.js'
import { DEFAULTS } from '../schemas/config.js'
import { newSessionId, Session } from './session.js'
import { SessionLimitError } from './errors.js'
import { isSealedId, MAX_SEALED_ID, RevocationList, SessionSealer, type SealedSession } from './session-seal.js'
import { SharedSessions, type MarkerBoard } from './shared-sessions.js'

export interface SessionInit {
  protocolVersion: string
  clientInfo?: Implementation
  clientCapabilities: ClientCapabilities
  scope: Scope
  owner?: string
  /** whose budget the session counts against: the token's subject and client (`sessionClient`), when auth is on */
  client?: string
  /** a session id chosen by the transport (the legacy SSE transport names it before initialize) */
  id?: string
}

export interface SessionSettings { idleTimeoutMs: number, max: number, replayBufferSize: number, maxPerClient?: number }

export const DEFAULT_SESSION_SETTINGS: SessionSettings = { idleTimeoutMs: DEFAULTS.sessions.idleTimeoutMs, max: DEFAULTS.sessions.max, replayBufferSize: DEFAULTS.sessions.replayBufferSize }

/** The sessions (and `/sse` streams) one token subject and client may hold: `maxPerClient`, else a quarter of `max`. */
export function maxPerClient (settings: SessionSettings): number {
  return settings.maxPerClient ?? Math.max(1, Math.floor(settings.max / 4))
}

/**
 * Every open client session by id, with idle expiry; beside them, the 2026-07-28 requests in progress.
 * A 2026 request is stateless: the dispatcher serves it through a Session object of its own (its call
 * in flight, its log level, the client's answers), but it is not a session. It is not counted in
 * `size`, not held to the session caps (the rate limit covers requests), not found by `get` (no client
 * can name it in `Mcp-Session-Id`) and its end is `requestEnded`, not `closed`.
 */
export class SessionRegistry extends EventEmitter<{ closed: [Session], requestEnded: [Session] }> {
  private readonly sessions = new Map<string, Session>()
  private readonly requests = new Map<string, Session>()
  /** places held for sessions not started yet (legacy `/sse` streams before initialize), by id: the client each counts against */
  private readonly reserved = new Map<string, string | undefined>()
  /** sessions and reserved places per token subject and client */
  private readonly perClient = new Map<string, number>()
  private sweeper?: NodeJS.Timeout
  /** 2026-07-28 requests served since the start */
  statelessRequests = 0
  /** sessions rebuilt here from an id another instance (or an earlier run) sealed */
  revived = 0
  private readonly ended = new RevocationList()
  /** ends and log levels of sealed sessions, shared with the instances of the same data dir and key (`share`) */
  private shared?: SharedSessions
  /** `~` and this instance's address sealed, on the ids of requests to clients (see Session.replyTag); empty when no address is set */
  private replyTag = ''

  constructor (public settings: SessionSettings, readonly sealer = new SessionSealer()) {
    super()
    const every = Math.max(50, Math.min(60_000, Math.floor(settings.idleTimeoutMs / 4)))
    this.sweeper = setInterval(() => this.sweep(), every)
    this.sweeper.unref()
  }

  /** Where other instances reach this one (sessions.instanceUrl): answers of clients that reach them are passed on here. */
  setInstanceUrl (url: string | undefined): void {
    this.replyTag = url ? `~${this.sealer.sealText(url)}` : ''
  }

  /** The instance an answer's id names, when it was sealed with our key: where to pass it on. */
  answerOwner (id: unknown): string | undefined {
    if (typeof id !== 'string') return undefined
    const at = id.indexOf('~')
    return at < 0 ? undefined : this.sealer.openText(id.slice(at + 1))
  }

  /**
   * Follows the ends and log levels other instances record for sealed sessions, and records this
   * instance's: for instances that share a data dir and a session key (plugins/sessions.ts).
   */
  share (ended: MarkerBoard, levels: MarkerBoard): void {
    this.shared = new SharedSessions(ended, levels, () => this.settings.idleTimeoutMs, (id) => this.delete(id, 'session ended by the client (on another instance)'))
  }

  /** Sessions open (2026 requests in progress are not sessions). */
  get size (): number { return this.sessions.size }

  /** The sessions and reserved streams `client` holds. */
  heldBy (client: string): number { return this.perClient.get(client) ?? 0 }

  /** Every open session, then every 2026 request in progress: whatever a backend's message may be for. */
  * all (): IterableIterator<Session> {
    yield * this.sessions.values()
    yield * this.requests.values()
  }

  /** A session by the id a client sent. */
  get (id: string): Session | undefined {
    const session = this.sessions.get(id)
    if (session) {
      session.lastSeen = Date.now()
      this.shared?.used(session)
    }
    return session
  }

  /** A session or a 2026 request in progress, by its id (for what a per-client backend connection sends). */
  context (id: string): Session | undefined {
    return this.requests.get(id) ?? this.get(id)
  }

  /** Opens the context of one 2026-07-28 request; `endRequest` ends it. */
  openRequest (init: SessionInit & { id: string }): Session {
    const request = new Session(init.id, init.protocolVersion, init.clientInfo, init.clientCapabilities, init.scope, 0, init.owner)
    request.initialized = true
    this.requests.set(init.id, request)
    this.statelessRequests++
    return request
  }

  endRequest (id: string, reason?: string): boolean {
    const request = this.requests.get(id)
    if (!request) return false
    this.requests.delete(id)
    request.close(reason)
    this.emit('requestEnded', request)
    return true
  }

  /** Counts one more session (or stream) against the global cap and the client's share; throws a SessionLimitError when there is no room. */
  private admit (client: string | undefined): void {
    const { max } = this.settings
    if (this.sessions.size + this.reserved.size >= max) {
      throw new SessionLimitError(`the gateway has reached its limit of ${max} sessions; try again later`, false)
    }
    if (client === undefined) return
    const limit = maxPerClient(this.settings)
    const held = this.heldBy(client)
    if (held >= limit) {
      throw new SessionLimitError(`this client has ${held} sessions or streams open, its limit (sessions.maxPerClient) is ${limit}: end some (DELETE the session, close the stream) or let them expire`, true)
    }
    this.perClient.set(client, held + 1)
  }

  private release (client: string | undefined): void {
    if (client === undefined) return
    const held = this.heldBy(client) - 1
    if (held > 0) this.perClient.set(client, held)
    else this.perClient.delete(client)
  }

  /**
   * Holds a place for a session that a transport opens before `initialize` (a legacy `/sse` stream),
   * so streams count against the caps like sessions. `create` with the same id takes the place over;
   * `unreserve` gives it back. Throws a SessionLimitError when there is no room.
   */
  reserve (id: string, client: string | undefined): void {
    this.admit(client)
    this.reserved.set(id, client)
  }

  unreserve (id: string): void {
    if (!this.reserved.has(id)) return
    const client = this.reserved.get(id)
    this.reserved.delete(id)
    this.release(client)
  }

  create (init: SessionInit): Session {
    const id = init.id ?? this.sealedId(init)
    const reservedFor = this.reserved.has(id) ? { client: this.reserved.get(id) } : undefined
    if (reservedFor) this.reserved.delete(id)
    else this.admit(init.client)
    const client = reservedFor ? reservedFor.client : init.client
    const session = new Session(id, init.protocolVersion, init.clientInfo, init.clientCapabilities, init.scope, this.settings.replayBufferSize, init.owner, client)
    session.replyTag = this.replyTag
    this.sessions.set(id, session)
    if (isSealedId(id)) this.shared?.hold(session)
    return session
  }

  /** An id that carries what the session needs, so any instance with the key serves it; a random one when that would be too long. */
  private sealedId (init: SessionInit): string {
    const state: SealedSession = {
      p: init.protocolVersion,
      ...(init.clientInfo ? { ci: init.clientInfo } : {}),
      cc: init.clientCapabilities,
      ...(init.scope.single !== undefined ? { s: init.scope.single } : {}),
      ...(init.scope.filterKey !== undefined ? { f: init.scope.filterKey } : {}),
      ...(init.owner !== undefined ? { o: init.owner } : {}),
      ...(init.client !== undefined ? { c: init.client } : {}),
      t: Date.now(),
      n: newSessionId().slice(0, 8)
    }
    const id = this.sealer.seal(state)
    return id.length <= MAX_SEALED_ID ? id : newSessionId()
  }

  /**
   * A session this instance does not hold, rebuilt from its sealed id: another instance started it
   * (or this one before a restart). `scope` is the scope the request would get now (same path, query
   * and token); the session is served only when it matches the sealed one and `owner` is the sealed
   * token binding. Undefined when the id is not validly sealed, was ended here, or does not match.
   */
  revive (id: string, scope: Scope, owner: string | undefined): Session | undefined {
    if (this.ended.has(id) || this.shared?.isEnded(id)) return undefined
    const state = this.sealer.open(id)
    if (!state || state.o !== owner || state.s !== scope.single || state.f !== scope.filterKey) return undefined
    this.admit(state.c)
    const session = new Session(id, state.p, state.ci, state.cc, scope, this.settings.replayBufferSize, state.o, state.c)
    session.initialized = true
    session.logLevel = state.l
    session.replyTag = this.replyTag
    this.sessions.set(id, session)
    this.shared?.hold(session)
    this.revived++
    return session
  }

  /** Sets the session's log level, and for a shared sealed session on every instance that serves it. */
  setLevel (session: Session, level: string): void {
    session.logLevel = level
    if (this.sessions.get(session.id) === session) this.shared?.setLevel(session, level)
  }

  /** The client ended the session (DELETE): here, and on every instance that shares the data dir and key. */
  end (id: string, reason: string): boolean {
    if (!this.delete(id, reason)) return false
    if (isSealedId(id)) this.shared?.end(id)
    return true
  }

  /** Ends the session on this instance, which refuses its id from then on. */
  delete (id: string, reason?: string): boolean {
    const session = this.sessions.get(id)
    if (!session) return false
    this.sessions.delete(id)
    this.shared?.release(session)
    this.ended.add(id, this.settings.idleTimeoutMs)
    this.release(session.client)
    session.close(reason)
    this.emit('closed', session)
    return true
  }

  private sweep (): void {
    const cutoff = Date.now() - this.settings.idleTimeoutMs
    for (const session of this.sessions.values()) {
      const busy = session.inflight.size > 0 || (session.standalone && !session.standalone.closed)
      if (!busy && session.lastSeen < cutoff) this.delete(session.id, 'session expired after being idle')
    }
  }

  /** Waits until no session has a call in flight, or `timeoutMs` has passed. */
  async drain (timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline && [...this.all()].some((s) => s.inflight.size > 0)) {
      await new Promise((resolve) => setTimeout(resolve, 25).unref())
    }
  }

  close (): void {
    clearInterval(this.sweeper)
    for (const id of [...this.sessions.keys()]) this.delete(id, 'the gateway is shutting down')
    for (const id of [...this.requests.keys()]) this.endRequest(id, 'the gateway is shutting down')
  }
}
