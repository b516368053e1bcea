import { createHash } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import type { ServerCapabilities, ServerContext, StandardSchemaV1 } from '@modelcontextprotocol/server'
import type { Server as Backend } from '../backends/server.js'

// The 2026-07-28 generation's protocol parts beside routes/stateless.ts: which POSTs belong to it, the
// methods it serves, what the gateway offers, and what its requestState carries.

/** The stateless protocol generation, served beside the 2025 one on the same endpoints. */
const PROTOCOL_META = 'io.modelcontextprotocol/protocolVersion'
const DATED_VERSION = /^\d{4}-\d{2}-\d{2}$/

export type Params = Record<string, unknown>

/**
 * Whether a POST belongs to the 2026-07-28 generation: it has no session and claims a protocol
 * version per request (in `_meta`, or a dated `MCP-Protocol-Version` of 2026 or later). Everything
 * else is the 2025 generation, which starts with `initialize`.
 */
export function isStatelessPost (headers: FastifyRequest['headers'], body: unknown): boolean {
  if (headers['mcp-session-id'] !== undefined) return false
  if (isStatelessHeader(headers)) return true
  const meta = ((body as { params?: { _meta?: unknown } } | null)?.params)?._meta
  return meta !== null && typeof meta === 'object' && Object.hasOwn(meta, PROTOCOL_META)
}

/** A dated `MCP-Protocol-Version` header of the stateless generation. */
export function isStatelessHeader (headers: FastifyRequest['headers']): boolean {
  const version = headers['mcp-protocol-version']
  return typeof version === 'string' && DATED_VERSION.test(version) && version >= '2026'
}

export function webHeaders (incoming: FastifyRequest['headers']): Headers {
  const headers = new Headers()
  for (const [name, value] of Object.entries(incoming)) {
    if (typeof value === 'string') headers.set(name, value)
    else if (Array.isArray(value)) headers.set(name, value.join(', '))
  }
  return headers
}

/** The methods of the tasks extension (SEP-2663) a 2026 client sends about a task. */
export const TASK_METHODS = ['tasks/get', 'tasks/update', 'tasks/cancel'] as const
/** the skills extension (SEP-2640), passed through from a backend that offers it */
export const SKILLS_EXTENSION = 'io.modelcontextprotocol/skills'
export const SKILL_METHODS = ['skills/list', 'skills/get', 'resources/directory/read'] as const

/** the methods of the protocol itself that the gateway answers for 2026 clients */
export const CORE_METHODS = ['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list', 'tools/call', 'prompts/get', 'resources/read', 'completion/complete']

export function extensionsOf (backend: Backend | undefined): Record<string, unknown> {
  return (backend?.capabilities as { extensions?: Record<string, unknown> } | undefined)?.extensions ?? {}
}

/** Params passed through as they are: the backend validates them. */
export const ANY_PARAMS: StandardSchemaV1<Params, Params> = {
  '~standard': { version: 1, vendor: '1mcp', validate: (value: unknown) => ({ value: (value ?? {}) as Params }) }
}

/** What a gateway `requestState` carries: a call parked here, or the backend's own state to hand back to it. */
export interface StatePayload {
  /** the parked call (a 2025 backend waiting on the client's input) */
  k?: string
  /** the backend's own requestState (a 2026 backend) */
  s?: string
}

/** A retry's params for a 2026 backend: the client's answers and the backend's own state, as the backend asked. */
export function withInput (params: Params, inputResponses: Record<string, unknown> | undefined, backendState: string | undefined): Params {
  if (inputResponses === undefined && backendState === undefined) return params
  return { ...params, ...(inputResponses ? { inputResponses } : {}), ...(backendState === undefined ? {} : { requestState: backendState }) }
}

/** Who may resume a flow: a hash of the session owner (the token's subject, client and scopes). */
export function principal (ctx: ServerContext): string {
  const owner = (ctx.http?.authInfo?.extra as { owner?: string } | undefined)?.owner ?? ''
  return `${ctx.mcpReq.method}\n${createHash('sha256').update(owner).digest('base64url')}`
}

/** What the gateway offers a 2026 client: its own lists, or on `/mcp/<server>` the backend's capabilities on top (never logging or 2025 tasks). */
export function gatewayCapabilities (backend: ServerCapabilities | undefined): ServerCapabilities {
  if (!backend) {
    return { tools: { listChanged: true }, prompts: { listChanged: true }, resources: { subscribe: true, listChanged: true }, completions: {} }
  }
  const { logging: _logging, tasks: _tasks, ...rest } = backend as ServerCapabilities & { tasks?: unknown }
  return { tools: { listChanged: true }, prompts: { listChanged: true }, resources: { subscribe: true, listChanged: true }, completions: {}, ...rest }
}
