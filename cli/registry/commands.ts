import { parse, runGroup, table, type Command, type Io } from '../command.js'
import { UsageError } from '../errors.js'
import type { RegistryClient } from './client.js'
import { describeTarget, runnable, targetsOf, RUNNERS } from './entry.js'
import { OFFICIAL_META, statusOf, type Argument, type KeyValueInput, type ServerResponse } from './schema.js'
import { REGISTRY_OPTIONS, REGISTRY_OPTIONS_HELP, clientFor, loadConfig, parseRef } from './settings.js'

const TRANSPORTS = ['stdio', 'streamable-http', 'sse']
const TYPES = ['npm', 'pypi', 'oci', 'nuget', 'mcpb', 'remote']
const MAX_PAGES = 20
const DEFAULT_LIMIT = 20

function json (io: Io, value: unknown): void {
  io.out(JSON.stringify(value, null, 2) + '\n')
}

function oneLine (text: string | undefined, max: number): string {
  const flat = (text ?? '').replace(/\s+/g, ' ').trim()
  return flat.length > max ? flat.slice(0, max - 1) + '…' : flat
}

/** What an entry runs as, for a table cell: `npm`, `remote(sse)`; a `*` marks what 1mcp cannot install. */
function runsAs (entry: ServerResponse): string {
  const kinds = targetsOf(entry.server).map((t) => {
    const label = t.kind === 'remote' ? `remote(${t.transport})` : t.transport === 'stdio' ? t.type : `${t.type}(${t.transport})`
    return runnable(t) ? label : `${label}*`
  })
  return [...new Set(kinds)].join(',') || '-'
}

function matches (entry: ServerResponse, type?: string, transport?: string): boolean {
  if (statusOf(entry) === 'deleted') return false
  return targetsOf(entry.server).some((t) => (!type || t.type === type) && (!transport || t.transport === transport))
}

/**
 * The search cursor we hand out: the registry's cursor for a page plus how many of that page's
 * matches were already shown, so a search cut short by --limit resumes exactly where it stopped.
 */
function encodeCursor (registryCursor: string | undefined, skip: number): string | undefined {
  if (registryCursor === undefined && skip === 0) return undefined
  return Buffer.from(JSON.stringify({ c: registryCursor ?? null, s: skip })).toString('base64url')
}

function decodeCursor (cursor: string | undefined): { c?: string, s: number } {
  if (!cursor) return { s: 0 }
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { c?: unknown, s?: unknown }
    if (typeof value === 'object' && value !== null && Number.isInteger(value.s)) {
      return { c: typeof value.c === 'string' ? value.c : undefined, s: value.s as number }
    }
  } catch {}
  return { c: cursor, s: 0 } // a cursor straight from the registry
}

/** Pages through the registry until `limit` entries pass the filters (bounded to MAX_PAGES requests). */
async function collect (client: RegistryClient, query: string, limit: number, filters: { type?: string, transport?: string }, cursor?: string) {
  const start = decodeCursor(cursor)
  const filtering = Boolean(filters.type || filters.transport)
  const found: ServerResponse[] = []
  let registryCursor = start.c
  let skip = start.s
  for (let pages = 0; pages < MAX_PAGES; pages++) {
    const page = await client.search(query, { limit: filtering ? 100 : Math.max(limit, 1), cursor: registryCursor })
    const pageMatches = page.servers.filter((e) => matches(e, filters.type, filters.transport))
    for (let i = skip; i < pageMatches.length; i++) {
      if (found.length === limit) return { found, nextCursor: encodeCursor(registryCursor, i), complete: true }
      found.push(pageMatches[i])
    }
    skip = 0
    registryCursor = page.nextCursor
    if (!registryCursor) return { found, nextCursor: undefined, complete: true }
    if (found.length === limit) return { found, nextCursor: encodeCursor(registryCursor, 0), complete: true }
  }
  return { found, nextCursor: encodeCursor(registryCursor, 0), complete: false }
}

function oneOf (value: string | undefined, allowed: string[], flag: string, command: string): string | undefined {
  if (value !== undefined && !allowed.includes(value)) throw new UsageError(`${flag} must be one of ${allowed.join(', ')}, not '${value}'`, command)
  return value
}

const search: Command = {
  name: 'search',
  summary: 'find servers in the MCP Registry by name',
  help: `1mcp registry search [QUERY] [OPTIONS]

Lists the newest version of each server whose name contains QUERY (all servers without one).

Options:
  --limit N            at most N results (default ${DEFAULT_LIMIT}, at most 100)
  --type T             only servers offering ${TYPES.join(' | ')}
  --transport T        only servers offering ${TRANSPORTS.join(' | ')}
  --cursor C           continue a previous search (the cursor it printed)
${REGISTRY_OPTIONS_HELP}`,
  async run (argv, io) {
    const { values, positionals } = parse(argv, {
      ...REGISTRY_OPTIONS,
      limit: { type: 'string' },
      type: { type: 'string' },
      transport: { type: 'string' },
      cursor: { type: 'string' }
    }, 'registry search')
    if (positionals.length > 1) throw new UsageError(`search takes one QUERY, not ${positionals.length} (the registry matches a substring of the name)`, 'registry search')
    const limit = searchLimit(values.limit)
    const type = oneOf(values.type, TYPES, '--type', 'registry search')
    const transport = oneOf(values.transport, TRANSPORTS, '--transport', 'registry search')
    const { doc } = await loadConfig(values, io)
    const client = clientFor(values, doc, io)
    const query = positionals[0] ?? ''
    const result = await collect(client, query, limit, { type, transport }, values.cursor)
    if (values.json) {
      json(io, { registry: client.baseUrl, servers: result.found, nextCursor: result.nextCursor ?? null })
      return 0
    }
    printSearch(io, client.baseUrl, { query, limit, type, transport, limitGiven: values.limit !== undefined }, result)
    return 0
  }
}

function searchLimit (text: string | undefined): number {
  const limit = text === undefined ? DEFAULT_LIMIT : Number(text)
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new UsageError(`--limit must be a whole number from 1 to 100, not '${text}'`, 'registry search')
  return limit
}

interface SearchAsked { query: string, limit: number, type?: string, transport?: string, limitGiven: boolean }

function printSearch (io: Io, registry: string, asked: SearchAsked, { found, nextCursor, complete }: Awaited<ReturnType<typeof collect>>): void {
  const { query, type, transport } = asked
  if (found.length === 0) {
    io.out(`no servers${query ? ` matching '${query}'` : ''}${type || transport ? ' with those filters' : ''} in ${registry}\n`)
    if (nextCursor) io.out(`(stopped after ${MAX_PAGES} pages; continue with --cursor ${nextCursor})\n`)
    return
  }
  const rows = [['NAME', 'VERSION', 'RUNS AS', 'DESCRIPTION'], ...found.map((e) => [
    e.server.name,
    e.server.version + (statusOf(e) === 'deprecated' ? ' (deprecated)' : ''),
    runsAs(e),
    oneLine(e.server.description, 60)
  ])]
  io.out(table(rows))
  if (found.some((e) => runsAs(e).includes('*'))) io.out('* 1mcp cannot install this kind of package\n')
  if (nextCursor) io.out(`more${complete ? '' : ` (searched ${MAX_PAGES} pages)`}: 1mcp registry search ${continuation(asked, nextCursor)}\n`)
}

function continuation ({ query, limit, type, transport, limitGiven }: SearchAsked, cursor: string): string {
  return `${query ? `${query} ` : ''}--cursor ${cursor}${limitGiven ? ` --limit ${limit}` : ''}${type ? ` --type ${type}` : ''}${transport ? ` --transport ${transport}` : ''}`
}

function inputLine (kind: string, key: string, input: { isRequired?: boolean, isSecret?: boolean, default?: string, value?: string, choices?: string[], description?: string }): string {
  const notes: string[] = []
  if (input.value !== undefined) notes.push(`fixed: ${input.value}`)
  else {
    if (input.isRequired) notes.push('required')
    if (input.default !== undefined) notes.push(`default ${input.default}`)
  }
  if (input.isSecret) notes.push('secret')
  if (input.choices?.length) notes.push(`one of ${input.choices.join('|')}`)
  return `    ${kind} ${key}  (${notes.join(', ') || 'optional'})${input.description ? `  ${oneLine(input.description, 70)}` : ''}\n`
}

function argumentLines (args: Argument[] | undefined, where: string): string {
  return (args ?? []).map((a) => inputLine(`${where} arg`, a.type === 'named' ? a.name ?? '?' : a.valueHint ?? a.value ?? '?', a)).join('')
}

function keyValueLines (items: KeyValueInput[] | undefined, kind: string): string {
  return (items ?? []).map((i) => inputLine(kind, i.name, i)).join('')
}

/** The human-readable detail of one entry. */
export function describeEntry (entry: ServerResponse): string {
  const s = entry.server
  const meta = entry._meta?.[OFFICIAL_META]
  let out = entryHeader(entry)
  for (const target of targetsOf(s)) out += targetLines(target)
  if (statusOf(entry) === 'deleted') out += '\nThe registry marks this entry deleted; it cannot be installed.\n'
  else out += `\ninstall: 1mcp mcp install ${s.name}${meta?.isLatest === false ? `@${s.version}` : ''}\n`
  return out
}

function entryFacts (entry: ServerResponse): string[] {
  const meta = entry._meta?.[OFFICIAL_META]
  return [statusOf(entry), meta?.isLatest ? 'latest' : '', meta?.publishedAt ? `published ${meta.publishedAt.slice(0, 10)}` : ''].filter(Boolean)
}

/** Name, version, status, description and links. */
function entryHeader (entry: ServerResponse): string {
  const s = entry.server
  let out = `${s.name} ${s.version} (${entryFacts(entry).join(', ')})\n`
  if (s.title || s.description) out += `${[s.title, s.description].filter(Boolean).join(' — ')}\n`
  if (s.repository?.url) out += `repository: ${s.repository.url}${s.repository.subfolder ? ` (${s.repository.subfolder})` : ''}\n`
  if (s.websiteUrl) out += `website: ${s.websiteUrl}\n`
  return out
}

/** One package or remote, with the inputs it takes. */
function targetLines (target: ReturnType<typeof targetsOf>[number]): string {
  if (target.kind === 'package') {
    const p = target.pkg
    const runner = RUNNERS[p.registryType]
    return `\npackage ${describeTarget(target)}: ${p.identifier}${p.version ? `@${p.version}` : ''}${runnable(target) ? ` (runs with ${runner})` : ' (1mcp cannot install this)'}\n` +
      argumentLines(p.runtimeArguments, 'runtime') + argumentLines(p.packageArguments, 'package') + keyValueLines(p.environmentVariables, 'env')
  }
  return `\nremote ${target.transport}: ${target.remote.url ?? '?'}${runnable(target) ? '' : ' (1mcp cannot connect to this)'}\n` +
    Object.entries(target.remote.variables ?? {}).map(([k, v]) => inputLine('url variable', k, v)).join('') + keyValueLines(target.remote.headers, 'header')
}

const show: Command = {
  name: 'show',
  summary: 'the details of one server: packages, remotes, the values it needs',
  help: `1mcp registry show NAME[@VERSION] [OPTIONS]

Shows one server (its latest version unless @VERSION is given), as the registry describes it.

Options:
${REGISTRY_OPTIONS_HELP}`,
  async run (argv, io) {
    const { values, positionals } = parse(argv, REGISTRY_OPTIONS, 'registry show')
    if (positionals.length !== 1) throw new UsageError('show takes one NAME, e.g. io.github.owner/server', 'registry show')
    const { name, version } = parseRef(positionals[0])
    const { doc } = await loadConfig(values, io)
    const entry = await clientFor(values, doc, io).get(name, version)
    if (values.json) json(io, entry)
    else io.out(describeEntry(entry))
    return 0
  }
}

const versions: Command = {
  name: 'versions',
  summary: 'the published versions of one server',
  help: `1mcp registry versions NAME [OPTIONS]

Options:
${REGISTRY_OPTIONS_HELP}`,
  async run (argv, io) {
    const { values, positionals } = parse(argv, REGISTRY_OPTIONS, 'registry versions')
    if (positionals.length !== 1) throw new UsageError('versions takes one NAME, e.g. io.github.owner/server', 'registry versions')
    const { doc } = await loadConfig(values, io)
    const list = await clientFor(values, doc, io).versions(parseRef(positionals[0]).name)
    if (values.json) {
      json(io, list)
      return 0
    }
    io.out(table([['VERSION', 'STATUS', 'PUBLISHED', 'LATEST'], ...list.map((e) => {
      const meta = e._meta?.[OFFICIAL_META]
      return [e.server.version, statusOf(e), meta?.publishedAt?.slice(0, 10) ?? '-', meta?.isLatest ? 'yes' : '']
    })]))
    return 0
  }
}

export const REGISTRY_COMMANDS = [search, show, versions]

export const registryCommand: Command = {
  name: 'registry',
  summary: 'search the MCP Registry and show its entries',
  help: 'run `1mcp registry --help`',
  run: (argv, io) => runGroup('registry', 'search the MCP Registry; install with `1mcp mcp install NAME`', REGISTRY_COMMANDS, argv, io)
}
