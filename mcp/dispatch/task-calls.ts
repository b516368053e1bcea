import type { Notification, RequestId, Result } from '@modelcontextprotocol/client'
import type { Server as Backend } from '../../backends/server.js'
import { RpcCode, RpcError } from '../../backends/errors.js'
import { admits, type Scope } from '../scope.js'
import type { Channel, Session } from '../session.js'
import { exposeToolResult } from '../result-uris.js'
import { createdTask, isStateless, MAX_TASK_LIST_PAGES, TASKS_EXTENSION, TaskRegistry } from '../tasks.js'
import type { DispatchDeps, Params } from './deps.js'
import { requireString, type Relay } from './relay.js'

/** A 2026 client reaches tasks only when it declared the tasks extension (SEP-2663); a 2025 session always may. */
function checkTasksNegotiated (session: Session): void {
  if (!isStateless(session)) return
  const extensions = (session.clientCapabilities as { extensions?: Record<string, unknown> }).extensions
  if (extensions?.[TASKS_EXTENSION]) return
  throw new RpcError(RpcCode.MissingClientCapability, `the client did not declare the ${TASKS_EXTENSION} extension`, { requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } } })
}

function isPlainObject (value: unknown): value is Params {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** A deep union of two capability objects. */
function mergeObjects (a: Params, b: Params): Params {
  const merged: Params = { ...a }
  for (const [key, value] of Object.entries(b)) {
    const mine = merged[key]
    merged[key] = isPlainObject(mine) && isPlainObject(value) ? mergeObjects(mine, value) : value
  }
  return merged
}

/** Tool calls and the tasks they start: where each task lives and who may reach it. */
export class TaskCalls {
  private readonly tasks = new TaskRegistry()

  constructor (private readonly deps: DispatchDeps, private readonly relay: Relay) {}

  /** A tool call's result: a task it started (2025-11-25 `params.task`, or a 2026 backend's task) is remembered with its backend. */
  created (session: Session, backend: string | undefined, result: Result): void {
    const task = createdTask(result)
    if (task && backend) this.tasks.track(session, backend, this.deps.backends.get(backend)?.config.sessionMode !== 'per-client', task)
  }

  /** `tasks/get`, `tasks/result`, `tasks/cancel` (and the 2026 extension's `tasks/update`): to the backend that holds the task. */
  async taskRequest (session: Session, id: RequestId, method: string, params: Params, channel: Channel): Promise<Result> {
    // tasks/update is the 2026 extension's; the 2025 generation has no such method
    if (method === 'tasks/update' && !isStateless(session)) throw new RpcError(RpcCode.MethodNotFound, `method not found: ${method}`)
    checkTasksNegotiated(session)
    const taskId = requireString(params, 'taskId')
    const entry = this.tasks.resolve(session, taskId, this.visibleBackends(session.scope))
    // tasks/result waits for the task to finish: as long as the task may live, not one request's timeout
    const options = method === 'tasks/result' ? { timeoutMs: Math.max(1, entry.expiresAt - Date.now()) } : {}
    const result = await this.relay.forward(session, id, entry.backend, method, params, channel, false, options)
    if (method !== 'tasks/update') this.tasks.status(entry, method === 'tasks/get' ? result.status : 'completed')
    // a task's result is the tool's result
    const expose = method === 'tasks/result' ? this.relay.exposer(session, entry.backend) : undefined
    return expose ? exposeToolResult(result, expose) : result
  }

  /**
   * The session's own tasks: on `/mcp/<server>` the backend's page (its cursor passed through); on
   * `/mcp` one merged page of the backends the session has tasks on (up to MAX_TASK_LIST_PAGES each).
   * A connection shared by all sessions lists every session's tasks: each sees only its own.
   */
  async listTasks (session: Session, id: RequestId, params: Params, channel: Channel): Promise<Result> {
    checkTasksNegotiated(session)
    const single = session.scope.single
    if (single) {
      const page = await this.relay.forward(session, id, single, 'tasks/list', params, channel)
      return { ...page, tasks: this.ownTasks(session, single, page.tasks) }
    }
    if (params.cursor !== undefined) throw new RpcError(RpcCode.InvalidParams, 'invalid cursor: tasks/list on the aggregated endpoint answers in one page')
    const tasks: unknown[] = []
    for (const backend of this.tasks.backendsOf(session)) {
      if (admits(session.scope, backend) && this.deps.backends.get(backend)?.capabilities.tasks?.list) tasks.push(...await this.backendTasks(session, id, backend, channel))
    }
    return { tasks }
  }

  /** The session's tasks on one backend, from up to MAX_TASK_LIST_PAGES pages of its list. */
  private async backendTasks (session: Session, id: RequestId, backend: string, channel: Channel): Promise<unknown[]> {
    const tasks: unknown[] = []
    let cursor: unknown
    for (let page = 0; page < MAX_TASK_LIST_PAGES && (page === 0 || cursor !== undefined); page++) {
      const result = await this.relay.forward(session, id, backend, 'tasks/list', cursor === undefined ? {} : { cursor }, channel)
      tasks.push(...this.ownTasks(session, backend, result.tasks))
      cursor = result.nextCursor
    }
    return tasks
  }

  private ownTasks (session: Session, backend: string, tasks: unknown): unknown[] {
    if (!Array.isArray(tasks)) return []
    return tasks.filter((task: { taskId?: unknown }) => typeof task?.taskId === 'string' && this.tasks.owns(session, backend, task.taskId))
  }

  /** Which session a backend's `notifications/tasks/status` is for: the one that created the task (its id), if any. */
  statusOwner (backend: Backend, owner: string | undefined, notification: Notification): string | undefined {
    const taskOwner = this.tasks.notified(backend.name, (notification.params ?? {}) as Params, owner)
    return taskOwner?.startsWith('s:') ? taskOwner.slice(2) : undefined
  }

  /** The tasks a closed session left running on shared connections are cancelled: nobody can reach them any more. */
  cancelTasksOf (session: Session): void {
    for (const task of this.tasks.sessionClosed(session)) {
      const backend = this.deps.backends.get(task.backend)
      if (backend?.state === 'ready' && backend.capabilities.tasks?.cancel) void backend.request('tasks/cancel', { taskId: task.taskId }).catch(() => {})
    }
  }

  /** The backends a scope sees. */
  private visibleBackends (scope: Scope): string[] {
    if (scope.single) return [scope.single]
    return [...this.deps.backends.all()].map((b) => b.name).filter((name) => admits(scope, name))
  }

  /** The aggregated endpoint declares tasks when a backend it shows does: the union of what they declare. */
  capability (scope: Scope): { tasks?: Params } {
    let merged: Params | undefined
    for (const backend of this.deps.backends.all()) {
      const tasks = backend.state === 'ready' && admits(scope, backend.name) ? backend.capabilities.tasks as Params | undefined : undefined
      if (tasks) merged = mergeObjects(merged ?? {}, tasks)
    }
    return merged ? { tasks: merged } : {}
  }
}
