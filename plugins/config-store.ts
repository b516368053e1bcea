import { EventEmitter } from 'node:events'
import { resolve } from 'node:path'
import type { FastifyBaseLogger } from 'fastify'
import { RESTART_ONLY_KEYS, type GatewayConfig } from '../schemas/config.js'
import { loadConfig, type ConfigSource } from './config-load.js'

export interface ConfigStatus {
  valid: boolean
  path: string | null
  loadedAt: string
  error?: string
  errorAt?: string
  /** keys that changed in the file but only take effect after a restart */
  pendingRestart: string[]
}

export interface ConfigStoreOptions extends ConfigSource {
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

  private static read (options: ConfigStoreOptions): Promise<GatewayConfig> {
    return loadConfig(options)
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
    // what takes effect only at a restart keeps its boot value until then, for every reader alike
    next = holdRestartOnly(next, this.bootValues)
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

function holdRestartOnly (next: GatewayConfig, boot: GatewayConfig): GatewayConfig {
  const held: Record<string, unknown> = { ...next }
  for (const key of RESTART_ONLY_KEYS) {
    if (boot[key] === undefined) delete held[key]
    else held[key] = boot[key]
  }
  return held as unknown as GatewayConfig
}
