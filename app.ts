import { dirname, resolve } from 'node:path'
import { readFile } from 'node:fs/promises'
import { pathToFileURL } from 'node:url'
import Fastify, { LogController, type FastifyInstance, type FastifyPluginAsync, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import configPlugin, { parseConfigText, validateConfig, type ConfigPluginOptions } from './plugins/config.js'
import authPlugin from './plugins/auth.js'
import backendsPlugin from './plugins/backends.js'
import capabilitiesPlugin from './plugins/capabilities.js'
import sessionsPlugin from './plugins/sessions.js'
import healthPlugin from './plugins/health.js'
import metricsPlugin from './plugins/metrics.js'
import { requestLoggerFactory } from './plugins/request-logger.js'
import healthRoutes from './routes/health.js'
import mcpRoutes from './routes/mcp.js'
import oauthRoutes from './routes/oauth.js'
import sseRoutes from './routes/sse.js'
import metricsRoutes from './routes/metrics.js'
import { Dispatcher } from './routes/dispatch.js'
import { hostGuard } from './routes/host-guard.js'
import type { GatewayConfig } from './schemas/config.js'

export type { GatewayConfig } from './schemas/config.js'
export { BackendPool } from './backends/pool.js'
export { CapabilityIndex } from './plugins/capabilities.js'
export { SessionRegistry } from './plugins/sessions.js'

export interface GatewayOptions extends ConfigPluginOptions {
  /** serve without authentication (`--no-auth`) */
  noAuth?: boolean
  /** how a generated owner passphrase is shown, once (default: standard error) */
  announcePassphrase?: (text: string) => void
  /** time in-flight calls get to finish when the gateway closes */
  shutdownGraceMs?: number
}

/** Log paths that may carry secrets: never written, whatever logs them. */
export const REDACT_PATHS = [
  'req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie',
  'res.headers["set-cookie"]', '*.password', '*.passphrase', '*.token', '*.access_token', '*.refresh_token',
  '*.client_secret', '*.code_verifier', '*.env', 'config.mcpServers.*.env', 'config.mcpServers.*.headers',
  'req.headers["set-cookie"]', '*.id_token', '*.passphraseHash', '*.clientSecret', '*.csrf_token', '*.secret',
  'config.auth.upstream.clientSecret', 'config.auth.passphraseHash'
]

/** Query parameters that carry secrets (an upstream login's `code`, a token put where it must not be). */
const SECRET_QUERY_PARAMS = /([?&](?:code|access_token|refresh_token|id_token|token|client_secret|code_verifier|passphrase|state)=)[^&#]*/gi

/** Logs a request without the secrets a URL may carry. */
export function serializeRequest (req: { method: string, url: string, host?: string, ip?: string, socket?: { remotePort?: number } }) {
  return { method: req.method, url: req.url.replace(SECRET_QUERY_PARAMS, '$1[redacted]'), host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort }
}

/**
 * The plugins the config names, in a context of their own behind the Host check of `/mcp` (DNS
 * rebinding). Auth is each route's choice: `{ onRequest: app.auth.protect }` (docs/security.md).
 */
async function registerThirdParty (app: FastifyInstance, specs: string[], baseDir: string): Promise<void> {
  if (specs.length === 0) return
  await app.register(async (scope) => {
    scope.addHook('onRequest', hostGuard(scope))
    await registerEach(scope, specs, baseDir)
  })
}

async function registerEach (app: FastifyInstance, specs: string[], baseDir: string): Promise<void> {
  for (const spec of specs) {
    const target = spec.startsWith('.') || spec.startsWith('/') ? pathToFileURL(resolve(baseDir, spec)).href : spec
    const mod = await importPlugin(spec, target, baseDir)
    const plugin = mod.default ?? (mod as unknown as FastifyPluginAsync)
    if (typeof plugin !== 'function') throw new Error(`plugin ${spec} does not export a Fastify plugin`)
    await app.register(plugin)
    app.log.info({ plugin: spec }, 'third-party plugin registered')
  }
}

async function importPlugin (spec: string, target: string, baseDir: string): Promise<{ default?: FastifyPluginAsync }> {
  try {
    return await import(target) as { default?: FastifyPluginAsync }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'ERR_UNSUPPORTED_DIR_IMPORT') throw err
    throw new Error(`plugin ${spec} cannot be found (${code}); fix "plugins" in the config: a path is relative to the config file's folder (${baseDir}), a package must be installed`)
  }
}

/** The grace period calls in flight get when the gateway closes (config `shutdownGraceMs`). */
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000

/**
 * The whole gateway as one Fastify plugin: config → auth → backends → capabilities → sessions →
 * health, then the routes, then the third-party plugins the config names. Register it in another
 * app to add routes of your own that use `app.backends`, `app.capabilities` and `app.sessions`.
 */
export const gateway = fp<GatewayOptions>(async (app, opts) => {
  // First of the preClose hooks: stop accepting connections at once, so a proxy in front fails over
  // on "connection refused" while the calls in flight finish (Fastify closes the socket only after
  // every preClose hook, the drain among them, and answers 503 meanwhile).
  app.addHook('preClose', async () => { if (app.server.listening) app.server.close() })
  await app.register(configPlugin, opts)
  await app.register(metricsPlugin)
  const baseDir = opts.configPath ? dirname(resolve(opts.configPath)) : process.cwd()
  await app.register(authPlugin, { disabled: opts.noAuth, baseDir, announce: opts.announcePassphrase })
  await app.register(backendsPlugin, { baseDir })
  await app.register(capabilitiesPlugin)
  await app.register(sessionsPlugin, { shutdownGraceMs: opts.shutdownGraceMs ?? app.gatewayConfig.current.shutdownGraceMs })
  await app.register(healthPlugin)

  const dispatcher = new Dispatcher(app)
  app.backends.onServerRequest = (backend, request, extra) => dispatcher.serverRequest(backend, request, extra)
  app.backends.on('notification', (backend, notification) => dispatcher.backendNotification(backend, notification))
  app.capabilities.on('changed', (kinds, backends) => dispatcher.listsChanged(kinds, backends))
  app.sessions.on('closed', (session) => {
    dispatcher.sessionClosed(session)
    void app.backends.releaseSession(session.id)
  })

  await app.register(healthRoutes)
  await app.register(oauthRoutes)
  await app.register(metricsRoutes)
  await app.register(mcpRoutes, { dispatcher })
  await app.register(sseRoutes, { dispatcher })
  await registerThirdParty(app, app.gatewayConfig.current.plugins ?? [], baseDir)
}, { name: '1mcp-gateway', fastify: '5.x' })

export interface BuildOptions extends GatewayOptions {
  logger?: FastifyServerOptions['logger']
}

/** Reads the settings Fastify needs before it exists (trustProxy, bodyLimit, logLevel). */
async function bootSettings (opts: GatewayOptions): Promise<GatewayConfig> {
  const doc = opts.configPath ? parseConfigText(await readFile(opts.configPath, 'utf8')) : validateConfig(opts.config ?? { mcpServers: {} })
  return { ...doc, ...opts.overrides }
}

/** Logger options: whatever the caller gives, always with the redaction and the request serializer. */
function loggerOptions (logger: FastifyServerOptions['logger'], settings: GatewayConfig): FastifyServerOptions['logger'] {
  if (logger === false) return false
  const given = typeof logger === 'object' ? logger : {}
  return {
    level: settings.logLevel ?? 'info',
    ...given,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: { ...(given as { serializers?: object }).serializers, req: serializeRequest },
    // JSON lines, except for a person at a terminal
    ...(logger === undefined && process.stdout.isTTY ? { transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } } } : {})
  }
}

/**
 * Fastify's "incoming request" / "request completed" lines at debug instead of info: at info a busy
 * gateway would write two lines per call. MCP calls log one line of their own (routes/mcp.ts), and
 * a request that ends in an error is still logged as Fastify does.
 */
class GatewayLogController extends LogController {
  override incomingRequest (request: FastifyRequest): void {
    request.log.debug({ req: request }, 'incoming request')
  }

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    if (error) super.requestCompleted(error, request, reply, metadata)
    else reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed')
  }
}

/** A Fastify app with the gateway registered, ready to `listen`. */
export async function buildApp (opts: BuildOptions = {}): Promise<FastifyInstance> {
  const settings = await bootSettings(opts)
  const app: FastifyInstance = Fastify({
    logger: loggerOptions(opts.logger, settings),
    logController: new GatewayLogController(),
    childLoggerFactory: requestLoggerFactory,
    trustProxy: (settings.trustProxy ?? false) as boolean | string,
    bodyLimit: settings.bodyLimit ?? 4 * 1024 * 1024,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // avvio bounds each onClose handler by this too: the drain of calls in flight must fit in it
    pluginTimeout: 10_000 + (opts.shutdownGraceMs ?? settings.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS)
  })
  try {
    await app.register(gateway, opts)
  } catch (err) {
    // what did start (the config watcher, a plugin's handles) must not keep a failed process alive
    await app.close().catch(() => {})
    throw err
  }
  return app
}
