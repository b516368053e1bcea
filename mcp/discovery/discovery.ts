import type { Result } from '@modelcontextprotocol/client'
import type { CapabilityIndex } from '../capabilities.js'
import type { Item } from '../capability-names.js'
import { admits, type Scope } from '../scope.js'
import { paramNames, ToolSearch, type SearchDoc } from './tool-search.js'
import { CALL_TOOL, DESCRIBE_LIMIT, DESCRIBE_TOOLS, DISCOVERY_TOOLS, SEARCH_LIMIT, SEARCH_TOOLS } from './tools.js'

type Params = Record<string, unknown>

/** A tool result the model reads (text) and a client can parse (structuredContent). */
function structured (value: Params): Result {
  return { content: [{ type: 'text', text: JSON.stringify(value) }], structuredContent: value }
}

/** A tool execution error, which the model sees and can correct (not a protocol error). */
function toolError (message: string): Result {
  return { content: [{ type: 'text', text: message }], isError: true }
}

/** The first line of a description, cut to a sentence or 200 characters. */
export function oneLine (description: unknown): string {
  if (typeof description !== 'string') return ''
  const line = description.trim().split('\n')[0].trim()
  const sentence = /^(.{20,}?[.!?])\s/.exec(line)?.[1] ?? line
  return sentence.length > 200 ? `${sentence.slice(0, 199)}…` : sentence
}

function titleOf (item: Item): string | undefined {
  const title = item.title ?? (item.annotations as { title?: unknown } | undefined)?.title
  return typeof title === 'string' ? title : undefined
}

/**
 * Progressive tool discovery (docs/discovery.md): a session in discovery mode lists three tools
 * instead of the catalog; `search_tools` ranks the tools its scope sees, `describe_tools` gives their
 * schemas, `call_tool` makes the real call through the same path as a direct `tools/call`. The search
 * index is rebuilt when the capability index changes its tools, never while answering.
 */
export class Discovery {
  private search = new ToolSearch([])

  constructor (private readonly capabilities: CapabilityIndex) {
    this.rebuild()
    capabilities.on('changed', (kinds) => { if (kinds.includes('tools')) this.rebuild() })
  }

  /** Indexes every tool of the merged catalog (each search then keeps those its scope sees). */
  rebuild (): void {
    const docs: SearchDoc[] = []
    for (const item of this.capabilities.list('tools', {})) {
      const entry = this.capabilities.resolveName('tools', String(item.name), {})
      if (!entry) continue
      const description = typeof item.description === 'string' ? item.description : undefined
      docs.push({ name: String(item.name), backend: entry.backend, original: entry.original, title: titleOf(item), description, params: paramNames(item.inputSchema) })
    }
    this.search = new ToolSearch(docs)
  }

  /** Answers `tools/list` and `tools/call` of a discovery session; undefined for what it does not answer. */
  request (scope: Scope, method: string, params: Params, callTool: (params: Params) => Promise<Result>): Promise<Result> | undefined {
    if (method === 'tools/list') return Promise.resolve({ tools: DISCOVERY_TOOLS })
    if (method !== 'tools/call') return undefined
    const args = (params.arguments ?? {}) as Params
    switch (params.name) {
      case SEARCH_TOOLS: return Promise.resolve(this.searchTools(scope, args))
      case DESCRIBE_TOOLS: return Promise.resolve(this.describeTools(scope, args))
      case CALL_TOOL: return this.callTool(args, params, callTool)
      default: return undefined
    }
  }

  /** The best matches the scope sees: name (as the scope calls it), one line of description, server. */
  searchTools (scope: Scope, args: Params): Result {
    const { query, limit = 5 } = args
    if (typeof query !== 'string' || query.trim() === '') return toolError('search_tools needs "query": a non-empty string')
    if (!Number.isInteger(limit) || (limit as number) < 1) return toolError('"limit" must be a positive integer')
    const hits = this.search.search(query.slice(0, 1000), Math.min(limit as number, SEARCH_LIMIT), (backend) => admits(scope, backend))
    const tools = hits.map((hit) => {
      const name = scope.single ? hit.original : hit.name
      return { name, description: oneLine(this.definition(scope, name)?.description), server: hit.backend }
    })
    return structured({ tools })
  }

  /** Full definitions (input schemas) of the named tools the scope sees; the others are named as unknown. */
  describeTools (scope: Scope, args: Params): Result {
    const names = args.names
    if (!Array.isArray(names) || names.length === 0 || !names.every((n) => typeof n === 'string')) return toolError('describe_tools needs "names": a non-empty array of tool names')
    if (names.length > DESCRIBE_LIMIT) return toolError(`describe_tools takes up to ${DESCRIBE_LIMIT} names at a time`)
    const tools: Item[] = []
    const unknown: string[] = []
    for (const name of names as string[]) {
      const item = this.definition(scope, name)
      if (!item) unknown.push(name)
      else tools.push(Object.fromEntries(Object.entries(item).filter(([key]) => ['name', 'title', 'description', 'inputSchema', 'outputSchema', 'annotations'].includes(key))))
    }
    return structured(unknown.length ? { tools, unknown } : { tools })
  }

  /** The real call: the request's own fields (`_meta` with its progress token, `task`, input responses) kept, the name and arguments replaced. */
  private callTool (args: Params, params: Params, callTool: (params: Params) => Promise<Result>): Promise<Result> {
    const { name, arguments: toolArgs } = args
    if (typeof name !== 'string' || name === '') return Promise.resolve(toolError('call_tool needs "name": the name search_tools gave'))
    if (toolArgs !== undefined && (toolArgs === null || typeof toolArgs !== 'object' || Array.isArray(toolArgs))) return Promise.resolve(toolError('"arguments" must be an object'))
    return callTool({ ...params, name, arguments: toolArgs ?? {} })
  }

  /** A tool's definition as the scope lists it (on `/mcp/<server>`: its own name and the config's description). */
  private definition (scope: Scope, name: string): Item | undefined {
    if (scope.single) return this.capabilities.list('tools', scope).find((t) => t.name === name)
    return this.capabilities.resolveName('tools', name, scope)?.item
  }
}
