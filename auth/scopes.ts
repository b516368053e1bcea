/**
 * Scopes are tags. `mcp` grants every server; `tag:<tag>` grants the servers carrying that tag.
 * A token sees the union of what its scopes grant; a token with neither (e.g. only `openid`)
 * reaches no MCP endpoint at all: 403 insufficient_scope.
 */
export const ALL_SERVERS_SCOPE = 'mcp'
export const TAG_PREFIX = 'tag:'

const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/

export function parseScope (scope: string | undefined): string[] {
  if (!scope) return []
  return [...new Set(scope.split(' ').filter(Boolean))]
}

export function isScopeToken (value: string): boolean {
  return SCOPE_TOKEN.test(value)
}

/** Whether a scope is one this gateway understands for its MCP endpoints. */
export function isGatewayScope (scope: string): boolean {
  return scope === ALL_SERVERS_SCOPE || (scope.startsWith(TAG_PREFIX) && scope.length > TAG_PREFIX.length)
}

/** What a set of scopes grants, precomputed once per token so each check is cheap. */
export interface Grant {
  all: boolean
  tags: ReadonlySet<string>
}

export function grantOf (scopes: string[]): Grant {
  const tags = new Set<string>()
  let all = false
  for (const scope of scopes) {
    if (scope === ALL_SERVERS_SCOPE) all = true
    else if (scope.startsWith(TAG_PREFIX)) tags.add(scope.slice(TAG_PREFIX.length))
  }
  return { all, tags }
}

export function grantsAnything (grant: Grant): boolean {
  return grant.all || grant.tags.size > 0
}

export function admitsTags (grant: Grant, tags: string[]): boolean {
  if (grant.all) return true
  for (const tag of tags) if (grant.tags.has(tag)) return true
  return false
}

/** `mcp` and one `tag:<tag>` per tag in use, sorted: what the metadata documents list. */
export function scopesSupported (servers: Record<string, { tags?: string[], disabled?: boolean }>): string[] {
  const tags = new Set<string>()
  for (const server of Object.values(servers)) for (const tag of server.tags ?? []) tags.add(tag)
  return [ALL_SERVERS_SCOPE, ...[...tags].sort().map((t) => TAG_PREFIX + t)]
}
