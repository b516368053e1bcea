import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Scope } from '../plugins/capabilities.js'

export class ScopeError extends Error {
  constructor (message: string, readonly statusCode: number) {
    super(message)
    this.name = 'ScopeError'
  }
}

/** `/mcp/<server>`: that server alone, if it is enabled and the token may see it. */
function singleScope (app: FastifyInstance, server: string, auth: FastifyRequest['auth']): Scope {
  const config = app.gatewayConfig.current.mcpServers[server]
  if (!config || config.disabled || (auth && !auth.admitsTags(config.tags ?? []))) {
    throw new ScopeError(`no server named '${server}' is available`, 404)
  }
  return { single: server }
}

/**
 * What a new session may see: `/mcp/<server>` is that server alone; `/mcp` is every server,
 * narrowed by `?tags=a,b` (servers carrying any of them) and by the token's scopes.
 */
export function buildScope (app: FastifyInstance, request: FastifyRequest<{ Params: { server?: string } }>): Scope {
  const auth = request.auth
  const tagsOf = (backend: string) => app.gatewayConfig.current.mcpServers[backend]?.tags ?? []
  const server = request.params.server
  if (server !== undefined) return singleScope(app, server, auth)
  const query = request.query as Record<string, unknown>
  const tags = typeof query.tags === 'string' ? query.tags.split(',').map((t) => t.trim()).filter(Boolean) : []
  if (tags.length === 0 && !auth) return {}
  const byTags = tags.length ? (backend: string) => tagsOf(backend).some((t) => tags.includes(t)) : () => true
  const byAuth = auth ? (backend: string) => auth.admitsTags(tagsOf(backend)) : () => true
  return {
    filterKey: `tags=${tags.join(',')};scopes=${auth?.scopes.join(' ') ?? '*'}`,
    admits: (backend) => byTags(backend) && byAuth(backend)
  }
}
