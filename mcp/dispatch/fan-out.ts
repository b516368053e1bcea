import type { Notification } from '@modelcontextprotocol/client'
import type { Server as Backend } from '../../backends/server.js'
import { admits } from '../scope.js'
import { LIST_CHANGED_NOTIFICATION, type Kind } from '../capability-names.js'
import { LOG_LEVELS, type Session } from '../session.js'
import { TASK_STATUS_NOTIFICATION } from '../tasks.js'
import type { DispatchDeps, Params } from './deps.js'
import { subscriptionKey, type Relay } from './relay.js'

/** A backend's notifications, to the sessions they concern and only those; list changes, coalesced. */
export class FanOut {
  private readonly pendingListChanges = new Map<Session, Set<string>>()
  private flushScheduled = false

  constructor (
    private readonly deps: DispatchDeps,
    private readonly relay: Relay,
    /** a task's status notification, to the session that created the task */
    private readonly taskStatus: (backend: Backend, owner: string | undefined, notification: Notification) => void
  ) {}

  /**
   * Whether a log message from `backend` would reach any client now: a per-client connection's
   * session is open, or a session listens to the backend's logs, or a call to it is in flight (its
   * caller may get the backend's messages on the call's stream). The backend drops the others.
   */
  hearsLogs (backend: Backend): boolean {
    const owner = this.deps.backends.ownerOf(backend)
    if (owner !== undefined) return this.deps.sessions.context(owner) !== undefined
    for (const session of this.deps.sessions.all()) {
      if (session.logLevel && session.standalone && admits(session.scope, backend.name)) return true
      for (const call of session.inflight.values()) if (call.backend === backend.name) return true
    }
    return false
  }

  /** A notification from a backend: to the sessions it concerns, and only those. */
  backendNotification (backend: Backend, notification: Notification): void {
    const params = (notification.params ?? {}) as Params
    const owner = this.deps.backends.ownerOf(backend)
    if (notification.method === TASK_STATUS_NOTIFICATION) {
      this.taskStatus(backend, owner, notification)
      return
    }
    if (owner !== undefined) {
      this.toOwner(owner, backend.name, notification)
      return
    }
    const user = this.deps.backends.userOf(backend)
    if (user !== undefined) {
      this.toUser(user, backend.name, notification)
      return
    }
    switch (notification.method) {
      case 'notifications/resources/updated':
        this.resourceUpdated(backend.name, params)
        return
      case 'notifications/message':
        this.logMessage(backend.name, notification, params)
        return
      default:
        if (notification.method.endsWith('/list_changed')) return
        this.toSoleCaller(backend.name, notification)
    }
  }

  /** A per-user connection's notification: to that user's sessions only (the resource's subscribers, else the one calling). */
  private toUser (user: string, backend: string, notification: Notification): void {
    if (notification.method.endsWith('/list_changed')) return
    const theirs = (session: Session) => session.user === user
    if (notification.method === 'notifications/resources/updated') this.resourceUpdated(backend, (notification.params ?? {}) as Params, theirs)
    else this.toSoleCaller(backend, notification, theirs)
  }

  /** To each session subscribed to the resource, under the URI it subscribed with. */
  private resourceUpdated (backend: string, params: Params, concerned: (session: Session) => boolean = () => true): void {
    const key = subscriptionKey(backend, String(params.uri))
    for (const session of this.deps.sessions.all()) {
      if (!concerned(session)) continue
      const subscribed = session.subscriptions.get(key)
      if (subscribed) session.notify({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { ...params, uri: subscribed.uri } })
    }
  }

  private logMessage (backend: string, notification: Notification, params: Params): void {
    if (this.toSoleCaller(backend, notification)) return
    const severity = LOG_LEVELS.indexOf(String(params.level))
    for (const session of this.deps.sessions.all()) {
      if (!session.logLevel || !admits(session.scope, backend)) continue
      if (severity >= LOG_LEVELS.indexOf(session.logLevel)) session.notify({ jsonrpc: '2.0', method: notification.method, params })
    }
  }

  /** A per-client connection's notification: to its session only (its call's stream, else its GET stream). */
  toOwner (sessionId: string, backend: string, notification: Notification): void {
    const session = this.deps.sessions.context(sessionId)
    if (!session || notification.method.endsWith('/list_changed')) return
    let params = notification.params as Params | undefined
    if (notification.method === 'notifications/resources/updated' && !session.scope.single) {
      const original = String(params?.uri)
      params = { ...params, uri: session.subscriptions.get(subscriptionKey(backend, original))?.uri ?? this.deps.capabilities.exposeUri(backend, original) }
    }
    const message = { jsonrpc: '2.0' as const, method: notification.method, params }
    const call = [...session.inflight.values()].reverse().find((c) => c.backend === backend && !c.channel.closed)
    if (call) call.channel.send(message)
    else session.notify(message)
  }

  /** Sends to the stream of the only session calling `backend`; false when there is not exactly one. */
  private toSoleCaller (backend: string, notification: Notification, concerned: (session: Session) => boolean = () => true): boolean {
    const callers = this.relay.sessionsCalling(backend).filter(([session]) => concerned(session))
    if (callers.length !== 1) return false
    const [session, call] = callers[0]
    if (notification.method === 'notifications/message' && session.logLevel) {
      const level = String((notification.params as Params | undefined)?.level)
      if (LOG_LEVELS.indexOf(level) < LOG_LEVELS.indexOf(session.logLevel)) return true
    }
    call.channel.send({ jsonrpc: '2.0', method: notification.method, params: notification.params as Params })
    return true
  }

  /**
   * Tells each session whose view changed that its lists changed: once per kind, after the backend
   * set and the index have settled, so a reload that starts several servers sends one notification.
   */
  listsChanged (kinds: Kind[], backends: string[]): void {
    const methods = kinds.map((k) => LIST_CHANGED_NOTIFICATION[k])
    for (const session of this.deps.sessions.all()) {
      if (!session.initialized || !backends.some((b) => admits(session.scope, b))) continue
      const pending = this.pendingListChanges.get(session) ?? new Set()
      for (const method of methods) pending.add(method)
      this.pendingListChanges.set(session, pending)
    }
    if (this.pendingListChanges.size === 0 || this.flushScheduled) return
    this.flushScheduled = true
    void this.flushListChanges()
  }

  private async flushListChanges (): Promise<void> {
    await this.deps.backends.settled().catch(() => {})
    await this.deps.capabilities.settled()
    this.flushScheduled = false
    for (const [session, methods] of this.pendingListChanges) {
      for (const method of methods) session.notify({ jsonrpc: '2.0', method })
    }
    this.pendingListChanges.clear()
  }
}
