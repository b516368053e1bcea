import fp from 'fastify-plugin'
import { ConfigError } from './errors.js'
import { DEFAULTS } from '../schemas/config.js'
import { DEFAULT_SESSION_SETTINGS, SessionRegistry } from '../mcp/sessions.js'
import { parseSessionKey, SessionSealer } from '../mcp/session-seal.js'

declare module 'fastify' {
  interface FastifyInstance { sessions: SessionRegistry }
}

export interface SessionsPluginOptions {
  /** how long closing the gateway waits for calls in flight to finish */
  shutdownGraceMs?: number
}

/** A key from the config or the environment; a bad one is a start-up error that names the setting, never the key. */
function keyFrom (text: string | undefined, setting: string): Buffer | undefined {
  if (!text) return undefined
  try {
    return parseSessionKey(text)
  } catch (err) {
    throw new ConfigError(`${setting}: ${(err as Error).message}`)
  }
}

export default fp<SessionsPluginOptions>(async (app, opts) => {
  const settings = app.gatewayConfig.current.sessions ?? {}
  const sealer = new SessionSealer(
    keyFrom(settings.key ?? process.env.ONEMCP_SESSION_KEY, 'sessions.key (ONEMCP_SESSION_KEY)'),
    keyFrom(settings.previousKey ?? process.env.ONEMCP_SESSION_KEY_PREVIOUS, 'sessions.previousKey (ONEMCP_SESSION_KEY_PREVIOUS)')
  )
  if (!sealer.shared) app.log.debug('sessions.key is not set: session ids are sealed with a key of this run (one instance only; set ONEMCP_SESSION_KEY on every instance behind a load balancer)')
  const registry = new SessionRegistry({ ...DEFAULT_SESSION_SETTINGS, ...settings }, sealer)
  registry.setInstanceUrl(settings.instanceUrl ?? process.env.ONEMCP_INSTANCE_URL)
  app.decorate('sessions', registry)
  app.gatewayConfig.on('change', (next) => { registry.settings = { ...DEFAULT_SESSION_SETTINGS, ...next.sessions } })
  app.addHook('preClose', async () => {
    await registry.drain(opts.shutdownGraceMs ?? DEFAULTS.shutdownGraceMs)
    // what outlived the grace period is cancelled: each call answers "the gateway is shutting down"
    registry.close()
  })
}, { name: 'sessions', dependencies: ['capabilities'], fastify: '5.x' })
