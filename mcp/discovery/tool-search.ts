import MiniSearch from 'minisearch'

/** One tool as the search index holds it: under the name `/mcp` exposes it, with the backend and its own name. */
export interface SearchDoc {
  name: string
  backend: string
  original: string
  title?: string
  description?: string
  params?: string[]
}

export interface SearchHit {
  name: string
  backend: string
  original: string
  score: number
}

// words that say nothing about which tool is meant; dropped from the index and from queries
const STOP_WORDS = new Set(['a', 'an', 'and', 'are', 'as', 'at', 'be', 'by', 'can', 'do', 'for', 'from', 'get', 'how', 'i', 'in', 'into', 'is', 'it',
  'me', 'my', 'of', 'on', 'or', 'some', 'that', 'the', 'this', 'to', 'tool', 'use', 'want', 'what', 'which', 'with', 'you', 'your', '1mcp'])

/** Words of a name or a text: split at punctuation, `_`, `-`, and between camelCase parts. */
function tokenize (text: string): string[] {
  return text.replace(/([a-z0-9])([A-Z])/g, '$1 $2').split(/[\s\p{P}\p{S}]+/u).filter(Boolean)
}

/** A term as indexed and searched: lower case, a plain English plural made singular, stop words dropped. */
function processTerm (term: string): string | null {
  const word = term.toLowerCase()
  if (STOP_WORDS.has(word)) return null
  if (word.length > 4 && word.endsWith('ies')) return `${word.slice(0, -3)}y`
  if (word.length > 3 && word.endsWith('s') && !word.endsWith('ss')) return word.slice(0, -1)
  return word
}

/** A best-effort list of a JSON Schema's top-level property names. */
export function paramNames (inputSchema: unknown): string[] {
  const properties = (inputSchema as { properties?: unknown } | undefined)?.properties
  return properties !== null && typeof properties === 'object' ? Object.keys(properties).slice(0, 64) : []
}

/**
 * BM25+ ranking (MiniSearch) over the tools' names, titles, descriptions and parameter names. Built
 * whole from a catalog (when the capability index changes), then only read: a search does no indexing.
 */
export class ToolSearch {
  private readonly index = new MiniSearch<SearchDoc & { id: number, words: string, paramText: string }>({
    fields: ['words', 'title', 'description', 'paramText'],
    storeFields: ['name', 'backend', 'original'],
    tokenize,
    processTerm
  })

  readonly size: number

  constructor (docs: SearchDoc[]) {
    this.index.addAll(docs.map((doc, id) => ({
      ...doc,
      id,
      // the server's name and the tool's own name; the exposed name adds nothing more
      words: `${doc.backend} ${doc.original}`,
      paramText: (doc.params ?? []).join(' ')
    })))
    this.size = docs.length
  }

  /** The best `limit` tools for `query` among those `visible` admits, best first. */
  search (query: string, limit: number, visible: (backend: string) => boolean = () => true): SearchHit[] {
    const results = this.index.search(query, {
      boost: { words: 3, title: 2, description: 1, paramText: 1 },
      prefix: (term) => term.length >= 3,
      fuzzy: (term) => term.length >= 5 ? 0.2 : false,
      weights: { fuzzy: 0.3, prefix: 0.5 },
      combineWith: 'OR',
      filter: (result) => visible(result.backend as string)
    })
    return results.slice(0, limit).map((r) => ({ name: r.name as string, backend: r.backend as string, original: r.original as string, score: r.score }))
  }
}
