import { existsSync } from 'node:fs'
import { basename } from 'node:path'
import { fileURLToPath } from 'node:url'
import { GATEWAY_INFO, transportKind, type GatewayConfig, type ServerConfig } from '../api.js'
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import { parse, runGroup, table, type Command, type Io } from './command.js'
import { editConfigFile, readConfigFile, resolveConfigPath, writeFileAtomic } from './config-file.js'
import { CliError, UsageError } from './errors.js'
import { describeFailure, gatewayBaseUrl } from './gateway-url.js'
import { gatewayLogin } from './login.js'
import { backUp, restoreApp } from './app-backups.js'
import {
  APP_IDS, APPS, convertEntry, findApp, GATEWAY_ENTRY_NAME, gatewayEntry, pointsAtGateway, readAppFile, safeName, usesProxy,
  type AppDefinition, type AppFile, type GatewayLink
} from './apps.js'

const COMMON_HELP = `  --config FILE   the gateway's config file (ONEMCP_CONFIG; default ./config.json)
  --url URL       the gateway's base URL (ONEMCP_URL; default from the config)

Apps and where their configs are looked for (set ONEMCP_APP_<APP>_CONFIG, e.g. ONEMCP_APP_CURSOR_CONFIG,
to use another file; ONEMCP_HOME stands in for the home directory):
${APPS.map((a) => `  ${a.id.padEnd(15)}${a.label}`).join('\n')}
`

async function gatewayConfig (flag: string | undefined, io: Io): Promise<{ path: string, doc: GatewayConfig }> {
  const path = resolveConfigPath(flag, io.env, io.cwd)
  return { path, doc: (await readConfigFile(path, { allowMissing: true })).doc }
}

function gatewayMcpUrl (urlFlag: string | undefined, io: Io, doc: GatewayConfig, preset?: string): string {
  const url = new URL(`${gatewayBaseUrl(urlFlag, io.env, doc)}/mcp`)
  if (preset) url.searchParams.set('preset', preset)
  return url.href
}

/** How an app starts `1mcp proxy`: this executable itself, or node running this checkout's bin. */
async function proxyLauncher (commandFlag: string | undefined): Promise<{ command: string, args: string[] }> {
  if (commandFlag) return { command: commandFlag, args: [] }
  const sea = await import('node:sea').catch(() => undefined)
  if (sea?.isSea()) return { command: process.execPath, args: [] }
  for (const candidate of ['../bin/1mcp.mjs', '../../bin/1mcp.mjs']) {
    const path = fileURLToPath(new URL(candidate, import.meta.url))
    if (existsSync(path)) return { command: process.execPath, args: [path] }
  }
  return { command: '1mcp', args: [] }
}

function selectedApps (positionals: string[], all: boolean | undefined, command: string): AppDefinition[] {
  if (all && positionals.length) throw new UsageError('name apps or pass --all, not both', command)
  if (all) return APPS
  if (positionals.length === 0) throw new UsageError(`name one or more apps (${APP_IDS.join(', ')}) or pass --all`, command)
  return positionals.map(findApp)
}

interface Candidate { app: AppDefinition, name: string, server?: ServerConfig, dropped: string[], problem?: string, gateway: boolean }

function candidates (file: AppFile, gatewayUrl: string): Candidate[] {
  return Object.entries(file.servers).map(([name, entry]) => {
    if (entry === null || typeof entry !== 'object') return { app: file.app, name, dropped: [], problem: 'not an object', gateway: false }
    if (pointsAtGateway(name, entry, gatewayUrl)) return { app: file.app, name, dropped: [], gateway: true }
    return { app: file.app, name, ...convertEntry(entry, file.app.id), gateway: false }
  })
}

function sameServer (a: ServerConfig, b: ServerConfig): boolean {
  const strip = ({ tags: _tags, disabled: _disabled, ...rest }: ServerConfig) => JSON.stringify(rest)
  return strip(a) === strip(b)
}

/** The name an imported server gets: its own, or `<name>-<app>` when the gateway already has a different one. */
function importName (doc: GatewayConfig, candidate: Candidate): { name: string, existing: boolean } | undefined {
  const base = safeName(candidate.name)
  for (const name of [base, `${base}-${candidate.app.id}`]) {
    const present = doc.mcpServers[name]
    if (!present) return { name, existing: false }
    if (sameServer(present, candidate.server!)) return { name, existing: true }
  }
  return undefined
}

const list: Command = {
  name: 'list',
  summary: 'the apps 1mcp knows, where their configs are and what they hold',
  help: `1mcp app list [--json]\n\nOptions:\n  --json          print JSON\n${COMMON_HELP}`,
  async run (argv, io) {
    const { values } = parse(argv, { config: { type: 'string' }, url: { type: 'string' }, json: { type: 'boolean' } }, 'app list')
    const { doc } = await gatewayConfig(values.config, io)
    const url = gatewayMcpUrl(values.url, io, doc)
    const rows = []
    for (const app of APPS) {
      const file = await readAppFile(app, io.env)
      const found = candidates(file, url)
      rows.push({ app: app.id, label: app.label, path: file.path, found: file.exists, servers: found.filter((c) => !c.gateway).length, usesGateway: found.some((c) => c.gateway) })
    }
    if (values.json) { io.out(JSON.stringify(rows, null, 2) + '\n'); return }
    io.out(table([['APP', 'FOUND', 'SERVERS', 'USES 1MCP', 'CONFIG'], ...rows.map((r) => [r.app, r.found ? 'yes' : 'no', String(r.servers), r.usesGateway ? 'yes' : 'no', r.path])]))
  }
}

function discoverStatus (problem: string | undefined, target: ReturnType<typeof importName>): string {
  if (problem) return `skipped: ${problem}`
  if (!target) return 'name taken in the gateway'
  return target.existing ? `already in the gateway as ${target.name}` : `new, as ${target.name}`
}

const discover: Command = {
  name: 'discover',
  summary: 'the servers each app has that the gateway could take over',
  help: `1mcp app discover [APP...] [--json]\n\nWith no APP, looks at every app.\n\nOptions:\n  --json          print JSON\n${COMMON_HELP}`,
  async run (argv, io) {
    const { values, positionals } = parse(argv, { config: { type: 'string' }, url: { type: 'string' }, json: { type: 'boolean' } }, 'app discover')
    const apps = positionals.length ? positionals.map(findApp) : APPS
    const { doc } = await gatewayConfig(values.config, io)
    const url = gatewayMcpUrl(values.url, io, doc)
    const rows = []
    for (const app of apps) {
      const file = await readAppFile(app, io.env)
      for (const c of candidates(file, url)) {
        if (c.gateway) continue
        const target = c.server ? importName(doc, c) : undefined
        rows.push({
          app: app.id,
          name: c.name,
          transport: c.server ? transportKind(c.server) : '-',
          status: discoverStatus(c.problem, target),
          ...(c.dropped.length ? { dropped: c.dropped } : {})
        })
      }
    }
    if (values.json) { io.out(JSON.stringify(rows, null, 2) + '\n'); return }
    if (rows.length === 0) { io.out('no app has MCP servers the gateway does not already serve\n'); return }
    io.out(table([['APP', 'SERVER', 'TRANSPORT', 'STATUS'], ...rows.map((r) => [r.app, r.name, r.transport, r.status])]))
    io.out('\nImport them and point the apps at the gateway with `1mcp app consolidate APP...` (or --all).\n')
  }
}

function indentOf (text: string): string | number {
  const m = /^[{[][^\n]*\n([ \t]+)\S/.exec(text)
  return m ? (m[1].includes('\t') ? '\t' : m[1].length) : 2
}

interface ConsolidateOptions { configPath: string, link: GatewayLink, all: boolean, dryRun: boolean }

/** What consolidating one app changes: its file and the servers that move to the gateway. */
interface Plan { app: AppDefinition, file: AppFile, found: Candidate[], importable: Candidate[] }

/** Looks at one app; undefined when there is nothing to change (or only a dry run). */
async function planApp (app: AppDefinition, opts: ConsolidateOptions, io: Io): Promise<Plan | undefined> {
  const file = await readAppFile(app, io.env)
  if (!file.exists) {
    if (!opts.all) io.out(`${app.id}: no config at ${file.path}; nothing to do\n`)
    return undefined
  }
  const found = candidates(file, opts.link.url)
  const importable = found.filter((c) => c.server && !c.gateway)
  for (const c of found.filter((c) => c.problem)) io.err(`${app.id}: leaving '${c.name}' out: ${c.problem}\n`)
  const alreadyLinked = found.some((c) => c.gateway) && importable.length === 0
  if (alreadyLinked) { io.out(`${app.id}: already uses the gateway\n`); return undefined }
  if (opts.dryRun) {
    io.out(`${app.id}: would import ${importable.map((c) => c.name).join(', ') || 'nothing'} and point ${file.path} at ${opts.link.url}${usesProxy(app, opts.link) ? ' through `1mcp proxy`' : ''}\n`)
    return undefined
  }
  return { app, file, found, importable }
}

/** Consolidates one app: backs its config up, imports its servers, points it at the gateway. */
async function applyPlan ({ app, file, found, importable }: Plan, opts: ConsolidateOptions, io: Io): Promise<void> {
  const backup = await backUp(file, io.env)
  const imported = await importServers(app, importable, opts.configPath, io)
  const kept = Object.fromEntries(found.filter((c) => !c.server && !c.gateway).map((c) => [c.name, file.servers[c.name]]))
  const next = { ...file.doc, [app.serversKey]: { ...kept, [GATEWAY_ENTRY_NAME]: gatewayEntry(app, opts.link) } }
  await writeFileAtomic(file.path, JSON.stringify(next, null, indentOf(file.text)) + '\n')
  io.out(`${app.id}: imported ${imported.length ? imported.join(', ') : 'no servers'}; ${basename(file.path)} now points at ${opts.link.url} (backup: ${backup})\n`)
}

/**
 * An app that starts `1mcp proxy` cannot show a login itself: log the proxy in now (the browser
 * flow, if the gateway has auth on and there is no usable login yet), before anything is changed.
 * Connecting the way the proxy will also proves the gateway answers at that URL.
 */
async function logProxyIn (url: string, io: Io): Promise<void> {
  const target = new URL(url)
  const login = gatewayLogin(target, io)
  const transport = new StreamableHTTPClientTransport(target, { authProvider: login })
  const client = new Client({ name: '1mcp app consolidate', version: GATEWAY_INFO.version })
  try {
    // The first request waits for the owner in the browser: give it the login's time, not a request's.
    await client.connect(transport, { timeout: login.timeoutMs + 30_000 })
    await transport.terminateSession().catch(() => {})
  } catch (err) {
    throw new CliError(`cannot connect \`1mcp proxy\` to the gateway at ${url}: ${describeFailure(err)}; nothing was changed`,
      'start the gateway (`1mcp serve`) and approve the login in the browser, or pass --no-login to let the proxy log in when the app first starts it')
  } finally {
    await client.close().catch(() => {})
  }
}

/** Adds an app's servers to the gateway's config; returns the names they have there. */
async function importServers (app: AppDefinition, importable: ReturnType<typeof candidates>, configPath: string, io: Io): Promise<string[]> {
  return await editConfigFile(configPath, (gw) => {
    const names: string[] = []
    for (const c of importable) {
      const target = importName(gw, c)
      if (!target) { io.err(`${app.id}: leaving '${c.name}' out: the gateway has different servers named '${safeName(c.name)}' and '${safeName(c.name)}-${app.id}'\n`); continue }
      if (!target.existing) gw.mcpServers[target.name] = c.server!
      names.push(target.name)
      if (c.dropped.length) io.err(`${app.id}: '${c.name}': the gateway has no place for ${c.dropped.join(', ')}; left out\n`)
    }
    return names
  }, { allowMissing: true })
}

const consolidate: Command = {
  name: 'consolidate',
  summary: 'import the apps\' servers into the gateway and point the apps at it',
  help: `1mcp app consolidate (APP... | --all) [OPTIONS]

For each app: backs up its config, adds its servers to the gateway's config (tagged with the
app's id, so ?tags=cursor selects them), then replaces them in the app with one "1mcp" entry that
points at the gateway. Undo with \`1mcp app restore APP\`.

Options:
  --all           every app whose config is found
  --dry-run       print what would change, change nothing
  --preset NAME   point the apps at /mcp?preset=NAME
  --via-proxy     use \`1mcp proxy\` (stdio) even for apps that speak HTTP
  --command CMD   the command that runs 1mcp in the apps' entries (default: this installation)
  --no-login      do not connect to the gateway first (see below)

An app that only starts stdio servers (Claude Desktop, or any app with --via-proxy) gets a
\`1mcp proxy\` entry. Before changing anything, consolidate connects to the gateway as that proxy
will; when the gateway has auth on and there is no login yet, it opens the browser for the owner
to approve (the proxy keeps the tokens, see \`1mcp proxy --help\`). If that fails, nothing is changed.
With --no-login the proxy logs in when the app first starts it.
${COMMON_HELP}`,
  async run (argv, io) {
    const { values, positionals } = parse(argv, {
      config: { type: 'string' },
      url: { type: 'string' },
      all: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      preset: { type: 'string' },
      'via-proxy': { type: 'boolean' },
      command: { type: 'string' },
      'no-login': { type: 'boolean' }
    }, 'app consolidate')
    const apps = selectedApps(positionals, values.all, 'app consolidate')
    const { path: configPath, doc } = await gatewayConfig(values.config, io)
    if (values.preset && !doc.presets?.[values.preset]) throw new CliError(`no preset named '${values.preset}' in ${configPath}`, 'create it first with `1mcp preset create`')
    const link: GatewayLink = { url: gatewayMcpUrl(values.url, io, doc, values.preset), proxy: await proxyLauncher(values.command), viaProxy: values['via-proxy'] === true }
    const opts: ConsolidateOptions = { configPath, link, all: values.all === true, dryRun: values['dry-run'] === true }
    const plans: Plan[] = []
    for (const app of apps) {
      const plan = await planApp(app, opts, io)
      if (plan) plans.push(plan)
    }
    if (!values['no-login'] && plans.some((p) => usesProxy(p.app, link))) await logProxyIn(link.url, io)
    for (const plan of plans) await applyPlan(plan, opts, io)
    if (plans.length) io.out('Restart the apps to pick up the change. A running gateway loads the new servers by itself.\n')
  }
}

const restore: Command = {
  name: 'restore',
  summary: 'put an app\'s config back from its latest backup',
  help: `1mcp app restore (APP... | --all) [--backup FILE] [--list]

Copies the latest backup (or --backup FILE) back over the app's config. Servers that
consolidate imported stay in the gateway's config; remove them with \`1mcp mcp remove\`.

Options:
  --all           every app that has a backup
  --backup FILE   restore this backup instead of the latest
  --list          list the backups, restore nothing
${COMMON_HELP}`,
  async run (argv, io) {
    const { values, positionals } = parse(argv, { all: { type: 'boolean' }, backup: { type: 'string' }, list: { type: 'boolean' }, config: { type: 'string' }, url: { type: 'string' } }, 'app restore')
    const apps = selectedApps(positionals, values.all, 'app restore')
    if (values.backup && apps.length !== 1) throw new UsageError('--backup goes with exactly one app', 'app restore')
    let restored = 0
    for (const app of apps) {
      if (await restoreApp(app, { backup: values.backup, list: values.list === true, all: values.all === true }, io)) restored++
    }
    if (restored) io.out('Restart the apps to pick up the change.\n')
  }
}

export const APP_COMMANDS: Command[] = [list, discover, consolidate, restore]

export const appCommand: Command = {
  name: 'app',
  summary: 'import the MCP servers of desktop apps and point them at the gateway',
  help: '',
  run: (argv, io) => runGroup('app', 'import the MCP servers of desktop apps and point them at the gateway', APP_COMMANDS, argv, io)
}
