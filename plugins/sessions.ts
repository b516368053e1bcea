import { join } from 'node:path'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { ConfigError } from './errors.js'
import { dataDirOf } from './data-dir.js'
import { DEFAULTS } from '../schemas/config.js'
import { LOG_LEVELS } from '../mcp/session.js'
import { DEFAULT_SESSION_SETTINGS, SessionRegistry } from '../mcp/sessions.js'
import { parseSessionKey, SessionSealer } from '../mcp/session-seal.js'
import { SharedMarkers } from '../auth/shared-markers.js'

declare module 'fastify' {
  interface FastifyInstance { sessions: SessionRegistry }
}

export interface SessionsPluginOptions {
  /** how long closing the gateway waits for calls in flight to finish */
  shutdownGraceMs?: number
  /** where a relative `auth.dataDir` is resolved from (the config file's folder) */
  baseDir?: string
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

const MARKER_NAME = /^[0-9a-f]{32}$/

/**
 * With a shared key, the instances that also share the data dir tell each other which sealed
 * sessions were ended (DELETE) and what log level each asked for, through marker files under
 * `<dataDir>/sessions/` (docs/deploy/README.md, "Several instances").
 */
async function shareSessions (app: FastifyInstance, registry: SessionRegistry, dir: string): Promise<void> {
  const warn = (err: Error, folder: string) => app.log.warn({ dir: folder, error: err.message }, 'the shared sessions folder cannot be read or written: DELETE and logging/setLevel reach only this instance until it can')
  const ended = new SharedMarkers(join(dir, 'ended'), { isName: (name) => MARKER_NAME.test(name), warn })
  const levels = new SharedMarkers(join(dir, 'levels'), { isName: (name) => MARKER_NAME.test(name), isValue: (level) => LOG_LEVELS.includes(level), warn })
  await Promise.all([ended.follow(), levels.follow()])
  registry.share(ended, levels)
  app.addHook('onClose', async () => {
    ended.close()
    levels.close()
  })
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
  if (sealer.shared) await shareSessions(app, registry, join(dataDirOf(app.gatewayConfig.current.auth, opts.baseDir), 'sessions'))
  app.decorate('sessions', registry)
  app.gatewayConfig.on('change', (next) => { registry.settings = { ...DEFAULT_SESSION_SETTINGS, ...next.sessions } })
  app.addHook('preClose', async () => {
    await registry.drain(opts.shutdownGraceMs ?? DEFAULTS.shutdownGraceMs)
    // what outlived the grace period is cancelled: each call answers "the gateway is shutting down"
    registry.close()
  })
}, { name: 'sessions', dependencies: ['capabilities'], fastify: '5.x' })
