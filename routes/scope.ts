import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Scope } from '../mcp/scope.js'
import { DEFAULTS, ownEntry } from '../schemas/config.js'
import { anyOfTags, compileTagFilter, type TagFilter } from '../mcp/tag-filter.js'
import { TagFilterError } from '../mcp/errors.js'
import { ScopeError } from './errors.js'

function queryString (query: Record<string, unknown>, key: string): string | undefined {
  const value = Object.hasOwn(query, key) ? query[key] : undefined
  if (Array.isArray(value)) throw new ScopeError(`?${key}= may be given once`, 400)
  return typeof value === 'string' ? value : undefined
}

/**
 * Whether the connection is in discovery mode (docs/discovery.md): `?discovery=search|none`, else the
 * `discovery` of the `?preset=` it names.
 */
function discoveryMode (app: FastifyInstance, query: Record<string, unknown>): Pick<Scope, 'discovery'> {
  const asked = queryString(query, 'discovery')
  if (asked !== undefined && asked !== 'search' && asked !== 'none') throw new ScopeError(`?discovery= must be "search" or "none", not '${asked}'`, 400)
  const presetName = queryString(query, 'preset')
  const mode = asked ?? (presetName === undefined ? undefined : ownEntry(app.gatewayConfig.current.presets, presetName)?.discovery) ?? DEFAULTS.preset.discovery
  return mode === 'search' ? { discovery: 'search' } : {}
}

/** The tag filters a request's query asks for: `?tags=a,b` (any of), `?tag-filter=EXPR`, `?preset=NAME`. */
export function queryFilters (app: FastifyInstance, query: Record<string, unknown>): TagFilter[] {
  const filters: TagFilter[] = []
  const tags = queryString(query, 'tags')?.split(',').map((t) => t.trim()).filter(Boolean) ?? []
  if (tags.length) filters.push(anyOfTags(tags))
  const expression = queryString(query, 'tag-filter')
  if (expression !== undefined) filters.push(compileOrThrow(expression, '?tag-filter='))
  const presetName = queryString(query, 'preset')
  if (presetName !== undefined) {
    const preset = ownEntry(app.gatewayConfig.current.presets, presetName)
    if (!preset) {
      const known = Object.keys(app.gatewayConfig.current.presets ?? {})
      throw new ScopeError(`no preset named '${presetName}'${known.length ? ` (known: ${known.join(', ')})` : ''}`, 400)
    }
    filters.push(compileOrThrow(preset.filter, `preset '${presetName}'`))
  }
  return filters
}

function compileOrThrow (source: string, where: string): TagFilter {
  try {
    return compileTagFilter(source)
  } catch (err) {
    if (err instanceof TagFilterError) throw new ScopeError(`${where}: ${err.message}`, 400)
    throw err
  }
}

/**
 * `/mcp/<server>`: that server alone, if it is enabled. Whether the token may see it was decided
 * before (plugins/auth.ts answers 403 for a server its grants do not cover).
 */
function singleScope (app: FastifyInstance, server: string): Scope {
  const config = ownEntry(app.gatewayConfig.current.mcpServers, server)
  if (!config || config.disabled) {
    throw new ScopeError(`no server named '${server}' is available`, 404)
  }
  return { single: server }
}

/**
 * What a new session may see: `/mcp/<server>` is that server alone; `/mcp` is every server,
 * narrowed by the query's tag filters (all must match) and by the token's scopes.
 */
export function buildScope (app: FastifyInstance, request: FastifyRequest<{ Params: { server?: string } }>): Scope {
  const auth = request.auth
  const tagsOf = (backend: string) => ownEntry(app.gatewayConfig.current.mcpServers, backend)?.tags ?? []
  const server = request.params.server
  const query = (request.query ?? {}) as Record<string, unknown>
  const discovery = discoveryMode(app, query)
  if (server !== undefined) return { ...singleScope(app, server), ...discovery }
  const filters = queryFilters(app, query)
  if (filters.length === 0 && !auth) return discovery
  const byAuth = auth ? (backend: string) => auth.admitsTags(tagsOf(backend)) : () => true
  return {
    ...discovery,
    filterKey: `filter=${filters.map((f) => `(${f.canonical})`).join(' and ')};scopes=${auth?.scopes.join(' ') ?? '*'}`,
    admits: (backend) => byAuth(backend) && filters.every((f) => f.matches(tagsOf(backend)))
  }
}

/**
 * Who a session belongs to: the token's subject, client and scopes. A session is used only with a
 * token that matches all three, so neither another client of the same user nor a token with other
 * scopes can take over a session (whose view was fixed when it started).
 */
export function sessionOwner (request: FastifyRequest): string | undefined {
  const auth = request.auth
  return auth ? `${auth.subject}\n${auth.clientId}\n${[...auth.scopes].sort().join(' ')}` : undefined
}

/**
 * Whose budget a session or stream counts against (sessions.maxPerClient): the token's subject and
 * client, so one client cannot take every session of the gateway. Nothing when auth is off.
 */
export function sessionClient (request: FastifyRequest): string | undefined {
  const auth = request.auth
  return auth ? `${auth.subject}\n${auth.clientId}` : undefined
}
