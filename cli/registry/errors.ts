import { CliError } from '../errors.js'

/**
 * The failures of `1mcp registry` and `1mcp mcp install`, each declared once. The message says what
 * went wrong, the hint what the user can do about it; the CLI prints both and exits with `exitCode`.
 */
export class RegistryError extends CliError {
  readonly code: string
  constructor (code: string, message: string, hint?: string, exitCode = 1) {
    super(message, hint, exitCode)
    this.name = 'RegistryError'
    this.code = code
  }
}

export class RegistryUnreachableError extends RegistryError {
  constructor (baseUrl: string, reason: string, staleCache?: { ageMs: number, maxStaleMs: number }) {
    const cacheNote = staleCache
      ? ` A cached answer exists but is ${formatAge(staleCache.ageMs)} old, past the ${formatAge(staleCache.maxStaleMs)} limit (registry.maxStaleMs).`
      : ''
    super('REGISTRY_UNREACHABLE', `cannot reach the MCP Registry at ${baseUrl}: ${reason}.${cacheNote}`,
      'check the network, or point --registry-url (or "registry": { "url" } in the config) at a reachable registry', 3)
  }
}

export class RegistryResponseError extends RegistryError {
  constructor (url: string, problem: string) {
    super('REGISTRY_BAD_RESPONSE', `${url} answered something that is not an MCP Registry response: ${problem}`,
      'check that --registry-url (or "registry": { "url" }) is the base URL of an MCP Registry, e.g. https://registry.modelcontextprotocol.io')
  }
}

export class ServerNotFoundError extends RegistryError {
  readonly nearMatches: string[]
  constructor (name: string, version: string | undefined, nearMatches: string[], versionsKnown: boolean) {
    let message: string
    let hint: string
    if (version && versionsKnown) {
      message = `${name} has no version ${version}`
      hint = `list its versions with \`1mcp registry versions ${name}\``
    } else {
      message = `no server named ${name} in the registry`
      hint = nearMatches.length > 0
        ? `did you mean: ${nearMatches.join(', ')}?`
        : `search for it with \`1mcp registry search ${name.split('/').pop() ?? name}\``
    }
    super('SERVER_NOT_FOUND', message, hint, 4)
    this.nearMatches = nearMatches
  }
}

export class UnsupportedPackageError extends RegistryError {
  constructor (message: string, hint?: string) {
    super('UNSUPPORTED_PACKAGE', message, hint, 5)
  }
}

export class MissingInputError extends RegistryError {
  constructor (missing: string[]) {
    super('MISSING_INPUT', `required values are missing: ${missing.join('; ')}`, 'pass them as flags, or run without --no-input to be asked for them', 6)
  }
}

export class InvalidInputError extends RegistryError {
  constructor (message: string, hint?: string) {
    super('INVALID_INPUT', message, hint, 2)
  }
}

/** "42 s", "3 min", "5 h", "2 days". */
export function formatAge (ms: number): string {
  const s = Math.round(ms / 1000)
  if (s < 120) return `${s} s`
  const min = Math.round(s / 60)
  if (min < 120) return `${min} min`
  const h = Math.round(min / 60)
  if (h < 48) return `${h} h`
  return `${Math.round(h / 24)} days`
}
