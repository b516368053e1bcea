import net from 'node:net'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify, { LogController, type FastifyInstance, type FastifyPluginAsync, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import configPlugin, { type ConfigPluginOptions } from './plugins/config.js'
import { loadConfig } from './plugins/config-load.js'
import authPlugin from './plugins/auth.js'
import backendsPlugin from './plugins/backends.js'
import upstreamAuthPlugin from './plugins/upstream-auth.js'
import capabilitiesPlugin from './plugins/capabilities.js'
import sessionsPlugin from './plugins/sessions.js'
import type { Session } from './mcp/session.js'
import healthPlugin from './plugins/health.js'
import metricsPlugin from './plugins/metrics.js'
import { pluginImportTarget } from './plugins/third-party.js'
import { requestLoggerFactory } from './plugins/request-logger.js'
import healthRoutes from './routes/health.js'
import mcpRoutes from './routes/mcp.js'
import oauthRoutes from './routes/oauth.js'
import upstreamLoginRoutes from './routes/upstream-login.js'
import sseRoutes from './routes/sse.js'
import metricsRoutes from './routes/metrics.js'
import statusRoutes from './routes/status.js'
import tracingPlugin from './plugins/tracing.js'
import { Dispatcher } from './mcp/dispatch.js'
import { hostGuard } from './routes/host-guard.js'
import { DEFAULTS, type GatewayConfig } from './schemas/config.js'

export type { GatewayConfig } from './schemas/config.js'
export { BackendPool } from './backends/pool.js'
export { CapabilityIndex } from './mcp/capabilities.js'
export { SessionRegistry } from './mcp/sessions.js'

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

/** Query parameters that carry secrets (an upstream login's `code`, a token put where it must not be, the legacy transport's `sessionId`). */
const SECRET_QUERY_PARAMS = /([?&](?:code|access_token|refresh_token|id_token|token|client_secret|code_verifier|passphrase|state|sessionId)=)[^&#]*/gi

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
    const target = pluginImportTarget(spec, baseDir)
    const mod = await import(target).catch((err: NodeJS.ErrnoException) => {
      // the plugin itself missing, not something it imports
      const missing = (err.code === 'ERR_MODULE_NOT_FOUND' || /^Cannot find (package|module)/.test(err.message)) && (err.message.includes(`'${spec}'`) || (target.startsWith('file:') && err.message.includes(fileURLToPath(target))))
      if (!missing) throw err
      throw new Error(`plugin '${spec}' (named in "plugins") was not found from ${baseDir}: install it there (\`npm install ${spec}\` beside the config) or fix the name`)
    }) as { default?: FastifyPluginAsync }
    const plugin = mod.default ?? (mod as unknown as FastifyPluginAsync)
    if (typeof plugin !== 'function') throw new Error(`plugin ${spec} does not export a Fastify plugin`)
    await app.register(plugin)
    app.log.info({ plugin: spec }, 'third-party plugin registered')
  }
}

/**
 * The whole gateway as one Fastify plugin: config → auth → backends → capabilities → sessions →
 * health, then the routes, then the third-party plugins the config names. Register it in another
 * app to add routes of your own that use `app.backends`, `app.capabilities` and `app.sessions`.
 */
export const gateway = fp<GatewayOptions>(async (app, opts) => {
  // First of the preClose hooks: stop accepting connections at once, so a proxy in front fails over
  // on "connection refused" while the calls in flight finish. Only the listening socket closes here
  // (http.Server#close also closes idle connections, which is Fastify's to do after the drain), and
  // requests on open connections are still served, with `Connection: close`.
  app.addHook('preClose', async () => { if (app.server.listening) net.Server.prototype.close.call(app.server) })
  await app.register(configPlugin, opts)
  checkHostSettings(app, app.gatewayConfig.current)
  const bodyLimit = app.gatewayConfig.current.bodyLimit ?? DEFAULTS.bodyLimit
  await app.register(metricsPlugin)
  await app.register(tracingPlugin)
  const baseDir = opts.configPath ? dirname(resolve(opts.configPath)) : process.cwd()
  await app.register(authPlugin, { disabled: opts.noAuth, baseDir, announce: opts.announcePassphrase })
  await app.register(backendsPlugin, { baseDir })
  await app.register(upstreamAuthPlugin, { baseDir })
  await app.register(capabilitiesPlugin)
  await app.register(sessionsPlugin, { shutdownGraceMs: opts.shutdownGraceMs ?? app.gatewayConfig.current.shutdownGraceMs, baseDir })
  await app.register(healthPlugin)

  const dispatcher = new Dispatcher({ backends: app.backends, capabilities: app.capabilities, sessions: app.sessions, config: () => app.gatewayConfig.current, log: app.log, tracing: app.tracing, userGrants: app.upstreamAuth })
  app.backends.onServerRequest = (backend, request, extra) => dispatcher.serverRequest(backend, request, extra)
  app.backends.hearsLogs = (backend) => dispatcher.hearsLogs(backend)
  app.backends.on('notification', (backend, notification) => dispatcher.backendNotification(backend, notification))
  app.capabilities.on('changed', (kinds, backends) => dispatcher.listsChanged(kinds, backends))
  const ended = (session: Session) => {
    dispatcher.sessionClosed(session)
    void app.backends.releaseSession(session.id)
  }
  app.sessions.on('closed', ended)
  app.sessions.on('requestEnded', ended)

  hideRawPackets(app)
  // the routes log requests through the gateway's own serializer (no secret in a URL), whatever
  // logger the app that registers the gateway has
  await app.register(async (routes) => {
    // the config's bodyLimit on the gateway's routes (and its plugins'), whatever the limit of the
    // app it is registered in; that app's own routes keep theirs
    routes.addHook('onRoute', (route) => { route.bodyLimit ??= bodyLimit })
    await routes.register(healthRoutes)
    await routes.register(oauthRoutes)
    await routes.register(upstreamLoginRoutes)
    await routes.register(metricsRoutes)
    await routes.register(statusRoutes)
    await routes.register(mcpRoutes, { dispatcher })
    await routes.register(sseRoutes, { dispatcher })
    await registerThirdParty(routes, app.gatewayConfig.current.plugins ?? [], baseDir)
  }, { logSerializers: { req: serializeRequest as unknown as (value: unknown) => string } }) // Fastify types serializers as returning strings
}, { name: '1mcp-gateway', fastify: '5.x' })

/**
 * `trustProxy` is the server's to set (Fastify reads it when the instance is created): a config
 * that sets it for a host app created without the same value would be silently ignored, and the
 * gateway would log, rate-limit and audit the proxy's address. Say so at boot instead.
 */
function checkHostSettings (app: FastifyInstance, config: GatewayConfig): void {
  if (config.trustProxy === undefined) return
  const options = Object.getOwnPropertySymbols(app).find((symbol) => symbol.description === 'fastify.options')
  const host = options ? (app as unknown as Record<symbol, { trustProxy?: unknown }>)[options]?.trustProxy : undefined
  if (JSON.stringify(host ?? false) !== JSON.stringify(config.trustProxy)) {
    throw new Error(`"trustProxy" in the config (${JSON.stringify(config.trustProxy)}) cannot take effect: the app the gateway is registered in was created with trustProxy ${JSON.stringify(host ?? false)}. Pass trustProxy to Fastify() in that app, or remove it from the config`)
  }
}

/**
 * A request Node's parser refuses reaches the server's `clientError` with the raw bytes received
 * (`err.rawPacket`: the request line and headers, Authorization and Cookie included), and Fastify logs
 * that error at trace. The bytes stay on the error for a handler that wants them, but no longer
 * enumerable: no serializer or JSON of the error carries them. Installed on the server the gateway is
 * registered on, ahead of Fastify's own listener, standalone or embedded.
 */
function hideRawPackets (app: FastifyInstance): void {
  app.server.prependListener('clientError', (err: Error & { rawPacket?: unknown }) => {
    if (err.rawPacket === undefined) return
    Object.defineProperty(err, 'rawPacket', { value: err.rawPacket, enumerable: false, writable: true, configurable: true })
  })
}

export interface BuildOptions extends GatewayOptions {
  logger?: FastifyServerOptions['logger']
}

/** Reads the settings Fastify needs before it exists (trustProxy, bodyLimit, logLevel). */
async function bootSettings (opts: GatewayOptions): Promise<GatewayConfig> {
  return await loadConfig({ path: opts.configPath, config: opts.config, overrides: opts.overrides })
}

/** Logger options: whatever the caller gives, always with the redaction and the request serializer. */
function loggerOptions (logger: FastifyServerOptions['logger'], settings: GatewayConfig): FastifyServerOptions['logger'] {
  if (logger === false) return false
  const given = typeof logger === 'object' ? logger : {}
  return {
    level: settings.logLevel ?? DEFAULTS.logLevel,
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

/**
 * Node's limits on receiving a request, so a client that trickles its headers or body (no token
 * needed) cannot hold connections open for minutes: the whole request within `ms` (Fastify's
 * `requestTimeout`), the headers within the same or 60 s, checked every quarter of `ms` (at most
 * every 30 s). These end when the request is received: a response (a call's answer, an SSE stream)
 * may last as long as it needs. There is no socket inactivity timeout (`connectionTimeout`): a call
 * answered as JSON writes nothing until its result, which a backend may take minutes to give.
 * Idle keep-alive connections close after Fastify's 72 s.
 */
function receiveTimeouts (ms: number): { requestTimeout: number, http: { requestTimeout: number, headersTimeout: number, connectionsCheckingInterval: number } } {
  return {
    requestTimeout: ms,
    http: { requestTimeout: ms, headersTimeout: Math.min(ms, 60_000), connectionsCheckingInterval: Math.min(30_000, Math.max(50, Math.floor(ms / 4))) }
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
    bodyLimit: settings.bodyLimit ?? DEFAULTS.bodyLimit,
    ...receiveTimeouts(settings.receiveTimeoutMs ?? DEFAULTS.receiveTimeoutMs),
    // during the drain a request on a connection already open is served (then the connection closes)
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // avvio bounds each onClose handler by this too: the drain of calls in flight must fit in it
    pluginTimeout: 10_000 + (opts.shutdownGraceMs ?? settings.shutdownGraceMs ?? DEFAULTS.shutdownGraceMs)
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
