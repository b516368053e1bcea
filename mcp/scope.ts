/**
 * What a client may see, and the one check of it. A scope is fixed when a session (or a 2026-07-28
 * request) starts, from the path (`/mcp/<server>`), the query's tag filters and the token's grants.
 */
export interface Scope {
  /** `/mcp/<server>`: that server alone */
  single?: string
  /** a stable key for caching the filtered lists */
  filterKey?: string
  /** the servers the query's filters and the token's grants admit (all when absent) */
  admits?: (backend: string) => boolean
  /** `?discovery=search` or a preset's `discovery`: tools/list is search_tools, describe_tools, call_tool (docs/discovery.md) */
  discovery?: 'search'
}

/** Whether `backend` is in `scope`. */
export function admits (scope: Scope, backend: string): boolean {
  if (scope.single !== undefined) return scope.single === backend
  return scope.admits ? scope.admits(backend) : true
}
