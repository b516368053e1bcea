import type { JSONRPCMessage, Result } from '@modelcontextprotocol/client'

/** Where a backend's task result rides inside a result the SDK accepts. */
const CARRIER = 'io.1mcp/taskResult'

function isTaskResult (value: unknown): value is Result {
  return value !== null && typeof value === 'object' && (value as { resultType?: unknown }).resultType === 'task'
}

/**
 * The v2 SDK client refuses a 2026-07-28 result whose `resultType` it does not know, and the tasks
 * extension (SEP-2663) answers a task-creating `tools/call` with `resultType: "task"`: such a result
 * is carried inside a complete one on its way through the SDK, and taken out again by `uncarried`.
 */
export function carryTaskResult (message: JSONRPCMessage): JSONRPCMessage {
  const result = (message as { result?: unknown }).result
  return isTaskResult(result) ? { ...message, result: { resultType: 'complete', content: [], [CARRIER]: result } } as JSONRPCMessage : message
}

/** The task result a response carried, or the response itself. */
export function uncarried (result: Result): Result {
  const carried = (result as Record<string, unknown>)[CARRIER]
  return isTaskResult(carried) ? carried : result
}
