import type { Result } from '@modelcontextprotocol/client'
import { RpcCode, RpcError } from '../backends/errors.js'
import type { Session } from './session.js'

type Params = Record<string, unknown>

export const TASK_STATUS_NOTIFICATION = 'notifications/tasks/status'
/** The 2026-07-28 tasks extension (SEP-2663). */
export const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks'
/** tasks the gateway remembers at once; the oldest is forgotten first */
export const MAX_TRACKED_TASKS = 10_000
/** how long a task without a ttl (or with a longer one) stays reachable through the gateway */
export const MAX_TASK_TTL_MS = 24 * 3600_000
/** how long a finished task's result stays reachable through the gateway (within its ttl) */
export const FINISHED_TASK_GRACE_MS = 5 * 60_000
/** pages of a backend's `tasks/list` read for one `tasks/list` of the aggregated endpoint */
export const MAX_TASK_LIST_PAGES = 10

const TERMINAL = new Set(['completed', 'failed', 'cancelled'])

export interface TrackedTask {
  backend: string
  taskId: string
  owner: string
  /** the shared connection's index key, when the backend connection is shared by all sessions */
  shared?: string
  expiresAt: number
  /** the task has reached a terminal status */
  done?: boolean
}

/**
 * Who may reach a task: the 2025 session that created it, or for the stateless 2026 generation
 * (one short-lived session per request) the principal that created it.
 */
export function taskOwner (session: Session): string {
  return isStateless(session) ? `p:${session.owner ?? ''}` : `s:${session.id}`
}

/** A session of the stateless generation (2026-07-28 and later): it lives for one request. */
export function isStateless (session: Session): boolean {
  return session.protocolVersion >= '2026'
}

/** The task a `tools/call` answer created: the 2025 `{ task }` envelope or the flat 2026 `resultType: "task"` result. */
export function createdTask (result: Result): { taskId: string, ttl?: unknown, status?: unknown } | undefined {
  const nested = (result as { task?: { taskId?: unknown } }).task
  if (nested && typeof nested.taskId === 'string') return nested as { taskId: string }
  const flat = result as { resultType?: unknown, taskId?: unknown, ttlMs?: unknown, status?: unknown }
  if (flat.resultType === 'task' && typeof flat.taskId === 'string') return { taskId: flat.taskId, ttl: flat.ttlMs, status: flat.status }
  return undefined
}

/** Which backend each task lives on and who may reach it: bounded in count and in time. */
export class TaskRegistry {
  private readonly tasks = new Map<string, TrackedTask>()
  /** `backend\0taskId` → key, for the notifications of shared connections */
  private readonly sharedIndex = new Map<string, string>()

  /** Remembers a task a session created on `backend` (`shared`: one connection serves every session). */
  track (session: Session, backend: string, shared: boolean, task: { taskId: string, ttl?: unknown, status?: unknown }): void {
    const owner = taskOwner(session)
    const key = `${owner}\0${backend}\0${task.taskId}`
    const ttl = typeof task.ttl === 'number' && task.ttl > 0 ? Math.min(task.ttl, MAX_TASK_TTL_MS) : MAX_TASK_TTL_MS
    this.forget(key)
    while (this.tasks.size >= MAX_TRACKED_TASKS) this.forget(this.tasks.keys().next().value as string)
    const entry: TrackedTask = { backend, taskId: task.taskId, owner, expiresAt: Date.now() + ttl }
    if (shared) {
      entry.shared = `${backend}\0${task.taskId}`
      this.sharedIndex.set(entry.shared, key)
    }
    this.tasks.set(key, entry)
    if (TERMINAL.has(String(task.status))) this.finished(entry)
  }

  /** The backend of a task the session may reach, among `backends`; an unknown or foreign task is an InvalidParams error. */
  resolve (session: Session, taskId: string, backends: Iterable<string>): TrackedTask {
    const owner = taskOwner(session)
    for (const backend of backends) {
      const entry = this.live(`${owner}\0${backend}\0${taskId}`)
      if (entry) return entry
    }
    throw new RpcError(RpcCode.InvalidParams, `unknown task: ${taskId} (a task is reachable only by the session that created it, until its ttl ends)`, { taskId })
  }

  /** Whether the session may see this task of `backend` (filters a shared connection's `tasks/list`). */
  owns (session: Session, backend: string, taskId: string): boolean {
    return this.live(`${taskOwner(session)}\0${backend}\0${taskId}`) !== undefined
  }

  /** Backends the session has tasks on. */
  backendsOf (session: Session): Set<string> {
    const owner = taskOwner(session)
    const found = new Set<string>()
    for (const entry of this.tasks.values()) if (entry.owner === owner && entry.expiresAt > Date.now()) found.add(entry.backend)
    return found
  }

  /** A task's status as a backend reported it: a finished task is kept a short while for its result. */
  status (entry: TrackedTask, status: unknown): void {
    if (TERMINAL.has(String(status))) this.finished(entry)
  }

  /**
   * A backend's status notification: the owner of the task it names (undefined when the gateway
   * does not know it). `sessionId` is the owner of a per-client connection.
   */
  notified (backend: string, params: Params, sessionId: string | undefined): string | undefined {
    const taskId = String(params.taskId)
    const key = sessionId === undefined ? this.sharedIndex.get(`${backend}\0${taskId}`) : `s:${sessionId}\0${backend}\0${taskId}`
    const entry = key === undefined ? undefined : this.live(key)
    if (!entry) return undefined
    this.status(entry, params.status)
    return entry.owner
  }

  /** A 2025 session ended: its tasks are forgotten; those still running on shared connections are returned (to cancel). */
  sessionClosed (session: Session): TrackedTask[] {
    if (isStateless(session)) return []
    const owner = taskOwner(session)
    const running: TrackedTask[] = []
    for (const [key, entry] of this.tasks) {
      if (entry.owner !== owner) continue
      if (entry.shared && !entry.done && entry.expiresAt > Date.now()) running.push(entry)
      this.forget(key)
    }
    return running
  }

  get size (): number { return this.tasks.size }

  private finished (entry: TrackedTask): void {
    entry.done = true
    entry.expiresAt = Math.min(entry.expiresAt, Date.now() + FINISHED_TASK_GRACE_MS)
  }

  private live (key: string): TrackedTask | undefined {
    const entry = this.tasks.get(key)
    if (!entry || entry.expiresAt > Date.now()) return entry
    this.forget(key)
    return undefined
  }

  private forget (key: string): void {
    const entry = this.tasks.get(key)
    if (!entry) return
    this.tasks.delete(key)
    if (entry.shared && this.sharedIndex.get(entry.shared) === key) this.sharedIndex.delete(entry.shared)
  }
}

/** `params.task` of a task-augmented request, when present, is an object with an optional numeric ttl. */
export function checkTaskParam (params: Params): void {
  const task = params.task
  if (task === undefined) return
  const ttl = (task as { ttl?: unknown } | null)?.ttl
  if (task === null || typeof task !== 'object' || Array.isArray(task) || (ttl !== undefined && ttl !== null && typeof ttl !== 'number')) {
    throw new RpcError(RpcCode.InvalidParams, 'params.task must be an object with an optional numeric ttl')
  }
}
