import type { ServerConfig } from '../../api.js'
import { InvalidInputError, UnsupportedPackageError } from './errors.js'
import type { InputResolver } from './inputs.js'
import type { Argument, Package, ServerDetail, Transport } from './schema.js'

/** How an entry can be run: one of its packages, or one of its remote endpoints. */
export type Target =
  | { kind: 'package', type: string, transport: string, pkg: Package }
  | { kind: 'remote', type: 'remote', transport: string, remote: Transport }

/** Package types we can launch as a stdio backend, and the runner for each. */
export const RUNNERS: Record<string, string> = { npm: 'npx', pypi: 'uvx', oci: 'docker' }
const REMOTE_TRANSPORTS = ['streamable-http', 'sse']

export function targetsOf (server: ServerDetail): Target[] {
  return [
    ...(server.packages ?? []).map((pkg): Target => ({ kind: 'package', type: pkg.registryType, transport: pkg.transport?.type ?? 'stdio', pkg })),
    ...(server.remotes ?? []).map((remote): Target => ({ kind: 'remote', type: 'remote', transport: remote.type, remote }))
  ]
}

export function runnable (target: Target): boolean {
  return target.kind === 'remote'
    ? REMOTE_TRANSPORTS.includes(target.transport)
    : target.type in RUNNERS && target.transport === 'stdio'
}

export function describeTarget (target: Target): string {
  return `${target.type} (${target.transport})`
}

/**
 * Picks what to install: the first runnable package in the entry's order, then the first remote,
 * narrowed by `--type` and `--transport`. Says plainly when nothing the entry offers can run here.
 */
export function chooseTarget (server: ServerDetail, wanted: { type?: string, transport?: string } = {}): Target {
  const all = targetsOf(server)
  if (all.length === 0) {
    throw new UnsupportedPackageError(`${server.name}@${server.version} lists no packages and no remotes: there is nothing to run`,
      `see its repository${server.repository?.url ? ` (${server.repository.url})` : ''} for how to start it, then add it with \`1mcp mcp add\``)
  }
  const offered = all.map(describeTarget).join(', ')
  const matching = all.filter((t) => (!wanted.type || t.type === wanted.type) && (!wanted.transport || t.transport === wanted.transport))
  if (matching.length === 0) {
    const filters = [wanted.type && `--type ${wanted.type}`, wanted.transport && `--transport ${wanted.transport}`].filter(Boolean).join(' ')
    throw new UnsupportedPackageError(`${server.name}@${server.version} offers ${offered}; nothing matches ${filters}`, 'pick one of those, or drop the filter')
  }
  const found = matching.find(runnable)
  if (found) return found
  throw new UnsupportedPackageError(unsupportedMessage(server, matching),
    '1mcp runs npm (npx), pypi (uvx) and oci (docker) packages over stdio, and streamable-http or sse remotes; add any other server by hand with `1mcp mcp add`')
}

function unsupportedMessage (server: ServerDetail, targets: Target[]): string {
  const reasons = targets.map((t) => {
    if (t.kind === 'remote') return `remote (${t.transport}): unknown transport`
    if (!(t.type in RUNNERS)) return `${t.type}: a package type 1mcp cannot run${manualHint(t.pkg)}`
    return `${t.type} (${t.transport}): the package serves ${t.transport} itself${t.pkg.transport?.url ? ` at ${t.pkg.transport.url}` : ''}; start it yourself and add its URL as a "url" entry`
  })
  return `cannot install ${server.name}@${server.version}: ${reasons.join('; ')}`
}

function manualHint (pkg: Package): string {
  const ref = pkg.version ? `${pkg.identifier}@${pkg.version}` : pkg.identifier
  if (pkg.registryType === 'nuget') return ` (run it yourself with "dnx ${ref} --yes" and add a "command" entry by hand)`
  if (pkg.registryType === 'mcpb') return ` (download and unpack ${pkg.identifier} yourself, then add a "command" entry by hand)`
  return ''
}

/** A config name from a registry name: `io.github.acme/weather` → `weather`. */
export function entryName (serverName: string): string {
  const last = serverName.split('/').pop() ?? serverName
  const name = last.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '')
  return name || 'server'
}

/** Turns a registry entry into a config entry, asking `inputs` for every value it needs. */
export async function buildEntry (server: ServerDetail, target: Target, inputs: InputResolver): Promise<ServerConfig> {
  const entry = target.kind === 'remote' ? await remoteEntry(target.remote, inputs) : await packageEntry(target.pkg, inputs)
  if (server.description) entry.description = server.description
  return entry
}

async function remoteEntry (remote: Transport, inputs: InputResolver): Promise<ServerConfig> {
  const url = await inputs.fill(remote.url ?? '', remote.variables ?? {}, true)
  if (!/^https?:\/\//.test(url)) throw new InvalidInputError(`the remote's URL '${url}' is not an http(s) URL`)
  const headers: Record<string, string> = {}
  for (const header of remote.headers ?? []) {
    const [value] = await inputs.resolve('header', header.name, header)
    if (value !== undefined) headers[header.name] = value
  }
  return {
    type: remote.type === 'sse' ? 'sse' : 'streamable-http',
    url,
    ...(Object.keys(headers).length > 0 ? { headers } : {})
  }
}

async function packageEntry (pkg: Package, inputs: InputResolver): Promise<ServerConfig> {
  // asked in this order: how to run it, what to run, then its environment
  const runtimeArgs = await argumentTokens(pkg.runtimeArguments ?? [], inputs)
  const packageArgs = await argumentTokens(pkg.packageArguments ?? [], inputs)
  const env: Record<string, string> = {}
  for (const variable of pkg.environmentVariables ?? []) {
    const [value] = await inputs.resolve('env', variable.name, variable)
    if (value !== undefined) env[variable.name] = value
  }
  const entry: ServerConfig = { command: RUNNERS[pkg.registryType], args: runnerArgs(pkg, runtimeArgs, packageArgs, Object.keys(env)) }
  if (Object.keys(env).length > 0) entry.env = env
  return entry
}

/** The runner's command line: npx, uvx or docker, each with the package pinned to its version. */
function runnerArgs (pkg: Package, runtimeArgs: string[], packageArgs: string[], envNames: string[]): string[] {
  switch (pkg.registryType) {
    case 'npm': {
      const registry = pkg.registryBaseUrl && !/^https:\/\/registry\.npmjs\.org\/?$/.test(pkg.registryBaseUrl) ? [`--registry=${pkg.registryBaseUrl}`] : []
      return ['-y', ...registry, ...runtimeArgs, pinned(pkg.identifier, pkg.version, '@'), ...packageArgs]
    }
    case 'pypi':
      return [...runtimeArgs, pinned(pkg.identifier, pkg.version, '@'), ...packageArgs]
    case 'oci':
      // a container sees none of the gateway's environment: name each variable for docker to pass in
      return ['run', '-i', '--rm', ...runtimeArgs, ...envNames.flatMap((name) => ['-e', name]), image(pkg), ...packageArgs]
  }
  return []
}

function pinned (identifier: string, version: string | undefined, separator: string): string {
  return version ? `${identifier}${separator}${version}` : identifier
}

/** The image reference: the identifier, with the version as its tag when it has neither tag nor digest. */
function image (pkg: Package): string {
  const lastPart = pkg.identifier.split('/').pop() ?? ''
  const tagged = lastPart.includes(':') || pkg.identifier.includes('@')
  return tagged || !pkg.version ? pkg.identifier : `${pkg.identifier}:${pkg.version}`
}

/** Command-line tokens for a list of arguments: `value` for a positional one, `--name value` for a named one. */
async function argumentTokens (args: Argument[], inputs: InputResolver): Promise<string[]> {
  const tokens: string[] = []
  for (const arg of args) {
    if (arg.type === 'named') {
      if (!arg.name) throw new InvalidInputError('the registry entry has a named argument without a name')
      const values = await inputs.resolve('arg', arg.name.replace(/^-+/, ''), arg)
      for (const value of values) {
        if (arg.format === 'boolean') {
          if (value === 'true') tokens.push(arg.name)
        } else {
          tokens.push(arg.name, value)
        }
      }
    } else {
      const key = arg.valueHint ?? arg.value ?? 'argument'
      tokens.push(...await inputs.resolve('arg', key, arg))
    }
  }
  return tokens
}
