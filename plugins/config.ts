import { EventEmitter } from 'node:events'
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import fp from 'fastify-plugin'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { ValueErrorType } from '@sinclair/typebox/errors'
import type { FastifyBaseLogger } from 'fastify'
import { GatewayConfig, RESTART_ONLY_KEYS } from '../schemas/config.js'

declare module 'fastify' {
  interface FastifyInstance { gatewayConfig: ConfigStore }
}

export interface ConfigStatus {
  valid: boolean
  path: string | null
  loadedAt: string
  error?: string
  errorAt?: string
  /** keys that changed in the file but only take effect after a restart */
  pendingRestart: string[]
}

export class ConfigError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

const validator = TypeCompiler.Compile(GatewayConfig)

/** Replaces `${VAR}` and `${VAR:-default}` in every string of the document. */
export function substituteEnv (value: unknown, env: NodeJS.ProcessEnv, path = ''): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, fallback?: string) => {
      const found = env[name]
      if (found !== undefined && found !== '') return found
      if (fallback !== undefined) return fallback
      throw new ConfigError(`${path || '/'}: environment variable ${name} is not set (use \${${name}:-default} for a default)`)
    })
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, `${path}/${i}`))
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) out[k] = substituteEnv(v, env, `${path}/${k}`)
    return out
  }
  return value
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
export function validateConfig (doc: unknown): GatewayConfig {
  if (validator.Check(doc)) return doc
  const problems: string[] = []
  for (const e of validator.Errors(doc)) {
    if (problems.length >= 5) break
    if (e.type === ValueErrorType.ObjectAdditionalProperties) {
      // TypeBox reports each unknown key with its own path (parent/key) and value.
      const known = Object.keys((e.schema as { properties?: object }).properties ?? {})
      const key = e.path.slice(e.path.lastIndexOf('/') + 1).replace(/~1/g, '/').replace(/~0/g, '~')
      problems.push(`${e.path}: unknown key${suggest(key, known)}; known keys: ${known.join(', ')}`)
      continue
    }
    problems.push(`${e.path || '/'}: ${e.message}`)
  }
  throw new ConfigError(`invalid config: ${[...new Set(problems)].join('; ')}`)
}

export function parseConfigText (text: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(`invalid JSON: ${(err as Error).message}`)
  }
  const config = validateConfig(doc)
  return substituteEnv(config, env) as GatewayConfig
}

export interface ConfigStoreOptions {
  /** a config file to read (and watch) */
  path?: string
  /** an inline config, used when no path is given */
  config?: unknown
  /** values that win over the file (command-line flags) */
  overrides?: Partial<GatewayConfig>
  env?: NodeJS.ProcessEnv
  watch?: boolean
  log: FastifyBaseLogger
}

/**
 * The current config and its status. A bad edit never replaces the last good config;
 * every good reload emits `change` with the new and the previous config.
 */
export class ConfigStore extends EventEmitter<{ change: [GatewayConfig, GatewayConfig] }> {
  current: GatewayConfig
  readonly status: ConfigStatus
  private readonly options: ConfigStoreOptions
  private watcher?: { close: () => Promise<void> }
  private debounce?: NodeJS.Timeout
  private reloading: Promise<boolean> = Promise.resolve(true)

  private constructor (options: ConfigStoreOptions, initial: GatewayConfig) {
    super()
    this.options = options
    this.current = initial
    this.bootValues = { ...initial }
    this.status = { valid: true, path: options.path ?? null, loadedAt: new Date().toISOString(), pendingRestart: [] }
  }

  static async open (options: ConfigStoreOptions): Promise<ConfigStore> {
    const path = options.path ? resolve(options.path) : undefined
    const opts = { ...options, path }
    const store = new ConfigStore(opts, await ConfigStore.read(opts))
    return store
  }

  private static async read (options: ConfigStoreOptions): Promise<GatewayConfig> {
    const env = options.env ?? process.env
    let config: GatewayConfig
    if (options.path) {
      let text: string
      try {
        text = await readFile(options.path, 'utf8')
      } catch (err) {
        throw new ConfigError(`cannot read config file ${options.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
      }
      config = parseConfigText(text, env)
    } else {
      config = substituteEnv(validateConfig(options.config ?? { mcpServers: {} }), env) as GatewayConfig
    }
    return { ...config, ...stripUndefined(options.overrides ?? {}) }
  }

  /** Reads the file again; returns whether the new config is in force. */
  reload (): Promise<boolean> {
    this.reloading = this.reloading.then(() => this.doReload())
    return this.reloading
  }

  private async doReload (): Promise<boolean> {
    let next: GatewayConfig
    try {
      next = await ConfigStore.read(this.options)
    } catch (err) {
      const message = (err as Error).message
      if (this.status.error !== message) this.options.log.error({ error: message }, 'config reload rejected; the last good config stays in force')
      this.status.valid = false
      this.status.error = message
      this.status.errorAt = new Date().toISOString()
      return false
    }
    const previous = this.current
    this.status.valid = true
    delete this.status.error
    delete this.status.errorAt
    this.status.loadedAt = new Date().toISOString()
    this.status.pendingRestart = RESTART_ONLY_KEYS.filter((k) => JSON.stringify(next[k]) !== JSON.stringify(this.initialValue(k)))
    if (this.status.pendingRestart.length > 0) {
      this.options.log.warn({ keys: this.status.pendingRestart }, 'config keys changed that take effect only after a restart')
    }
    if (JSON.stringify(next) === JSON.stringify(previous)) return true
    this.current = next
    this.options.log.info({ servers: Object.keys(next.mcpServers).length }, 'config reloaded')
    this.emit('change', next, previous)
    return true
  }

  private readonly bootValues: GatewayConfig
  private initialValue (key: typeof RESTART_ONLY_KEYS[number]): unknown {
    return this.bootValues[key]
  }

  /** Watches the file (editors that save by rename included) and SIGHUP. */
  async watch (debounceMs: number): Promise<void> {
    const path = this.options.path
    if (!path) return
    const { watch } = await import('chokidar')
    const watcher = watch(path, { ignoreInitial: true, awaitWriteFinish: false, atomic: true })
    const schedule = () => {
      clearTimeout(this.debounce)
      this.debounce = setTimeout(() => { void this.reload() }, debounceMs)
      this.debounce.unref()
    }
    watcher.on('add', schedule).on('change', schedule).on('unlink', schedule)
    watcher.on('error', (err) => this.options.log.warn({ err }, 'config watcher error'))
    await new Promise<void>((resolve) => watcher.once('ready', () => resolve()))
    this.watcher = watcher
  }

  async close (): Promise<void> {
    clearTimeout(this.debounce)
    await this.watcher?.close()
    await this.reloading
  }
}

function stripUndefined<T extends object> (o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

export interface ConfigPluginOptions {
  configPath?: string
  config?: unknown
  overrides?: Partial<GatewayConfig>
  watch?: boolean
}

export default fp<ConfigPluginOptions>(async (app, opts) => {
  const store = await ConfigStore.open({ path: opts.configPath, config: opts.config, overrides: opts.overrides, log: app.log.child({ plugin: 'config' }) })
  app.decorate('gatewayConfig', store)
  if (opts.watch ?? Boolean(opts.configPath)) await store.watch(store.current.reloadDebounceMs ?? 300)
  // `kill -HUP` reloads the file now, watched or not (a watcher can miss an edit: network filesystems, slow debounce)
  if (opts.configPath) {
    const onHup = () => {
      app.log.info({ plugin: 'config' }, 'SIGHUP: reloading the config')
      void store.reload()
    }
    process.on('SIGHUP', onHup)
    app.addHook('onClose', async () => { process.off('SIGHUP', onHup) })
  }
  app.addHook('onClose', () => store.close())
}, { name: 'config', fastify: '5.x' })
