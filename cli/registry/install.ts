import { listOption, parse, type Command, type Io } from '../command.js'
import { editConfigFile } from '../config-file.js'
import { CliError, UsageError } from '../errors.js'
import type { ServerConfig } from '../../api.js'
import { buildEntry, chooseTarget, describeTarget, entryName } from './entry.js'
import { RegistryError, InvalidInputError } from './errors.js'
import { InputResolver, parsePairs, type Ask } from './inputs.js'
import { LinePrompter, promptAsk } from './prompt.js'
import { statusOf } from './schema.js'
import { REGISTRY_OPTIONS, REGISTRY_OPTIONS_HELP, clientFor, loadConfig, parseRef } from './settings.js'

/** An `Io` that may also carry the stream answers are read from (process.stdin otherwise). */
export interface PromptingIo extends Io {
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean }
}

const NAME = /^[A-Za-z0-9_-]+$/

function redacted (entry: ServerConfig): ServerConfig {
  const hide = (record?: Record<string, string>) => record && Object.fromEntries(Object.keys(record).map((k) => [k, '[redacted]']))
  return { ...entry, ...(entry.env ? { env: hide(entry.env) } : {}), ...(entry.headers ? { headers: hide(entry.headers) } : {}) }
}

/** The entry as a one-line command or URL, without values that may be secret. */
function summary (entry: ServerConfig): string {
  if (entry.url) return `${entry.type ?? 'http'} ${entry.url}${entry.headers ? ` (headers: ${Object.keys(entry.headers).join(', ')})` : ''}`
  const env = entry.env ? ` (env: ${Object.keys(entry.env).join(', ')})` : ''
  return `${[entry.command, ...(entry.args ?? [])].join(' ')}${env}`
}

export const installCommand: Command = {
  name: 'install',
  summary: 'add a server from the MCP Registry to the config',
  help: `1mcp mcp install NAME[@VERSION] [OPTIONS]

Turns a registry entry into a config entry: an npm package runs with \`npx -y pkg@version\`, a PyPI
package with \`uvx pkg@version\`, an OCI image with \`docker run -i --rm\`, a remote is a "url" entry.
Required values (API keys, paths, headers) are asked for on stdin unless given as flags; with
--no-input a missing one is an error. A running gateway loads the new server on its own.

Options:
  --name NAME          the server's name in the config (default: the last part of the registry name)
  --type T             install this kind: npm | pypi | oci | remote (default: the first that can run)
  --transport T        install the package or remote with this transport: stdio | streamable-http | sse
  --env KEY=VALUE      an environment variable (repeatable)
  --arg KEY=VALUE      an argument, by its name (--flag) or value hint, or a {variable} (repeatable)
  --header KEY=VALUE   an HTTP header of a remote (repeatable)
  --no-input           never ask; fail on a missing required value
  --tags a,b           tags for the new entry
  --disabled           add it switched off
  --force              replace an entry of the same name
  --dry-run            print the entry, write nothing
${REGISTRY_OPTIONS_HELP}`,
  async run (argv, io: PromptingIo) {
    const { values, positionals } = parse(argv, {
      ...REGISTRY_OPTIONS,
      name: { type: 'string' },
      type: { type: 'string' },
      transport: { type: 'string' },
      env: { type: 'string', multiple: true },
      arg: { type: 'string', multiple: true },
      header: { type: 'string', multiple: true },
      'no-input': { type: 'boolean' },
      tags: { type: 'string', multiple: true },
      disabled: { type: 'boolean' },
      force: { type: 'boolean' },
      'dry-run': { type: 'boolean' }
    }, 'mcp install')
    if (positionals.length !== 1) throw new UsageError('install takes one registry NAME, e.g. io.github.owner/server or io.github.owner/server@1.2.0', 'mcp install')
    const { name: serverName, version } = parseRef(positionals[0])
    if (values.name !== undefined && !NAME.test(values.name)) throw new UsageError(`'${values.name}' is not a valid server name: use letters, digits, '_' and '-'`, 'mcp install')

    const { path, doc } = await loadConfig(values, io)
    const server = await installable(clientFor(values, doc, io), serverName, version, io)
    const target = chooseTarget(server, { type: values.type, transport: values.transport })

    const name = values.name ?? entryName(server.name)
    if (doc?.mcpServers[name] && !values.force && !values['dry-run']) {
      throw new CliError(`a server named '${name}' is already in ${path}`, 'choose another name with --name, or replace it with --force')
    }
    const { entry, inputs } = await resolveEntry(server, target, values, io)
    Object.assign(entry, entryFlags(values))

    if (values['dry-run']) {
      reportDryRun(io, name, server, entry, path, values.json === true)
      return 0
    }
    const replaced = await editConfigFile(path, (config) => {
      const had = name in config.mcpServers
      if (had && !values.force) throw new CliError(`a server named '${name}' is already in ${path}`, 'choose another name with --name, or replace it with --force')
      config.mcpServers[name] = entry
      return had
    }, { allowMissing: true })
    reportInstalled(io, { name, server, entry, replaced, path, skipped: inputs.skipped, json: values.json === true })
    return 0
  }
}

type Server = Awaited<ReturnType<ReturnType<typeof clientFor>['get']>>['server']
type Target = ReturnType<typeof chooseTarget>

/** The server entry to install: not deleted (a deprecated one is installed with a note). */
async function installable (client: ReturnType<typeof clientFor>, serverName: string, version: string | undefined, io: Io): Promise<Server> {
  const found = await client.get(serverName, version)
  const server = found.server
  const status = statusOf(found)
  if (status === 'deleted') {
    throw new RegistryError('SERVER_DELETED', `the registry marks ${server.name}@${server.version} as deleted`, 'deleted entries are usually removed for policy reasons; pick another server', 4)
  }
  if (status === 'deprecated') io.err(`1mcp: note: ${server.name}@${server.version} is deprecated by its publisher\n`)
  return server
}

interface InputValues { env?: string[], arg?: string[], header?: string[], 'no-input'?: boolean }

/** The gateway entry for the chosen target, its inputs from flags or (unless --no-input) asked for on the terminal. */
async function resolveEntry (server: Server, target: Target, values: InputValues, io: PromptingIo): Promise<{ entry: ServerConfig, inputs: InputResolver }> {
  const provided = {
    env: parsePairs('--env', values.env),
    arg: new Map([...parsePairs('--arg', values.arg)].map(([k, v]) => [k.replace(/^-+/, ''), v])),
    header: parsePairs('--header', values.header)
  }
  let prompter: LinePrompter | undefined
  let askedHeader = false
  const ask: Ask | undefined = values['no-input']
    ? undefined
    : (request) => {
        prompter ??= new LinePrompter(io.stdin ?? process.stdin, io.err)
        if (request.problem === undefined && !askedHeader) {
          askedHeader = true
          io.err(`${server.name}@${server.version} as ${describeTarget(target)} needs some values (an empty answer takes the default):\n`)
        }
        return promptAsk(prompter)(request)
      }
  const inputs = new InputResolver(provided, ask)
  let entry: ServerConfig
  try {
    entry = await buildEntry(server, target, inputs)
  } finally {
    prompter?.close()
  }
  inputs.assertComplete()
  const unused = inputs.unused()
  if (unused.length > 0) {
    throw new InvalidInputError(`${unused.join(', ')} ${unused.length === 1 ? 'matches' : 'match'} no input of ${server.name}@${server.version} as ${describeTarget(target)}`,
      `see its inputs with \`1mcp registry show ${server.name}\``)
  }
  return { entry, inputs }
}

function reportInstalled (io: Io, done: { name: string, server: Server, entry: ServerConfig, replaced: boolean, path: string, skipped: string[], json: boolean }): void {
  const { name, server, entry, replaced, path, skipped } = done
  if (done.json) {
    io.out(JSON.stringify({ name, server: server.name, version: server.version, entry: redacted(entry), written: true, replaced, config: path }, null, 2) + '\n')
    return
  }
  io.out(`${replaced ? 'replaced' : 'added'} '${name}' (${server.name}@${server.version}) in ${path}: ${summary(entry)}\n`)
  if (skipped.length > 0) io.out(`optional values left out: ${skipped.join(', ')} (add them with \`1mcp mcp install ${server.name} --force …\` or by editing the file)\n`)
  io.out('a running gateway picks it up on its own (the config file is watched)\n')
}

/** --tags and --disabled, for the entry. */
function entryFlags (values: { tags?: string[], disabled?: boolean }): Partial<ServerConfig> {
  const tags = listOption(values.tags)
  return { ...(tags.length ? { tags } : {}), ...(values.disabled ? { disabled: true } : {}) }
}

function reportDryRun (io: Io, name: string, server: Server, entry: ServerConfig, path: string, json: boolean): void {
  if (json) io.out(JSON.stringify({ name, server: server.name, version: server.version, entry: redacted(entry), written: false }, null, 2) + '\n')
  else io.out(`would add '${name}' to ${path}: ${summary(entry)}\n${JSON.stringify({ [name]: redacted(entry) }, null, 2)}\n`)
}
