import fp from 'fastify-plugin'
import { DEFAULTS } from '../schemas/config.js'
import { DEFAULT_SESSION_SETTINGS, SessionRegistry } from '../mcp/sessions.js'

declare module 'fastify' {
  interface FastifyInstance { sessions: SessionRegistry }
}

export interface SessionsPluginOptions {
  /** how long closing the gateway waits for calls in flight to finish */
  shutdownGraceMs?: number
}

export default fp<SessionsPluginOptions>(async (app, opts) => {
  const registry = new SessionRegistry({ ...DEFAULT_SESSION_SETTINGS, ...app.gatewayConfig.current.sessions })
  app.decorate('sessions', registry)
  app.gatewayConfig.on('change', (next) => { registry.settings = { ...DEFAULT_SESSION_SETTINGS, ...next.sessions } })
  app.addHook('preClose', async () => {
    await registry.drain(opts.shutdownGraceMs ?? DEFAULTS.shutdownGraceMs)
    // what outlived the grace period is cancelled: each call answers "the gateway is shutting down"
    registry.close()
  })
}, { name: 'sessions', dependencies: ['capabilities'], fastify: '5.x' })
