import type { FastifyRequest } from 'fastify'
import { debugOn } from '../request-logger.js'

export type AuditOutcome = 'allowed' | 'denied' | 'issued' | 'refused' | 'revoked' | 'registered' | 'failed' | 'succeeded'

/** Logs one auth decision (never a secret): refusals as warnings, the rest as info. */
export function audit (request: FastifyRequest, event: string, outcome: AuditOutcome, fields: Record<string, unknown> = {}): void {
  // an allowed MCP request is the common case: one debug line, like the call itself (routes/mcp.ts),
  // and nothing gathered for it when debug is off
  const routine = event === 'access' && outcome === 'allowed'
  if (routine && !debugOn(request.log)) return
  const entry = { plugin: 'auth', audit: event, outcome, ip: request.ip, path: request.url.split('?')[0], ...fields }
  if (outcome === 'denied' || outcome === 'refused' || outcome === 'failed') request.log.warn(entry, `auth ${event}: ${outcome}`)
  else if (routine) request.log.debug(entry, `auth ${event}: ${outcome}`)
  else request.log.info(entry, `auth ${event}: ${outcome}`)
}
