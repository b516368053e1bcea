import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import type { Server as Backend } from '../backends/server.js'
import type { BackendPool } from '../backends/pool.js'
import { UriIndex, type UriTarget } from './resource-uris.js'
import { admits, type Scope } from './scope.js'
import { CAPABILITY, describe, emptyCatalog, exposedName, hashedName, KINDS, LIST_METHOD, type Catalog, type Collision, type Entry, type Item, type Kind } from './capability-names.js'

const MAX_PAGES = 100

/**
 * The aggregated, namespaced index of every ready backend's tools, prompts, resources and
 * templates. Lists are fetched when a backend becomes ready or says its list changed, and the
 * merged lists are rebuilt only then: serving a list or resolving a name does no other work.
 */
export class CapabilityIndex extends EventEmitter<{ changed: [Kind[], string[]] }> {
  private readonly catalogs = new Map<string, Catalog>()
  private merged: Record<Kind, Item[]> = { tools: [], prompts: [], resources: [], resourceTemplates: [] }
  private readonly byName: Record<'tools' | 'prompts', Map<string, Entry>> = { tools: new Map(), prompts: new Map() }
  private readonly filtered = new Map<string, Record<Kind, Item[]>>()
  /** who owns which resource URIs, and the backend of each exposed resource and template */
  private uris = new UriIndex()
  private readonly uriOwner = new WeakMap<Item, string>()
  collisions: Collision[] = []

  constructor (private readonly pool: BackendPool, private readonly log: Logger) {
    super()
  }

  /** per backend: the refresh loop under way and the kinds asked for since its current listing began */
  private readonly runs = new Map<Backend, { done: Promise<void>, pending: Set<Kind> }>()

  /**
   * Fetches the lists a backend offers (those in `kinds`), then rebuilds the merged lists. One
   * refresh per backend at a time: a request made while one runs joins the single pending one, which
   * starts when the current one ends (a flood of `list_changed` costs two listings, not one each),
   * so an older listing never overwrites a newer one. Never rejects (a failed listing is logged).
   */
  refresh (backend: Backend, kinds: Kind[] = KINDS): Promise<void> {
    const run = this.runs.get(backend)
    if (run) {
      for (const kind of kinds) run.pending.add(kind)
      return run.done
    }
    const fresh = { done: Promise.resolve(), pending: new Set<Kind>() }
    this.runs.set(backend, fresh)
    fresh.done = this.refreshLoop(backend, kinds, fresh.pending)
    return fresh.done
  }

  private async refreshLoop (backend: Backend, kinds: Kind[], pending: Set<Kind>): Promise<void> {
    try {
      for (let next = kinds; next.length > 0; next = KINDS.filter((kind) => pending.has(kind))) {
        pending.clear()
        await this.doRefresh(backend, next).catch((err: Error) => this.log.warn({ backend: backend.name, err: err.message }, 'capability refresh failed'))
      }
    } finally {
      this.runs.delete(backend)
    }
  }

  /** Settles when every refresh under way has. */
  async settled (): Promise<void> {
    while (this.runs.size > 0) await Promise.allSettled([...this.runs.values()].map((run) => run.done))
  }

  private async doRefresh (backend: Backend, kinds: Kind[]): Promise<void> {
    const catalog = this.catalogs.get(backend.name) ?? emptyCatalog()
    // a listing that failed part-way keeps what was stored for that kind: never a partial list
    const fetched = await Promise.all(kinds.map((kind) => this.fetchAll(backend, kind).catch(() => undefined)))
    if (this.pool.get(backend.name) !== backend || backend.state !== 'ready') return
    // a new backend changes only the lists it has something in (a tools-only server: the tools list)
    const isNew = !this.catalogs.has(backend.name)
    const changed = kinds.filter((kind, i) => fetched[i] && (isNew ? fetched[i].length > 0 : JSON.stringify(catalog[kind]) !== JSON.stringify(fetched[i])))
    changed.forEach((kind) => {
      catalog[kind] = fetched[kinds.indexOf(kind)]!
      if (kind === 'tools' || kind === 'prompts') catalog.own[kind] = new Map(catalog[kind].map((item) => [String(item.name), item]))
    })
    this.catalogs.set(backend.name, catalog)
    if (changed.length > 0) this.rebuild(changed, [backend.name])
  }

  private async fetchAll (backend: Backend, kind: Kind): Promise<Item[]> {
    if (!backend.capabilities[CAPABILITY[kind]]) return []
    const items: Item[] = []
    let cursor: string | undefined
    for (let page = 0; page < MAX_PAGES; page++) {
      try {
        const result = await backend.request(LIST_METHOD[kind], cursor ? { cursor } : undefined, { retryable: true }) as Record<string, unknown>
        items.push(...(result[kind] as Item[] | undefined ?? []))
        cursor = typeof result.nextCursor === 'string' && result.nextCursor ? result.nextCursor : undefined
      } catch (err) {
        this.log.warn({ backend: backend.name, kind, err: (err as Error).message }, 'listing failed; the stored list is kept')
        throw err
      }
      if (!cursor) break
    }
    return items
  }

  /** Forgets a backend that stopped or failed. */
  drop (backend: string): void {
    const catalog = this.catalogs.get(backend)
    if (!catalog) return
    this.catalogs.delete(backend)
    this.rebuild(KINDS.filter((kind) => catalog[kind].length > 0), [backend])
  }

  /** Re-merges after a config change (disabled tools, tags) with no refetch. */
  reindex (backends: string[]): void {
    this.rebuild(KINDS.filter((kind) => backends.some((name) => (this.catalogs.get(name)?.[kind].length ?? 0) > 0)), backends)
  }

  private rebuild (kinds: Kind[], backends: string[]): void {
    if (kinds.length === 0) return
    const names = [...this.catalogs.keys()].sort()
    const collisions: Collision[] = this.collisions.filter((c) => !kinds.includes(c.kind))
    for (const kind of kinds) {
      if (kind === 'tools' || kind === 'prompts') this.mergeNamed(kind, names, collisions)
    }
    // how one backend's resources are exposed depends on the others' resources and templates
    const resourceKinds = kinds.some((k) => k === 'resources' || k === 'resourceTemplates')
    if (resourceKinds) this.mergeResources(names)
    this.collisions = collisions
    this.filtered.clear()
    this.emit('changed', resourceKinds ? [...new Set<Kind>([...kinds, 'resources', 'resourceTemplates'])] : kinds, backends)
  }

  /** Resources and templates under the URIs clients read them by (see resource-uris.ts). */
  private mergeResources (names: string[]): void {
    this.uris = new UriIndex(names.map((b) => [b, this.catalogs.get(b)!]))
    const expose = (backend: string, item: Item): Item => {
      const exposed = typeof item.uri === 'string'
        ? { ...item, uri: this.uris.expose(backend, item.uri) }
        : typeof item.uriTemplate === 'string' ? { ...item, uriTemplate: this.uris.exposeTemplate(backend, item.uriTemplate) } : item
      this.uriOwner.set(exposed, backend)
      return exposed
    }
    this.merged.resources = names.flatMap((b) => this.catalogs.get(b)!.resources.map((item) => expose(b, item)))
    this.merged.resourceTemplates = names.flatMap((b) => this.catalogs.get(b)!.resourceTemplates.map((item) => expose(b, item)))
  }

  private mergeNamed (kind: 'tools' | 'prompts', names: string[], collisions: Collision[]): void {
    const map = new Map<string, Entry>()
    const list: Item[] = []
    for (const backend of names) {
      const disabled = kind === 'tools' ? new Set(this.pool.get(backend)?.config.disabledTools ?? []) : undefined
      const descriptions = kind === 'tools' ? this.pool.get(backend)?.config.toolDescriptions : undefined
      for (const item of this.catalogs.get(backend)![kind]) {
        const original = String(item.name)
        if (disabled?.has(original)) continue
        const name = this.freeName(kind, map, backend, original, collisions)
        const exposed = { ...item, ...describe(descriptions, original), name }
        map.set(name, { backend, original, item: exposed })
        list.push(exposed)
      }
    }
    this.byName[kind] = map
    this.merged[kind] = list
  }

  /** `backend_1mcp_name`, or when another backend already took it, a hashed name (and the collision is recorded). */
  private freeName (kind: 'tools' | 'prompts', map: Map<string, Entry>, backend: string, original: string, collisions: Collision[]): string {
    const name = exposedName(backend, original)
    const taken = map.get(name)
    if (!taken) return name
    const hashed = hashedName(backend, original)
    collisions.push({ kind, name, backends: [taken.backend, backend] })
    this.log.warn({ kind, name, backends: [taken.backend, backend], exposedAs: hashed }, 'name collision; the later one is exposed under a hashed name')
    return hashed
  }

  /** The list a scope sees. For one backend alone: its own list under its own names. */
  list (kind: Kind, scope: Scope): Item[] {
    if (scope.single) return this.singleList(kind, scope.single)
    if (!scope.admits) return this.merged[kind]
    const key = scope.filterKey ?? ''
    let lists = this.filtered.get(key)
    if (!lists) {
      lists = { tools: [], prompts: [], resources: [], resourceTemplates: [] }
      for (const k of KINDS) lists[k] = this.merged[k].filter((item) => admits(scope, this.ownerOf(k, item)))
      this.filtered.set(key, lists)
    }
    return lists[kind]
  }

  private singleList (kind: Kind, backend: string): Item[] {
    const items = this.catalogs.get(backend)?.[kind] ?? []
    if (kind !== 'tools') return items
    const { disabledTools: disabled, toolDescriptions: descriptions } = this.pool.get(backend)?.config ?? {}
    const enabled = disabled?.length ? items.filter((t) => !disabled.includes(String(t.name))) : items
    return descriptions ? enabled.map((t) => ({ ...t, ...describe(descriptions, String(t.name)) })) : enabled
  }

  private ownerOf (kind: Kind, item: Item): string {
    if (kind === 'tools' || kind === 'prompts') return this.byName[kind].get(String(item.name))!.backend
    return this.uriOwner.get(item) ?? ''
  }

  /** Resolves an exposed tool or prompt name to its backend, original name and definition, or undefined. */
  resolveName (kind: 'tools' | 'prompts', name: string, scope: Scope): Entry | undefined {
    if (scope.single) return this.resolveOwnName(kind, name, scope.single)
    const entry = this.byName[kind].get(name)
    if (!entry || !admits(scope, entry.backend)) return undefined
    return entry
  }

  /** On `/mcp/<server>`: the backend's own name, unless the config disables that tool. */
  private resolveOwnName (kind: 'tools' | 'prompts', name: string, backend: string): Entry | undefined {
    const item = this.catalogs.get(backend)?.own[kind].get(name)
    const disabled = kind === 'tools' && this.pool.get(backend)?.config.disabledTools?.includes(name)
    return item && !disabled ? { backend, original: name, item } : undefined
  }

  /**
   * Resolves a resource URI or template a client sends to its backend and original: on `/mcp/<server>`
   * the URI itself; on `/mcp` the gateway's `onemcp://<server>/…` form, or a URI one backend alone owns.
   */
  resolveUri (uri: string, scope: Scope): UriTarget | undefined {
    if (scope.single) return { backend: scope.single, original: uri }
    const found = this.uris.resolve(uri) ?? this.resolveInScope(uri, scope)
    if (!found || !this.pool.get(found.backend) || !admits(scope, found.backend)) return undefined
    return found
  }

  /** A bare URI several backends share, when the session's filter shows only one of them. */
  private resolveInScope (uri: string, scope: Scope): UriTarget | undefined {
    const filter = scope.admits
    const owners = filter ? this.uris.owners(uri).filter((b) => filter(b)) : []
    return owners.length === 1 ? { backend: owners[0], original: uri } : undefined
  }

  /** The backends a bare URI could belong to (for the error that names them when there are several). */
  uriOwners (uri: string): string[] {
    return this.uris.owners(uri)
  }

  /** The URI a client on `/mcp` is given for a backend's resource URI (in a read, a tool or prompt result, an update). */
  exposeUri (backend: string, original: string): string {
    return this.uris.expose(backend, original)
  }

  toolCount (backend: string): number {
    return this.catalogs.get(backend)?.tools.length ?? 0
  }

  /** The backends' instructions, each under its server's name. */
  instructions (scope: Scope): string | undefined {
    const parts: string[] = []
    for (const backend of this.pool.all()) {
      if (backend.state !== 'ready' || !backend.instructions) continue
      if (!admits(scope, backend.name)) continue
      parts.push(scope.single ? backend.instructions : `## ${backend.name}\n${backend.instructions}`)
    }
    return parts.length ? parts.join('\n\n') : undefined
  }
}
