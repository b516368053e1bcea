import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import type { ServerConfig } from '../schemas/config.js'
import type { Notification } from '@modelcontextprotocol/client'
import { Backend, connectionFingerprint, type BackendHooks, type BackendState } from './backend.js'
import { ReplicaSet, replicaFingerprint } from './replica-set.js'
import type { Server } from './server.js'
import { ANONYMOUS_USER, UserConnections } from './user-connections.js'
import type { UpstreamAuth } from './upstream-auth/upstream-auth.js'

const fingerprint = (config: ServerConfig): string => connectionFingerprint(config) + replicaFingerprint(config)

interface PoolEvents {
  /** a backend changed state, was added or was removed */
  state: [Server, BackendState]
  /** a backend's config changed in a way that needs no reconnect (tags, disabled tools, description) */
  updated: [Server]
  /** a notification from a backend (list changes, progress-free messages, resource updates, logs) */
  notification: [Server, Notification]
}

/**
 * Every configured backend by name. `apply` brings the pool in line with a config:
 * it starts new servers, stops removed ones, replaces those whose connection settings
 * changed (the new one takes calls once ready, then the old one stops) and updates
 * the rest in place.
 */
export class BackendPool extends EventEmitter<PoolEvents> {
  private readonly backends = new Map<string, ReplicaSet>()
  /** answers server→client requests raised by any backend */
  onServerRequest?: BackendHooks['onServerRequest']
  /** whether any client would receive a backend's log message now (unheard ones are dropped and counted) */
  hearsLogs?: BackendHooks['hearsLogs']
  /** the gateway's OAuth login to a remote server, if it may need one (set by plugins/upstream-auth.ts) */
  authFor?: (name: string, config: ServerConfig) => BackendHooks['auth']
  /** a gateway user's own login to a `credentials: "per-user"` server (set by plugins/upstream-auth.ts) */
  userAuthFor?: (name: string, config: ServerConfig, user: string) => UpstreamAuth | undefined
  private readonly users = new UserConnections(
    (name, config, auth) => this.createOwn(name, config, auth),
    (name, config, user) => this.userAuthFor?.(name, config, user)
  )

  private applying: Promise<void> = Promise.resolve()
  /** how long a removed or replaced backend may take to finish its calls in flight */
  drainMs = 10_000

  /** @param baseDir where relative `cwd`s resolve, and the working directory of stdio backends without one */
  constructor (private readonly log: Logger, private readonly baseDir = process.cwd()) {
    super()
  }

  get (name: string): ReplicaSet | undefined { return this.backends.get(name) }
  all (): IterableIterator<ReplicaSet> { return this.backends.values() }
  get size (): number { return this.backends.size }
  names (): string[] { return [...this.backends.keys()] }

  /**
   * Brings the pool in line with `servers`. Calls are serialized; the promise settles once
   * every backend it started has finished its first connection attempt.
   */
  apply (servers: Record<string, ServerConfig>): Promise<void> {
    this.applying = this.applying.then(() => this.doApply(servers))
    return this.applying
  }

  /** Settles when the latest `apply` has. */
  settled (): Promise<void> { return this.applying }

  private async doApply (servers: Record<string, ServerConfig>): Promise<void> {
    const starts: Promise<void>[] = []
    for (const [name, backend] of this.backends) {
      const next = servers[name]
      if (!next || next.disabled) starts.push(this.remove(name, backend))
    }
    for (const [name, config] of Object.entries(servers)) {
      if (config.disabled) continue
      const current = this.backends.get(name)
      if (!current) {
        starts.push(this.add(name, config))
      } else if (fingerprint(current.config) !== fingerprint(config)) {
        starts.push(this.replace(name, current, config))
      } else if (JSON.stringify(current.config) !== JSON.stringify(config)) {
        current.config = config
        this.emit('updated', current)
      }
    }
    await Promise.all(starts)
  }

  private hooks (name: string, config: ServerConfig, onNotification: BackendHooks['onNotification'], auth = this.authFor?.(name, config)): BackendHooks {
    return {
      onServerRequest: (b, req, extra) => {
        if (!this.onServerRequest) throw new Error('no handler for server requests')
        return this.onServerRequest(b, req, extra)
      },
      onNotification,
      hearsLogs: (b) => this.hearsLogs?.(b) ?? true,
      auth
    }
  }

  /** A configured server: its replicas (one unless it asks for more); notifications are the server's. */
  private create (name: string, config: ServerConfig): ReplicaSet {
    const set: ReplicaSet = new ReplicaSet(name, config, this.log.child({ backend: name }), this.baseDir, this.hooks(name, config, (b, n) => {
      if (this.backends.get(name) === set && set.has(b)) this.emit('notification', set, n)
    }))
    set.on('state', (state) => {
      if (this.backends.get(name) === set) this.emit('state', set, state)
    })
    return set
  }

  /** A per-client or per-user connection: one Backend of its own (a per-user one with that user's login). */
  private createOwn (name: string, config: ServerConfig, auth?: UpstreamAuth): Backend {
    return new Backend(name, config, this.log.child({ backend: name }), this.baseDir, this.hooks(name, config, (b, n) => this.emit('notification', b, n), auth ?? this.authFor?.(name, config)))
  }

  private async add (name: string, config: ServerConfig): Promise<void> {
    const backend = this.create(name, config)
    this.backends.set(name, backend)
    await backend.start()
  }

  /** Takes a backend out of service at once; its calls in flight may finish (bounded) before it stops. */
  private async remove (name: string, backend: ReplicaSet): Promise<void> {
    this.backends.delete(name)
    this.emit('state', backend, 'stopped')
    await backend.drain(this.drainMs)
    await Promise.all([backend.stop(), this.users.release(name)])
  }

  /**
   * A new connection first; the old one keeps serving until the new one is ready (or has failed),
   * then finishes its calls in flight (bounded) and stops.
   */
  private async replace (name: string, old: ReplicaSet, config: ServerConfig): Promise<void> {
    const next = this.create(name, config)
    await next.start()
    if (this.backends.get(name) !== old) { await next.stop(); return }
    this.backends.set(name, next)
    this.emit('state', next, next.state)
    await old.drain(this.drainMs)
    await Promise.all([old.stop(), this.users.release(name)])
  }

  /** Connections of `sessionMode: "per-client"` servers, by client session. */
  private readonly perSession = new Map<string, Map<string, Promise<Backend>>>()
  private readonly sessionOf = new WeakMap<Server, string>()

  /**
   * The connection a session's calls to `name` use: the shared one; for a `per-client` server the
   * session's own connection, started on first use and stopped with the session; for a
   * `credentials: "per-user"` server the connection of the session's user (rejects with a
   * GrantRequiredError while the user has no grant). The shared one is returned as it is, not in a
   * promise: this is on the path of every call.
   */
  forSession (name: string, sessionId: string, user = ANONYMOUS_USER): Server | undefined | Promise<Server> {
    const shared = this.backends.get(name)
    if (shared?.config.credentials === 'per-user') return this.users.get(name, shared.config, user)
    if (!shared || shared.config.sessionMode !== 'per-client') return shared
    let own = this.perSession.get(sessionId)
    if (!own) { own = new Map(); this.perSession.set(sessionId, own) }
    let backend = own.get(name)
    if (!backend) {
      backend = (async () => {
        const { replicas: _replicas, urls, ...own } = shared.config
        const created = this.createOwn(name, { ...own, url: own.url ?? urls?.[0], restart: { ...own.restart, maxRetries: 0 } })
        this.sessionOf.set(created, sessionId)
        await created.start()
        return created
      })()
      own.set(name, backend)
    }
    return backend
  }

  /** The gateway user a per-user connection belongs to. */
  userOf (backend: Server): string | undefined {
    return this.users.userOf(backend)
  }

  /** The client session a per-client connection belongs to. */
  ownerOf (backend: Server): string | undefined {
    return this.sessionOf.get(backend)
  }

  /** Stops the per-client connections of a session that ended. */
  async releaseSession (sessionId: string): Promise<void> {
    const own = this.perSession.get(sessionId)
    if (!own) return
    this.perSession.delete(sessionId)
    await Promise.all([...own.values()].map(async (b) => (await b).stop()))
  }

  async close (): Promise<void> {
    await Promise.all([...this.perSession.keys()].map((id) => this.releaseSession(id)).concat(this.users.release()))
    const all = [...this.backends.values()]
    this.backends.clear()
    await Promise.all(all.map((b) => b.stop()))
  }
}
