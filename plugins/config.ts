import fp from 'fastify-plugin'
import { DEFAULTS, type GatewayConfig } from '../schemas/config.js'
import { ConfigStore } from './config-store.js'

declare module 'fastify' {
  interface FastifyInstance { gatewayConfig: ConfigStore }
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
  if (opts.watch ?? Boolean(opts.configPath)) await store.watch(store.current.reloadDebounceMs ?? DEFAULTS.reloadDebounceMs)
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
