import { transportKind, compileTagFilter, type GatewayConfig, type ServerConfig, type HealthReport } from '../api.js'
import { listOption, pairsOption, parse, runGroup, table, type Command, type Io } from './command.js'
import { editConfigFile, readConfigFile, resolveConfigPath } from './config-file.js'
import { CliError, UsageError } from './errors.js'
import { fetchGatewayJson, gatewayBaseUrl } from './gateway-url.js'
import { measureToolTokens } from './tokens.js'
import { installCommand } from './registry/install.js'

const NAME = /^[A-Za-z0-9_-]+$/

function checkName (name: string | undefined, command: string): string {
  if (name === undefined) throw new UsageError('a server NAME is required', command)
  if (!NAME.test(name)) throw new UsageError(`'${name}' is not a valid server name: use letters, digits, '_' and '-'`, command)
  return name
}

function existing (doc: GatewayConfig, name: string, path: string): ServerConfig {
  const server = doc.mcpServers[name]
  if (!server) {
    const known = Object.keys(doc.mcpServers)
    throw new CliError(`no server named '${name}' in ${path}`, known.length ? `known servers: ${known.join(', ')} (see \`1mcp mcp list\`)` : 'add one with `1mcp mcp add`')
  }
  return server
}

const configOption = { config: { type: 'string' as const } }

const add: Command = {
  name: 'add',
  summary: 'add a server to the config',
  help: `1mcp mcp add NAME [OPTIONS] -- COMMAND [ARGS...]   a stdio server
1mcp mcp add NAME --url URL [OPTIONS]               a Streamable HTTP (or SSE) server

Options:
  --url URL            the server's URL (http:// or https://)
  --type T             stdio | http | sse (inferred when absent)
  --env KEY=VALUE      environment for a stdio server (repeatable; \${VAR} is expanded at load)
  --cwd DIR            working directory of a stdio server
  --header KEY=VALUE   HTTP header for a remote server (repeatable)
  --tags a,b           tags, for filtering with ?tags=, ?tag-filter= and presets
  --description TEXT   what the server is for
  --disabled           add it switched off
  --force              replace a server of the same name
  --config FILE        the gateway's config file (ONEMCP_CONFIG; default ./config.json; created if missing)
`,
  async run (argv, io) {
    const at = argv.indexOf('--')
    const own = at === -1 ? argv : argv.slice(0, at)
    const commandLine = at === -1 ? [] : argv.slice(at + 1)
    const { values, positionals } = parse(own, {
      ...configOption,
      url: { type: 'string' },
      type: { type: 'string' },
      env: { type: 'string', multiple: true },
      cwd: { type: 'string' },
      header: { type: 'string', multiple: true },
      tags: { type: 'string', multiple: true },
      description: { type: 'string' },
      disabled: { type: 'boolean' },
      force: { type: 'boolean' }
    }, 'mcp add')
    const name = checkName(positionals[0], 'mcp add')
    checkAddArguments(name, positionals, values.url, commandLine)
    const server = addedServer(values, commandLine)
    const path = resolveConfigPath(values.config, io.env, io.cwd)
    const replaced = await editConfigFile(path, (doc) => {
      const had = name in doc.mcpServers
      if (had && !values.force) throw new CliError(`a server named '${name}' already exists in ${path}`, `pass --force to replace it, or remove it first with \`1mcp mcp remove ${name}\``)
      doc.mcpServers[name] = server
      return had
    }, { allowMissing: true })
    io.out(`${replaced ? 'replaced' : 'added'} ${name} (${transportKind(server)}) in ${path}\n`)
  }
}

function checkAddArguments (name: string, positionals: string[], url: string | undefined, commandLine: string[]): void {
  if (positionals.length > 1) throw new UsageError(`unexpected '${positionals[1]}': put the server's command after --, as in \`1mcp mcp add ${name} -- ${positionals.slice(1).join(' ')}\``, 'mcp add')
  if (url && commandLine.length) throw new UsageError('give either --url or a command after --, not both', 'mcp add')
  if (!url && !commandLine.length) throw new UsageError('give the server\'s command after -- (stdio) or its --url (HTTP)', 'mcp add')
}

interface AddValues { url?: string, type?: string, env?: string[], cwd?: string, header?: string[], tags?: string[], description?: string, disabled?: boolean }

/** The server entry `mcp add` writes, without keys left unset. */
function addedServer (values: AddValues, commandLine: string[]): ServerConfig {
  const type = values.type as ServerConfig['type']
  const server: ServerConfig = values.url
    ? { ...(type ? { type } : {}), url: values.url, headers: pairsOption(values.header, 'header', 'mcp add') }
    : { command: commandLine[0], args: commandLine.slice(1), env: pairsOption(values.env, 'env', 'mcp add'), cwd: values.cwd }
  if (type && values.url && type === 'stdio') throw new UsageError('--type stdio needs a command, not --url', 'mcp add')
  return withoutUnset({ ...server, ...describedBy(values) })
}

/** The tags, description and disabled flag given on the command line. */
function describedBy (values: AddValues): Partial<ServerConfig> {
  const tags = listOption(values.tags)
  return {
    ...(tags.length ? { tags } : {}),
    ...(values.description ? { description: values.description } : {}),
    ...(values.disabled ? { disabled: true } : {})
  }
}

function withoutUnset (server: ServerConfig): ServerConfig {
  for (const key of Object.keys(server) as Array<keyof ServerConfig>) if (server[key] === undefined) delete server[key]
  return server
}

const remove: Command = {
  name: 'remove',
  summary: 'remove a server from the config',
  help: `1mcp mcp remove NAME

Options:
  --config FILE   the gateway's config file (ONEMCP_CONFIG; default ./config.json)
`,
  async run (argv, io) {
    const { values, positionals } = parse(argv, configOption, 'mcp remove')
    const name = checkName(positionals[0], 'mcp remove')
    const path = resolveConfigPath(values.config, io.env, io.cwd)
    await editConfigFile(path, (doc) => {
      existing(doc, name, path)
      delete doc.mcpServers[name]
    })
    io.out(`removed ${name} from ${path}\n`)
  }
}

function toggle (enable: boolean): Command {
  const verb = enable ? 'enable' : 'disable'
  return {
    name: verb,
    summary: `${verb} a server (a running gateway ${enable ? 'starts' : 'stops'} it on reload)`,
    help: `1mcp mcp ${verb} NAME

Options:
  --config FILE   the gateway's config file (ONEMCP_CONFIG; default ./config.json)
`,
    async run (argv, io) {
      const { values, positionals } = parse(argv, configOption, `mcp ${verb}`)
      const name = checkName(positionals[0], `mcp ${verb}`)
      const path = resolveConfigPath(values.config, io.env, io.cwd)
      const changed = await editConfigFile(path, (doc) => {
        const server = existing(doc, name, path)
        const was = server.disabled === true
        if (enable) delete server.disabled
        else server.disabled = true
        return was === enable
      })
      io.out(changed ? `${verb}d ${name}\n` : `${name} was already ${verb}d\n`)
    }
  }
}

function describeTarget (server: ServerConfig): string {
  if (server.url) return server.url
  return [server.command ?? '', ...(server.args ?? [])].join(' ')
}

const list: Command = {
  name: 'list',
  summary: 'list the configured servers',
  help: `1mcp mcp list

Options:
  --tag-filter EXPR   only servers whose tags match (e.g. 'web and not beta')
  --json              print JSON
  --config FILE       the gateway's config file (ONEMCP_CONFIG; default ./config.json)
`,
  async run (argv, io) {
    const { values } = parse(argv, { ...configOption, 'tag-filter': { type: 'string' }, json: { type: 'boolean' } }, 'mcp list')
    const path = resolveConfigPath(values.config, io.env, io.cwd)
    const { doc } = await readConfigFile(path)
    const filter = values['tag-filter'] ? compileTagFilter(values['tag-filter']) : undefined
    const servers = Object.entries(doc.mcpServers).filter(([, s]) => !filter || filter.matches(s.tags ?? []))
    if (values.json) { io.out(JSON.stringify(Object.fromEntries(servers), null, 2) + '\n'); return }
    if (servers.length === 0) { io.out(`no servers in ${path}${filter ? ' match that filter' : ''}; add one with \`1mcp mcp add\`\n`); return }
    io.out(table([
      ['NAME', 'TRANSPORT', 'ENABLED', 'TAGS', 'TARGET'],
      ...servers.map(([name, s]) => [name, transportKind(s), s.disabled ? 'no' : 'yes', (s.tags ?? []).join(',') || '-', describeTarget(s)])
    ]))
  }
}

const status: Command = {
  name: 'status',
  summary: 'ask the running gateway how each server is doing',
  help: `1mcp mcp status [NAME]

Asks the running gateway's /health.

Options:
  --url URL       the gateway (ONEMCP_URL; default from the config's host and port)
  --json          print the raw report
  --config FILE   the gateway's config file (ONEMCP_CONFIG; default ./config.json)
`,
  async run (argv, io) {
    const { values, positionals } = parse(argv, { ...configOption, url: { type: 'string' }, json: { type: 'boolean' } }, 'mcp status')
    const report = await healthReport(values.url, values.config, io)
    if (values.json) { io.out(JSON.stringify(report, null, 2) + '\n'); return }
    const rows = report.backends.filter((b) => !positionals[0] || b.name === positionals[0])
    if (positionals[0] && rows.length === 0) throw new CliError(`the gateway runs no server named '${positionals[0]}'`, 'it may be disabled or not in the config the gateway loaded; see `1mcp mcp list`')
    io.out(`gateway ${report.status}, ${report.sessions} session(s), config ${report.config.valid ? 'valid' : `INVALID: ${report.config.error ?? ''}`}\n`)
    for (const problem of report.problems ?? []) io.out(`  - ${problem}\n`)
    io.out(table([
      ['NAME', 'STATE', 'TOOLS', 'TOKENS', 'RESTARTS', 'LAST ERROR'],
      ...rows.map((b) => [b.name, b.state, String(b.tools), String((b as { toolTokens?: number }).toolTokens ?? '-'), String(b.restarts), b.lastError ?? ''])
    ]))
    return report.status === 'unhealthy' ? 1 : 0
  }
}

/**
 * The running gateway's report. Where it runs: a flag beats an environment variable, so `--url`, then
 * `--config` (its host and port), then ONEMCP_URL, then ONEMCP_CONFIG or ./config.json.
 */
async function healthReport (url: string | undefined, configFlag: string | undefined, io: Io): Promise<HealthReport> {
  let config: GatewayConfig | undefined
  const fromConfig = url === undefined && (configFlag !== undefined || !io.env.ONEMCP_URL)
  if (fromConfig) config = (await readConfigFile(resolveConfigPath(configFlag, io.env, io.cwd), { allowMissing: configFlag === undefined })).doc
  const base = gatewayBaseUrl(url, fromConfig ? { ...io.env, ONEMCP_URL: undefined } : io.env, config)
  const { status, body } = await fetchGatewayJson(`${base}/health`)
  if ((status !== 200 && status !== 503) || typeof body !== 'object' || body === null || !('backends' in body)) {
    throw new CliError(`${base}/health answered ${status} without a health report`, 'check that --url points at a 1mcp gateway')
  }
  return body as HealthReport
}

const tokens: Command = {
  name: 'tokens',
  summary: 'how many LLM tokens each server\'s tool definitions cost',
  help: `1mcp mcp tokens

Counts the tokens of each server's tool definitions (name, description and schemas, as a client
passes them to the model) with the o200k_base tokenizer (GPT-4o and later). By default it starts the
configured servers itself; with --url it asks a running gateway instead.

Options:
  --url URL           ask the running gateway (ONEMCP_URL)
  --tag-filter EXPR   only servers whose tags match
  --timeout MS        how long to wait for the servers to start (default 30000)
  --json              print JSON
  --config FILE       the gateway's config file (ONEMCP_CONFIG; default ./config.json)
`,
  async run (argv, io) {
    const { values } = parse(argv, { ...configOption, url: { type: 'string' }, json: { type: 'boolean' }, timeout: { type: 'string' }, 'tag-filter': { type: 'string' } }, 'mcp tokens')
    const filter = values['tag-filter'] ? compileTagFilter(values['tag-filter']) : undefined
    let rows: Array<{ name: string, state: string, tools: number, tokens: number | null, tags: string[] }>
    if (values.url) {
      const report = await healthReport(values.url, values.config, io)
      rows = report.backends.map((b) => ({ name: b.name, state: b.state, tools: b.tools, tokens: (b as { toolTokens?: number }).toolTokens ?? null, tags: b.tags }))
    } else {
      const timeoutMs = values.timeout ? Number(values.timeout) : 30_000
      if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new UsageError(`--timeout takes milliseconds, not '${values.timeout}'`, 'mcp tokens')
      rows = await measureToolTokens(resolveConfigPath(values.config, io.env, io.cwd), timeoutMs)
    }
    rows = rows.filter((r) => !filter || filter.matches(r.tags))
    const total = rows.reduce((sum, r) => sum + (r.tokens ?? 0), 0)
    if (values.json) { io.out(JSON.stringify({ servers: rows, total }, null, 2) + '\n'); return }
    io.out(table([
      ['NAME', 'STATE', 'TOOLS', 'TOKENS'],
      ...rows.map((r) => [r.name, r.state, String(r.tools), r.tokens === null ? '-' : String(r.tokens)]),
      ['total', '', String(rows.reduce((s, r) => s + r.tools, 0)), String(total)]
    ]))
  }
}

export const MCP_COMMANDS = [add, installCommand, remove, list, toggle(true), toggle(false), status, tokens]

export const mcpCommand: Command = {
  name: 'mcp',
  summary: 'add, install (from the MCP Registry), remove, list, enable, disable servers; status, token cost',
  help: '',
  run: (argv, io) => runGroup('mcp', 'manage the servers in the gateway\'s config', MCP_COMMANDS, argv, io)
}
