/**
 * The RFC 8707 resources of this gateway and what a token issued for one reaches. A resource is a
 * URL under the base URL, named here by its path: `''` for the base itself, `/mcp`, `/mcp/alpha`.
 */

/**
 * Audiences that reach whatever the token's scopes grant: the base, `/mcp`, and `/sse` (the `/mcp`
 * of the legacy transport, whose messages go to `/messages`).
 */
const GENERAL = new Set(['', '/', '/mcp', '/sse'])

/** The path a resource URL names under `base`, or undefined when it is not under it. */
export function pathUnder (base: string, resource: string): string | undefined {
  if (resource === base) return ''
  return resource.startsWith(base + '/') ? resource.slice(base.length) : undefined
}

/** Whether a token whose audience is the resource at `audience` may be used on `requestPath`. */
export function audienceAdmits (audience: string, requestPath: string): boolean {
  return GENERAL.has(audience) || audience === requestPath
}

/**
 * Whether a client may ask for a token for the resource at `path`: the base, `/mcp`, `/sse`,
 * `/mcp/<configured server>`, `/metrics`, or a plugin route protected with `app.auth.protect`.
 * Anything else is not a resource of this gateway (RFC 8707 `invalid_target`).
 */
export function isResourcePath (path: string, servers: Record<string, unknown>, isProtectedPath: (path: string) => boolean): boolean {
  if (GENERAL.has(path) || path === '/metrics') return true
  const server = /^\/mcp\/([^/?#]+)$/.exec(path)?.[1]
  if (server !== undefined) return Object.hasOwn(servers, server)
  return !path.startsWith('/mcp/') && !/[?#]/.test(path) && isProtectedPath(path)
}
