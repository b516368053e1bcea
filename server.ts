import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import { buildApp, type BuildOptions } from './app.js'
import { killBackendGroups } from './backends/stdio-transport.js'
import { DEFAULT_HOST, DEFAULT_PORT, DEFAULTS } from './schemas/config.js'

export { DEFAULT_HOST, DEFAULT_PORT }

/** How long a failed start waits for what it started (backends, watcher) to close before it kills and exits. */
const BOOT_CLOSE_MS = 3000
/** Time closing takes beyond the grace period: backends get SIGTERM, then SIGKILL after 2 s. */
const CLOSE_BUDGET_MS = 5000

export interface ServeOptions extends BuildOptions {
  /** runs first; a failure is a failed start, like one of the build (cli/serve-args.ts creates the user's config file here) */
  prepare?: () => Promise<void>
  /** runs once the gateway is built, before it listens */
  built?: (app: FastifyInstance) => void
}

/**
 * Builds the gateway, installs graceful shutdown and listens. A start that fails rejects with one line
 * (cause; fix) after closing what it started, and the process ends whatever still holds it. The
 * command line (`1mcp serve`, or this file run directly) is cli/serve-args.ts.
 */
export async function serve ({ prepare, built, ...opts }: ServeOptions): Promise<void> {
  // the last resort of every exit path this process sees: no backend (nor what it started) outlives it
  process.on('exit', killBackendGroups)
  let app: FastifyInstance | undefined
  let shutdown: { uninstall: () => void } | undefined
  try {
    await prepare?.()
    app = await buildApp(opts)
    built?.(app)
    shutdown = installShutdown(app, opts.configPath)
    const config = app.gatewayConfig.current
    await app.listen({ port: config.port ?? DEFAULT_PORT, host: config.host ?? DEFAULT_HOST })
  } catch (err) {
    // close-with-grace would end the process with 0 once the loop is empty
    shutdown?.uninstall()
    throw await failedStart(app, err as Error)
  }
}

/** Signals: SIGTERM and SIGINT drain and stop, SIGHUP reloads the config (plugins/config.ts), errors stop. */
function installShutdown (app: FastifyInstance, configPath: string | undefined): { uninstall: () => void } {
  const grace = app.gatewayConfig.current.shutdownGraceMs ?? DEFAULTS.shutdownGraceMs
  const installed = closeWithGrace({ delay: grace + CLOSE_BUDGET_MS, skip: ['SIGHUP'], logger: app.log }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error')
    else app.log.info({ signal, graceMs: grace }, 'shutting down: no new connections; calls in flight may finish')
    await app.close()
  })
  // close-with-grace would treat SIGHUP as a shutdown; with no file a SIGHUP has nothing to reload
  if (!configPath) process.on('SIGHUP', () => app.log.info('SIGHUP: no config file to reload'))
  return installed
}

/** Ends a start that failed: closes what started (bounded), kills what is left, and says why in one line. */
async function failedStart (app: FastifyInstance | undefined, err: Error): Promise<Error> {
  if (app) {
    const closed = await Promise.race([
      app.close().then(() => true, () => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), BOOT_CLOSE_MS).unref())
    ])
    if (!closed) killBackendGroups()
  }
  // whatever still holds the event loop (a close that hung) must not keep a process that serves nothing
  setTimeout(() => process.exit(process.exitCode || 1), 1000).unref()
  return new Error(startFailure(err, app))
}

/** The one line a failed start prints: the cause and the fix. */
function startFailure (err: Error, app: FastifyInstance | undefined): string {
  const code = (err as NodeJS.ErrnoException).code
  const config = app?.gatewayConfig.current
  const where = `${config?.host ?? DEFAULT_HOST}:${config?.port ?? DEFAULT_PORT}`
  if (code === 'EADDRINUSE') return `cannot listen on ${where}: the address is already in use (EADDRINUSE); stop the other process or choose another port (--port, ONEMCP_PORT or "port" in the config)`
  if (code === 'EACCES') return `cannot listen on ${where}: permission denied (EACCES); use a port above 1023 or give node the right to bind low ports`
  if (code === 'EADDRNOTAVAIL') return `cannot listen on ${where}: no such address on this machine (EADDRNOTAVAIL); choose another host (--host, ONEMCP_HOST or "host" in the config)`
  return err.message.replace(/\s*\n\s*/g, ' ')
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/').split('/').pop() ?? '')
if (invokedDirectly) {
  // run as a script, this file is `1mcp serve`: same flags, same messages
  import('./cli/serve-args.js').then(({ serveFromArgs }) => serveFromArgs(process.argv.slice(2), serve)).catch((err: Error) => {
    process.stderr.write(`1mcp: ${err.message}\n`)
    process.exitCode = 1
  })
}
