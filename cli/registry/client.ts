import { createHash, randomBytes } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { DEFAULTS, editDistance } from '../../api.js'
import { RegistryError, RegistryResponseError, RegistryUnreachableError, ServerNotFoundError, formatAge } from './errors.js'
import { ServerList, ServerResponse } from './schema.js'

const DEFAULT_REGISTRY_URL = DEFAULTS.registry.url
/** The registry's stable API version; a base URL that already names a version is used as it is. */
const API_PREFIX = '/v0.1'

export interface RegistryClientOptions {
  /** the registry's base URL, e.g. https://registry.modelcontextprotocol.io */
  url?: string
  /** where answers are cached (one JSON file per URL) */
  cacheDir?: string
  /** an answer younger than this is used without asking the registry */
  cacheTtlMs?: number
  /** when the registry cannot be reached, an answer younger than this is used instead (and said so) */
  maxStaleMs?: number
  /** ask the registry even when the cache is fresh */
  refresh?: boolean
  timeoutMs?: number
  /** told when a stale cached answer stands in for the registry */
  onNotice?: (message: string) => void
  now?: () => number
}

export interface Page {
  servers: ServerResponse[]
  nextCursor?: string
}

interface CacheRecord { url: string, fetchedAt: number, body: unknown }

/**
 * Where answers are cached unless told otherwise: $ONEMCP_CACHE_DIR/registry, else
 * $XDG_CACHE_HOME/1mcp/registry, else ~/.cache/1mcp/registry ($ONEMCP_HOME stands in for ~, as elsewhere in the CLI).
 */
export function defaultCacheDir (env: NodeJS.ProcessEnv = process.env): string {
  if (env.ONEMCP_CACHE_DIR) return join(env.ONEMCP_CACHE_DIR, 'registry')
  if (env.ONEMCP_HOME) return join(env.ONEMCP_HOME, '.cache', '1mcp', 'registry')
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), '1mcp', 'registry')
}

const checkList = TypeCompiler.Compile(ServerList)
const checkServer = TypeCompiler.Compile(ServerResponse)

/** The MCP Registry's read API, with an on-disk cache that also carries us through outages. */
export class RegistryClient {
  readonly baseUrl: string
  private readonly apiBase: string
  private readonly cacheDir: string
  private readonly ttlMs: number
  private readonly maxStaleMs: number
  private readonly refresh: boolean
  private readonly timeoutMs: number
  private readonly notice: (message: string) => void
  private readonly now: () => number

  constructor (options: RegistryClientOptions = {}) {
    this.baseUrl = (options.url ?? DEFAULT_REGISTRY_URL).replace(/\/+$/, '')
    const parsed = registryUrl(this.baseUrl)
    this.apiBase = /\/v0(\.\d+)?$/.test(parsed.pathname) ? this.baseUrl : this.baseUrl + API_PREFIX
    this.cacheDir = options.cacheDir ?? defaultCacheDir()
    const cache = cacheSettings(options)
    this.ttlMs = cache.ttlMs
    this.maxStaleMs = cache.maxStaleMs
    this.refresh = cache.refresh
    this.timeoutMs = options.timeoutMs ?? 10_000
    this.notice = options.onNotice ?? (() => {})
    this.now = options.now ?? Date.now
  }

  /** One page of the newest version of each server whose name contains `query`. */
  async search (query: string, options: { limit?: number, cursor?: string } = {}): Promise<Page> {
    const params = new URLSearchParams({ version: 'latest' })
    if (query) params.set('search', query)
    params.set('limit', String(options.limit ?? 30))
    if (options.cursor) params.set('cursor', options.cursor)
    const url = `${this.apiBase}/servers?${params}`
    const body = await this.getJson(url)
    if (body === undefined) throw new RegistryResponseError(url, 'the server list is missing (404)')
    if (!checkList.Check(body)) throw new RegistryResponseError(url, describe(checkList.Errors(body).First()))
    const nextCursor = body.metadata?.nextCursor ?? undefined
    return { servers: this.wellFormed(body.servers, url), nextCursor: nextCursor || undefined }
  }

  /** One version of a server (`latest` unless given); not found names near matches. */
  async get (name: string, version = 'latest'): Promise<ServerResponse> {
    const url = `${this.apiBase}/servers/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`
    const body = await this.getJson(url)
    if (body === undefined) {
      if (version !== 'latest' && await this.exists(name)) throw new ServerNotFoundError(name, version, [], true)
      throw new ServerNotFoundError(name, undefined, await this.nearMatches(name), false)
    }
    if (!checkServer.Check(body)) throw new RegistryResponseError(url, describe(checkServer.Errors(body).First()))
    return body
  }

  /** Every published version of a server, newest first. */
  async versions (name: string): Promise<ServerResponse[]> {
    const url = `${this.apiBase}/servers/${encodeURIComponent(name)}/versions`
    const body = await this.getJson(url)
    if (body === undefined) throw new ServerNotFoundError(name, undefined, await this.nearMatches(name), false)
    if (!checkList.Check(body)) throw new RegistryResponseError(url, describe(checkList.Errors(body).First()))
    return this.wellFormed(body.servers, url)
  }

  /** The entries we can read; the others are left out with a note naming the first of them. */
  private wellFormed (entries: unknown[], url: string): ServerResponse[] {
    const good = entries.filter((e): e is ServerResponse => checkServer.Check(e))
    if (good.length < entries.length) {
      const bad = entries.find((e) => !checkServer.Check(e))
      const name = (bad as { server?: { name?: unknown } })?.server?.name
      this.notice(`left out ${entries.length - good.length} malformed registry entr${entries.length - good.length === 1 ? 'y' : 'ies'} from ${url.slice(this.apiBase.length)} (${typeof name === 'string' ? `${name}: ` : ''}${describe(checkServer.Errors(bad).First())})`)
    }
    return good
  }

  private async exists (name: string): Promise<boolean> {
    return await this.getJson(`${this.apiBase}/servers/${encodeURIComponent(name)}/versions`) !== undefined
  }

  /**
   * Names close to one that was not found. The registry's search is a substring match on names, so we
   * ask for the last part of the name, its first letters and its namespace, then rank by edit distance.
   */
  async nearMatches (name: string, max = 5): Promise<string[]> {
    const short = (name.split('/').pop() ?? name).toLowerCase()
    const namespace = name.includes('/') ? name.slice(0, name.indexOf('/') + 1).toLowerCase() : ''
    const queries = [...new Set([short, short.slice(0, 3), namespace].filter((q) => q.length > 0))]
    const candidates = new Set<string>()
    for (const query of queries) {
      const page = await this.search(query, { limit: 100 }).catch(() => ({ servers: [] }))
      for (const entry of page.servers) candidates.add(entry.server.name)
    }
    const lower = name.toLowerCase()
    const scored = [...candidates].map((candidate) => {
      const c = candidate.toLowerCase()
      const cShort = c.split('/').pop() ?? c
      const distance = Math.min(editDistance(lower, c), editDistance(short, cShort))
      const related = c.includes(short) || short.includes(cShort)
      return { candidate, distance, related }
    }).filter((s) => s.related || s.distance <= Math.max(2, Math.floor(short.length / 3)))
    scored.sort((a, b) => a.distance - b.distance || a.candidate.localeCompare(b.candidate))
    return scored.slice(0, max).map((s) => s.candidate)
  }

  /** GETs a registry URL through the cache. `undefined` means 404. */
  private async getJson (url: string): Promise<unknown> {
    const cached = await this.readCache(url)
    if (cached && this.isFresh(cached)) return cached.body

    let response: Response
    try {
      response = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(this.timeoutMs) })
    } catch (err) {
      return this.fallBack(url, cached, networkReason(err))
    }
    if (response.status >= 500 || response.status === 429 || response.status === 404) {
      await response.body?.cancel()
      return response.status === 404 ? undefined : this.fallBack(url, cached, `HTTP ${response.status}`)
    }
    const body = await responseJson(url, response)
    await this.writeCache({ url, fetchedAt: this.now(), body })
    return body
  }

  /** A cached answer younger than the TTL, unless --refresh asked for a new one. */
  private isFresh (cached: CacheRecord): boolean {
    const age = this.now() - cached.fetchedAt
    return !this.refresh && age >= 0 && age < this.ttlMs
  }

  private fallBack (url: string, cached: CacheRecord | undefined, reason: string): unknown {
    if (!cached) throw new RegistryUnreachableError(this.baseUrl, reason)
    const age = Math.max(0, this.now() - cached.fetchedAt)
    if (age > this.maxStaleMs) throw new RegistryUnreachableError(this.baseUrl, reason, { ageMs: age, maxStaleMs: this.maxStaleMs })
    this.notice(`the registry at ${this.baseUrl} is unreachable (${reason}); using the cached answer from ${formatAge(age)} ago for ${url.slice(this.apiBase.length)}`)
    return cached.body
  }

  private cacheFile (url: string): string {
    return join(this.cacheDir, `${createHash('sha256').update(url).digest('hex').slice(0, 40)}.json`)
  }

  private async readCache (url: string): Promise<CacheRecord | undefined> {
    try {
      const record = JSON.parse(await readFile(this.cacheFile(url), 'utf8')) as CacheRecord
      return record.url === url && typeof record.fetchedAt === 'number' ? record : undefined
    } catch {
      return undefined
    }
  }

  /** Atomic (temp file + rename), so a reader never sees half a file; a cache that cannot be written is not an error. */
  private async writeCache (record: CacheRecord): Promise<void> {
    const file = this.cacheFile(record.url)
    const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`
    try {
      await mkdir(this.cacheDir, { recursive: true })
      await writeFile(temp, JSON.stringify(record), { mode: 0o600 })
      await rename(temp, file)
    } catch (err) {
      this.notice(`could not write the registry cache in ${this.cacheDir}: ${(err as Error).message}`)
    }
  }
}

function networkReason (err: unknown): string {
  const e = err as Error & { cause?: { code?: string, message?: string } }
  if (e.name === 'TimeoutError') return 'no answer in time'
  return e.cause?.code ?? e.cause?.message ?? e.message
}

function errorText (text: string): string {
  try {
    const body = JSON.parse(text) as { error?: unknown, detail?: unknown, title?: unknown }
    return String(body.error ?? body.detail ?? body.title ?? text).slice(0, 300)
  } catch {
    return text.slice(0, 300)
  }
}

function describe (error: { path: string, message: string } | undefined): string {
  return error ? `${error.path || '/'}: ${error.message}` : 'unexpected shape'
}

/** The registry's base URL, parsed; it must be http or https. */
function registryUrl (baseUrl: string): URL {
  let parsed: URL
  try {
    parsed = new URL(baseUrl)
  } catch {
    throw new RegistryError('BAD_REGISTRY_URL', `the registry URL '${baseUrl}' is not a URL`, `use a base URL such as ${DEFAULT_REGISTRY_URL}`, 2)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new RegistryError('BAD_REGISTRY_URL', `the registry URL '${baseUrl}' is not http or https`, `use a base URL such as ${DEFAULT_REGISTRY_URL}`, 2)
  }
  return parsed
}

/** The JSON body of a successful answer; a refusal (4xx other than 404) or a non-JSON body is an error. */
async function responseJson (url: string, response: Response): Promise<unknown> {
  const text = await response.text()
  if (!response.ok) {
    throw new RegistryError('REGISTRY_REJECTED', `the registry refused ${url}: HTTP ${response.status} ${errorText(text)}`, 'check --limit and --cursor; a cursor is only valid for the search that returned it')
  }
  try {
    return JSON.parse(text)
  } catch {
    throw new RegistryResponseError(url, 'the body is not JSON')
  }
}

function cacheSettings (options: RegistryClientOptions): { ttlMs: number, maxStaleMs: number, refresh: boolean } {
  return { ttlMs: options.cacheTtlMs ?? DEFAULTS.registry.cacheTtlMs, maxStaleMs: options.maxStaleMs ?? DEFAULTS.registry.maxStaleMs, refresh: options.refresh ?? false }
}
