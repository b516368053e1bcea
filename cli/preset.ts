import { compileTagFilter, TagFilterError, type GatewayConfig, type Preset } from '../api.js'
import { listOption, parse, runGroup, table, type Command } from './command.js'
import { editConfigFile, readConfigFile, resolveConfigPath } from './config-file.js'
import { CliError, UsageError } from './errors.js'
import { gatewayBaseUrl } from './gateway-url.js'

const NAME = /^[A-Za-z0-9_-]+$/
const configOption = { config: { type: 'string' as const } }
const CONFIG_HELP = '  --config FILE        the gateway\'s config file (ONEMCP_CONFIG; default ./config.json)\n'

function presetName (name: string | undefined, command: string): string {
  if (name === undefined) throw new UsageError('a preset NAME is required', command)
  if (!NAME.test(name)) throw new UsageError(`'${name}' is not a valid preset name: use letters, digits, '_' and '-'`, command)
  return name
}

function findPreset (doc: GatewayConfig, name: string): Preset {
  const preset = doc.presets?.[name]
  if (!preset) {
    const known = Object.keys(doc.presets ?? {})
    throw new CliError(`no preset named '${name}'`, known.length ? `known presets: ${known.join(', ')}` : 'create one with `1mcp preset create NAME --filter EXPR`')
  }
  return preset
}

/** Checks a filter, turning a syntax error into an operator-facing one that points at the spot. */
function checkFilter (source: string): void {
  try {
    compileTagFilter(source)
  } catch (err) {
    if (!(err instanceof TagFilterError)) throw err
    throw new CliError(`${err.message}\n  ${source}\n  ${' '.repeat(err.position - 1)}^`, "write tags joined by and, or, not and parentheses, e.g. 'web and (db or cache) and not beta'", 2)
  }
}

function matchingServers (doc: GatewayConfig, source: string): string[] {
  const filter = compileTagFilter(source)
  return Object.entries(doc.mcpServers).filter(([, s]) => filter.matches(s.tags ?? [])).map(([n]) => n)
}

const create: Command = {
  name: 'create',
  summary: 'save a named tag filter',
  help: `1mcp preset create NAME (--filter EXPR | --tags a,b) [--description TEXT] [--force]

A preset is a tag filter clients select with /mcp?preset=NAME (or \`1mcp proxy --preset NAME\`).
EXPR joins tags with and, or, not and parentheses: 'web and (db or cache) and not beta'.
--tags a,b is short for 'a or b'.

Options:
  --filter EXPR        the tag filter
  --tags a,b           any of these tags
  --description TEXT   what the preset is for
  --force              replace a preset of the same name
${CONFIG_HELP}`,
  async run (argv, io) {
    const { values, positionals } = parse(argv, { ...configOption, filter: { type: 'string' }, tags: { type: 'string', multiple: true }, description: { type: 'string' }, force: { type: 'boolean' } }, 'preset create')
    const name = presetName(positionals[0], 'preset create')
    const tags = listOption(values.tags)
    if (values.filter !== undefined && tags.length) throw new UsageError('give either --filter or --tags, not both', 'preset create')
    const filter = values.filter ?? tags.join(' or ')
    if (!filter) throw new UsageError('a preset needs --filter EXPR or --tags a,b', 'preset create')
    checkFilter(filter)
    const path = resolveConfigPath(values.config, io.env, io.cwd)
    const matched = await editConfigFile(path, (doc) => {
      if (doc.presets?.[name] && !values.force) throw new CliError(`a preset named '${name}' already exists`, `pass --force to replace it, or delete it first with \`1mcp preset delete ${name}\``)
      doc.presets = { ...doc.presets, [name]: { filter, ...(values.description ? { description: values.description } : {}) } }
      return matchingServers(doc, filter)
    })
    io.out(`saved preset ${name}: ${filter}\nmatches ${matched.length ? matched.join(', ') : 'no server yet'}\n`)
  }
}

const list: Command = {
  name: 'list',
  summary: 'list the presets',
  help: `1mcp preset list [--json]\n\nOptions:\n  --json               print JSON\n${CONFIG_HELP}`,
  async run (argv, io) {
    const { values } = parse(argv, { ...configOption, json: { type: 'boolean' } }, 'preset list')
    const { doc, path } = await readConfigFile(resolveConfigPath(values.config, io.env, io.cwd))
    const presets = Object.entries(doc.presets ?? {})
    if (values.json) { io.out(JSON.stringify(doc.presets ?? {}, null, 2) + '\n'); return }
    if (presets.length === 0) { io.out(`no presets in ${path}; create one with \`1mcp preset create NAME --filter EXPR\`\n`); return }
    io.out(table([['NAME', 'FILTER', 'SERVERS', 'DESCRIPTION'], ...presets.map(([n, p]) => [n, p.filter, String(matchingServers(doc, p.filter).length), p.description ?? ''])]))
  }
}

const show: Command = {
  name: 'show',
  summary: 'show a preset and the servers it selects',
  help: `1mcp preset show NAME [--json]\n\nOptions:\n  --json               print JSON\n${CONFIG_HELP}`,
  async run (argv, io) {
    const { values, positionals } = parse(argv, { ...configOption, json: { type: 'boolean' } }, 'preset show')
    const name = presetName(positionals[0], 'preset show')
    const { doc } = await readConfigFile(resolveConfigPath(values.config, io.env, io.cwd))
    const preset = findPreset(doc, name)
    const servers = matchingServers(doc, preset.filter)
    if (values.json) { io.out(JSON.stringify({ name, ...preset, servers }, null, 2) + '\n'); return }
    io.out(`preset ${name}\n  filter:      ${preset.filter}\n${preset.description ? `  description: ${preset.description}\n` : ''}  servers:     ${servers.length ? servers.join(', ') : '(none match)'}\n`)
  }
}

const remove: Command = {
  name: 'delete',
  summary: 'delete a preset',
  help: `1mcp preset delete NAME\n\nOptions:\n${CONFIG_HELP}`,
  async run (argv, io) {
    const { values, positionals } = parse(argv, configOption, 'preset delete')
    const name = presetName(positionals[0], 'preset delete')
    await editConfigFile(resolveConfigPath(values.config, io.env, io.cwd), (doc) => {
      findPreset(doc, name)
      delete doc.presets![name]
      if (Object.keys(doc.presets!).length === 0) delete doc.presets
    })
    io.out(`deleted preset ${name}\n`)
  }
}

const url: Command = {
  name: 'url',
  summary: 'print the URL a client uses to connect with a preset',
  help: `1mcp preset url NAME [--url BASE]

Options:
  --url BASE           the gateway's base URL (ONEMCP_URL; default from the config's externalUrl or host and port)
${CONFIG_HELP}`,
  async run (argv, io) {
    const { values, positionals } = parse(argv, { ...configOption, url: { type: 'string' } }, 'preset url')
    const name = presetName(positionals[0], 'preset url')
    const { doc } = await readConfigFile(resolveConfigPath(values.config, io.env, io.cwd))
    findPreset(doc, name)
    io.out(`${gatewayBaseUrl(values.url, io.env, doc)}/mcp?preset=${encodeURIComponent(name)}\n`)
  }
}

export const PRESET_COMMANDS = [create, list, show, remove, url]

export const presetCommand: Command = {
  name: 'preset',
  summary: 'named tag filters clients select with ?preset=NAME',
  help: '',
  run: (argv, io) => runGroup('preset', 'named tag filters clients select with ?preset=NAME', PRESET_COMMANDS, argv, io)
}
