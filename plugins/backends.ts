import fp from 'fastify-plugin'
import type { Logger } from 'pino'
import { BackendPool } from '../backends/pool.js'

declare module 'fastify' {
  interface FastifyInstance { backends: BackendPool }
}

/** The pool of backend connections, kept in line with the config. Backends connect in the background. */
export interface BackendsPluginOptions {
  /** where relative working directories resolve: the config file's directory */
  baseDir?: string
}

export default fp<BackendsPluginOptions>(async (app, opts) => {
  const pool = new BackendPool(app.log.child({ plugin: 'backends' }) as Logger, opts.baseDir)
  app.decorate('backends', pool)
  app.gatewayConfig.on('change', (next) => {
    pool.apply(next.mcpServers).catch((err) => app.log.error({ err }, 'applying the new backend set failed'))
  })
  app.addHook('onReady', async () => {
    pool.apply(app.gatewayConfig.current.mcpServers).catch((err) => app.log.error({ err }, 'starting backends failed'))
  })
  app.addHook('onClose', () => pool.close())
}, { name: 'backends', dependencies: ['config'], fastify: '5.x' })
