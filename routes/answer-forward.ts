import type { FastifyRequest } from 'fastify'

/** Marks an answer one instance passed on to another: it is never passed on again. */
export const FORWARDED_HEADER = 'x-1mcp-forwarded-answer'

/**
 * A client's answer to a request another instance sent it (sampling, elicitation, roots: the call
 * that raised it waits there), passed on to that instance as the client sent it. The address comes
 * from the answer's id, sealed with the session key, so no client can point the gateway elsewhere.
 * Resolves with whether the owner took it.
 */
export async function forwardAnswer (request: FastifyRequest, owner: string, body: unknown): Promise<boolean> {
  if (request.headers[FORWARDED_HEADER] !== undefined) return false
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', [FORWARDED_HEADER]: '1' }
  for (const name of ['authorization', 'mcp-session-id', 'mcp-protocol-version']) {
    const value = request.headers[name]
    if (typeof value === 'string') headers[name] = value
  }
  const target = new URL(request.url, owner)
  try {
    const response = await fetch(target, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) })
    await response.body?.cancel()
    return response.ok
  } catch (err) {
    request.log.warn({ owner: target.origin, error: (err as Error).message }, 'could not pass a client answer on to the instance that waits for it')
    return false
  }
}
