import { homedir } from 'node:os'
import { join } from 'node:path'
import { readFile } from 'node:fs/promises'
import type { ServerConfig } from '../api.js'
import { CliError } from './errors.js'

/** The desktop apps and editors whose MCP configs `1mcp app` knows. */
export const APP_IDS = ['claude-desktop', 'claude-code', 'cursor', 'vscode', 'windsurf', 'cline'] as const
export type AppId = typeof APP_IDS[number]

/** How an app is told to use the gateway. */
export interface GatewayLink {
  /** the gateway's MCP URL */
  url: string
  /** how to start `1mcp proxy`, for apps that only start stdio servers */
  proxy: { command: string, args: string[] }
  /** use the stdio proxy even for apps that speak HTTP */
  viaProxy: boolean
}

export interface AppDefinition {
  id: AppId
  label: string
  /** the key that holds the servers in the app's file */
  serversKey: 'mcpServers' | 'servers'
  /** whether the file may hold comments and trailing commas */
  jsonc: boolean
  path: (env: NodeJS.ProcessEnv, platform: NodeJS.Platform) => string
  /** the entry that points the app at the gateway's URL; absent for an app that only starts stdio servers */
  httpEntry?: (url: string) => Record<string, unknown>
  /** whether its stdio entries carry `"type": "stdio"` */
  typedStdio?: boolean
}

export const GATEWAY_ENTRY_NAME = '1mcp'

/** The home directory (ONEMCP_HOME overrides it, for tests and sandboxes). */
export function homeDir (env: NodeJS.ProcessEnv): string {
  return env.ONEMCP_HOME ?? homedir()
}

/** The per-user application-data directory of each platform. */
function appData (env: NodeJS.ProcessEnv, platform: NodeJS.Platform): string {
  const home = homeDir(env)
  if (platform === 'darwin') return join(home, 'Library', 'Application Support')
  if (platform === 'win32') return env.ONEMCP_HOME ? join(home, 'AppData', 'Roaming') : env.APPDATA ?? join(home, 'AppData', 'Roaming')
  return env.ONEMCP_HOME ? join(home, '.config') : env.XDG_CONFIG_HOME ?? join(home, '.config')
}

/** Whether the app reaches the gateway through `1mcp proxy` (stdio) rather than by its URL. */
export function usesProxy (app: AppDefinition, link: GatewayLink): boolean {
  return !app.httpEntry || link.viaProxy
}

/** The entry that points an app at the gateway. */
export function gatewayEntry (app: AppDefinition, link: GatewayLink): Record<string, unknown> {
  if (!usesProxy(app, link)) return app.httpEntry!(link.url)
  return { ...(app.typedStdio ? { type: 'stdio' } : {}), command: link.proxy.command, args: [...link.proxy.args, 'proxy', '--url', link.url] }
}

export const APPS: AppDefinition[] = [
  {
    id: 'claude-desktop',
    label: 'Claude Desktop',
    serversKey: 'mcpServers',
    jsonc: false,
    path: (env, platform) => join(appData(env, platform), 'Claude', 'claude_desktop_config.json'),
    // Its config file only starts stdio servers: no httpEntry.
  },
  {
    id: 'claude-code',
    label: 'Claude Code',
    serversKey: 'mcpServers',
    jsonc: false,
    path: (env) => join(homeDir(env), '.claude.json'),
    typedStdio: true,
    httpEntry: (url) => ({ type: 'http', url })
  },
  {
    id: 'cursor',
    label: 'Cursor',
    serversKey: 'mcpServers',
    jsonc: false,
    path: (env) => join(homeDir(env), '.cursor', 'mcp.json'),
    httpEntry: (url) => ({ url })
  },
  {
    id: 'vscode',
    label: 'VS Code',
    serversKey: 'servers',
    jsonc: true,
    path: (env, platform) => join(appData(env, platform), 'Code', 'User', 'mcp.json'),
    typedStdio: true,
    httpEntry: (url) => ({ type: 'http', url })
  },
  {
    id: 'windsurf',
    label: 'Windsurf',
    serversKey: 'mcpServers',
    jsonc: false,
    path: (env) => join(homeDir(env), '.codeium', 'windsurf', 'mcp_config.json'),
    httpEntry: (url) => ({ serverUrl: url })
  },
  {
    id: 'cline',
    label: 'Cline',
    serversKey: 'mcpServers',
    jsonc: false,
    path: (env, platform) => join(appData(env, platform), 'Code', 'User', 'globalStorage', 'saoudrizwan.claude-dev', 'settings', 'cline_mcp_settings.json'),
    httpEntry: (url) => ({ type: 'streamableHttp', url })
  }
]

/** An app's config path: `ONEMCP_APP_<ID>_CONFIG` (e.g. ONEMCP_APP_CLAUDE_DESKTOP_CONFIG) overrides the standard one. */
export function appConfigPath (app: AppDefinition, env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): string {
  return env[`ONEMCP_APP_${app.id.toUpperCase().replace(/-/g, '_')}_CONFIG`] ?? app.path(env, platform)
}

export function findApp (id: string): AppDefinition {
  const app = APPS.find((a) => a.id === id)
  if (!app) throw new CliError(`unknown app '${id}'`, `known apps: ${APP_IDS.join(', ')}`, 2)
  return app
}

/** Removes comments and trailing commas (JSON with comments, as VS Code writes), leaving strings alone. */
export function stripJsonComments (text: string): string {
  let out = ''
  let i = 0
  while (i < text.length) {
    const next = skipComment(text, i)
    if (next !== i) {
      i = next
    } else if (text[i] === '"') {
      const end = stringEnd(text, i)
      out += text.slice(i, end)
      i = end
    } else {
      out += text[i]
      i++
    }
  }
  return out.replace(/,(\s*[}\]])/g, '$1')
}

/** Where a JSON string starting at `start` (its opening quote) ends, past its closing quote. */
function stringEnd (text: string, start: number): number {
  let i = start + 1
  while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1
  return i + 1
}

/** Past the comment at `i`, or `i` itself when none starts there. */
function skipComment (text: string, i: number): number {
  if (text[i] !== '/') return i
  if (text[i + 1] === '/') {
    const end = text.indexOf('\n', i)
    return end === -1 ? text.length : end
  }
  if (text[i + 1] === '*') {
    const end = text.indexOf('*/', i + 2)
    return end === -1 ? text.length : end + 2
  }
  return i
}

export interface AppFile {
  app: AppDefinition
  path: string
  exists: boolean
  text: string
  doc: Record<string, unknown>
  servers: Record<string, Record<string, unknown>>
}

/** Reads an app's config; a missing file reads as empty. */
export async function readAppFile (app: AppDefinition, env: NodeJS.ProcessEnv): Promise<AppFile> {
  const path = appConfigPath(app, env)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { app, path, exists: false, text: '', doc: {}, servers: {} }
    throw new CliError(`cannot read ${app.label}'s config ${path}: ${(err as Error).message}`)
  }
  const doc = parseAppConfig(app, path, text)
  const servers = doc[app.serversKey]
  return {
    app,
    path,
    exists: true,
    text,
    doc,
    servers: servers !== null && typeof servers === 'object' && !Array.isArray(servers) ? servers as Record<string, Record<string, unknown>> : {}
  }
}

function parseAppConfig (app: AppDefinition, path: string, text: string): Record<string, unknown> {
  let doc: unknown
  try {
    doc = JSON.parse(app.jsonc ? stripJsonComments(text.replace(/^\uFEFF/, '')) : text.replace(/^\uFEFF/, ''))
  } catch (err) {
    throw new CliError(`${app.label}'s config ${path} is not valid JSON: ${(err as Error).message}`, 'fix it in the app (or by hand), then run the command again')
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new CliError(`${app.label}'s config ${path} is not a JSON object`)
  return doc as Record<string, unknown>
}

/** Keys of an app's entry the gateway's config has no place for (auto-approve lists, timeouts, …). */
const IMPORTED_KEYS = new Set(['type', 'command', 'args', 'env', 'cwd', 'url', 'serverUrl', 'headers', 'disabled', 'transportType'])

const TYPES: Record<string, ServerConfig['type']> = {
  stdio: 'stdio', http: 'http', 'streamable-http': 'http', streamableHttp: 'http', sse: 'sse'
}

function stringRecord (value: unknown): Record<string, string> | undefined {
  if (value === null || typeof value !== 'object') return undefined
  const out = Object.fromEntries(Object.entries(value).filter(([, v]) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean').map(([k, v]) => [k, String(v)]))
  return Object.keys(out).length ? out : undefined
}

export interface Converted { server?: ServerConfig, dropped: string[], problem?: string }

/** An app's server entry in the gateway's shape, tagged with the app it came from. */
export function convertEntry (entry: Record<string, unknown>, app: AppId): Converted {
  const dropped = Object.keys(entry).filter((k) => !IMPORTED_KEYS.has(k))
  const rawType = firstString(entry.type, entry.transportType)
  const type = rawType === undefined ? undefined : TYPES[rawType]
  if (rawType !== undefined && type === undefined) return { dropped, problem: `unknown transport type '${rawType}'` }
  const server = stdioServer(entry) ?? remoteServer(entry, type)
  if (!server) return { dropped, problem: 'it has neither a command nor an http(s) url' }
  if (entry.disabled === true) server.disabled = true
  server.tags = [app]
  return { server, dropped }
}

function firstString (...values: unknown[]): string | undefined {
  return values.find((v): v is string => typeof v === 'string')
}

function stdioServer (entry: Record<string, unknown>): ServerConfig | undefined {
  if (typeof entry.command !== 'string' || !entry.command) return undefined
  return {
    command: entry.command,
    ...(Array.isArray(entry.args) ? { args: entry.args.map(String) } : {}),
    ...(stringRecord(entry.env) ? { env: stringRecord(entry.env) } : {}),
    ...(typeof entry.cwd === 'string' ? { cwd: entry.cwd } : {})
  }
}

function remoteServer (entry: Record<string, unknown>, type: ServerConfig['type']): ServerConfig | undefined {
  const url = firstString(entry.url, entry.serverUrl)
  if (!url || !/^https?:\/\//.test(url)) return undefined
  return {
    ...(type && type !== 'stdio' ? { type } : {}),
    url,
    ...(stringRecord(entry.headers) ? { headers: stringRecord(entry.headers) } : {})
  }
}

/** Whether an app's entry already points at this gateway (its URL, or a `1mcp proxy` command). */
export function pointsAtGateway (name: string, entry: Record<string, unknown>, gatewayUrl: string): boolean {
  if (name === GATEWAY_ENTRY_NAME) return true
  const url = typeof entry.url === 'string' ? entry.url : typeof entry.serverUrl === 'string' ? entry.serverUrl : undefined
  if (url && url.replace(/\?.*$/, '').replace(/\/+$/, '') === gatewayUrl.replace(/\?.*$/, '').replace(/\/+$/, '')) return true
  return Array.isArray(entry.args) && entry.args.includes('proxy') && String(entry.command ?? '').includes('1mcp')
}

/** A server name the gateway accepts. */
export function safeName (name: string): string {
  return name.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '') || 'server'
}
