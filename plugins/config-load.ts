import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { ValueErrorType } from '@sinclair/typebox/errors'
import { GatewayConfig } from '../schemas/config.js'
import { ConfigError } from './errors.js'

const validator = TypeCompiler.Compile(GatewayConfig)

/**
 * The user's 1mcp folder: `$XDG_CONFIG_HOME/1mcp`, else `~/.config/1mcp` (`%APPDATA%\\1mcp` on
 * Windows; `$ONEMCP_HOME/.config/1mcp` when ONEMCP_HOME stands in for the home folder).
 */
export function userConfigDir (env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (env.ONEMCP_HOME) return join(env.ONEMCP_HOME, '.config', '1mcp')
  if (platform === 'win32' && env.APPDATA) return join(env.APPDATA, '1mcp')
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), '1mcp')
}

export interface ConfigLocation {
  path: string
  /** how it was found: named by --config or ONEMCP_CONFIG, ./config.json, or the user's own file */
  source: 'named' | 'cwd' | 'user'
}

/**
 * Where the gateway and the CLI find the config: `--config`, then `ONEMCP_CONFIG`, then
 * `./config.json` when it exists, else the user's `config.json` in {@link userConfigDir}.
 */
export function locateConfig (flag: string | undefined, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): ConfigLocation {
  const named = flag ?? env.ONEMCP_CONFIG
  if (named) return { path: resolve(cwd, named), source: 'named' }
  const local = resolve(cwd, 'config.json')
  if (existsSync(local)) return { path: local, source: 'cwd' }
  return { path: join(userConfigDir(env), 'config.json'), source: 'user' }
}

/**
 * Replaces `${VAR}` and `${VAR:-default}` in every string of the document. `ONEMCP_CONFIG_DIR` (the
 * config file's folder) is always defined, so a path can be kept beside the config:
 * `"${ONEMCP_CONFIG_DIR}/memory.jsonl"`.
 */
export function substituteEnv (value: unknown, env: NodeJS.ProcessEnv, path = '', keepUnset = false): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-((?:[^}$]|\$\{[A-Za-z_][A-Za-z0-9_]*\})*))?\}/g, (whole, name: string, fallback?: string) => {
      const found = env[name]
      if (found !== undefined && found !== '') return found
      if (fallback !== undefined) return substituteEnv(fallback, env, path, keepUnset) as string
      if (keepUnset) return whole
      throw new ConfigError(`${jsonPath(path)}: environment variable ${name} is not set (use \${${name}:-default} for a default)`)
    })
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, `${path}/${i}`, keepUnset))
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) out[k] = substituteEnv(v, env, `${path}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, keepUnset)
    return out
  }
  return value
}

/**
 * A JSON pointer (`/mcpServers/a/args/0`) as people write it (`mcpServers.a.args[0]`): readable, and
 * not mistaken for a file path by the redaction of errors in /health.
 */
export function jsonPath (pointer: string): string {
  if (pointer === '' || pointer === '/') return '(the document)'
  let out = ''
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    if (/^\d+$/.test(key)) out += `[${key}]`
    else if (/^[A-Za-z_$][\w$-]*$/.test(key)) out += out ? `.${key}` : key
    else out += `[${JSON.stringify(key)}]`
  }
  return out
}

/** Where a JSON.parse error points, as line and column (Node 20 reports only a position). */
function syntaxError (text: string, err: Error): ConfigError {
  const message = err.message.replace(/\s*\(line \d+ column \d+\)$/, '')
  const at = /at position (\d+)/.exec(message)
  const position = at ? Number(at[1]) : /end of JSON input/.test(message) ? text.length : undefined
  if (position === undefined) return new ConfigError(`invalid JSON: ${message}`)
  const before = text.slice(0, position)
  const line = before.split('\n').length
  const column = position - before.lastIndexOf('\n')
  return new ConfigError(`invalid JSON at line ${line}, column ${column}: ${message.replace(/ in JSON at position \d+/, '').replace(/,? ?"[^"]*"\.\.\. is not valid JSON$/, '')}`)
}

export function editDistance (a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_v, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = cur
    }
  }
  return row[b.length]
}

function suggest (key: string, known: string[]): string {
  let best = ''
  let bestDistance = 3
  for (const candidate of known) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase())
    if (d < bestDistance) { best = candidate; bestDistance = d }
  }
  return best ? ` (did you mean "${best}"?)` : ''
}

/** Validates a parsed document; the error names each JSON path and what is wrong there. */
export function validateConfig (doc: unknown, unchecked?: (value: unknown) => boolean): GatewayConfig {
  if (validator.Check(doc)) return doc
  const problems: string[] = []
  for (const e of validator.Errors(doc)) {
    if (problems.length >= 5) break
    if (unchecked?.(e.value) === true) continue
    if (e.type === ValueErrorType.ObjectAdditionalProperties) {
      // TypeBox reports each unknown key with its own path (parent/key) and value.
      const known = Object.keys((e.schema as { properties?: object }).properties ?? {})
      const key = e.path.slice(e.path.lastIndexOf('/') + 1).replace(/~1/g, '/').replace(/~0/g, '~')
      problems.push(`${jsonPath(e.path)}: unknown key${suggest(key, known)}; known keys: ${known.join(', ')}`)
      continue
    }
    problems.push(`${jsonPath(e.path)}: ${e.message}`)
  }
  if (problems.length === 0) return doc as GatewayConfig
  throw new ConfigError(`invalid config: ${[...new Set(problems)].join('; ')}`)
}

/**
 * Parses, substitutes `${VAR}`s, then validates what the gateway will use: a variable may stand for
 * any string value (a URL, a port in a string), and an error names the JSON path.
 */
/**
 * Validates a document as written, `${VAR}`s unexpanded (what the CLI edits and writes back): each is
 * checked with its value from `env` where set, so `"url": "${U}"` is checked as the gateway will see it.
 */
export function validateConfigTemplate (doc: unknown, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  // a variable not set here (set only where the gateway runs) leaves its value unchecked
  validateConfig(substituteEnv(doc, env, '', true), (value) => typeof value === 'string' && value.includes('${'))
  return doc as GatewayConfig
}

export function parseConfigText (text: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const json = text.replace(/^\uFEFF/, '')
  let doc: unknown
  try {
    doc = JSON.parse(json)
  } catch (err) {
    throw syntaxError(json, err as Error)
  }
  return validateConfig(substituteEnv(doc, env))
}

/** Where a config comes from: a file or an inline document, the flags on top. */
export interface ConfigSource {
  /** a config file to read (and watch) */
  path?: string
  /** an inline config, used when no path is given */
  config?: unknown
  /** values that win over the file (command-line flags) */
  overrides?: Partial<GatewayConfig>
  env?: NodeJS.ProcessEnv
}

const READ_FAILURES: Record<string, string> = {
  ENOENT: 'does not exist: check --config (or ONEMCP_CONFIG), or create it with `1mcp mcp add NAME -- COMMAND ARGS...`',
  EISDIR: 'is a directory: point --config at the JSON file in it',
  EACCES: 'cannot be read by this user: fix its permissions',
  EPERM: 'cannot be read by this user: fix its permissions'
}

/** Reads, substitutes and validates the config (file or inline), flags on top; a ConfigError names what to fix. */
export async function loadConfig (options: ConfigSource): Promise<GatewayConfig> {
  const env = configEnv(options.env ?? process.env, options.path)
  let config: GatewayConfig
  if (options.path) {
    let text: string
    try {
      text = await readFile(options.path, 'utf8')
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? ''
      throw new ConfigError(`config file ${resolve(options.path)} ${READ_FAILURES[code] ?? `cannot be read (${code || (err as Error).message})`}`)
    }
    config = parseConfigText(text, env)
  } else {
    config = validateConfig(substituteEnv(options.config ?? { mcpServers: {} }, env))
  }
  return { ...config, ...stripUndefined(options.overrides ?? {}) }
}

/** The environment `${VAR}`s are read from: the process's, plus `ONEMCP_CONFIG_DIR`. */
export function configEnv (env: NodeJS.ProcessEnv, configPath: string | undefined): NodeJS.ProcessEnv {
  return { ...env, ONEMCP_CONFIG_DIR: configPath ? dirname(resolve(configPath)) : process.cwd() }
}

function stripUndefined<T extends object> (o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
