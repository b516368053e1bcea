import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { parseArgs } from 'node:util'
import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import { buildApp } from './app.js'
import { killBackendGroups } from './backends/stdio-transport.js'
import { locateConfig, type ConfigLocation } from './plugins/config.js'
import type { GatewayConfig } from './schemas/config.js'

import { DEFAULT_HOST, DEFAULT_PORT, DEFAULTS } from './schemas/config.js'

export { DEFAULT_HOST, DEFAULT_PORT }

export const SERVE_HELP = `1mcp serve: one MCP endpoint in front of many MCP servers

Options (each also from an environment variable):
  --config FILE        config file (ONEMCP_CONFIG; default ./config.json, else
                       ~/.config/1mcp/config.json, created empty at the first start)
  --port N             port (ONEMCP_PORT; default ${DEFAULT_PORT})
  --host H             address to bind (ONEMCP_HOST; default ${DEFAULT_HOST}, loopback only)
  --external-url URL   public base URL behind a reverse proxy (ONEMCP_EXTERNAL_URL)
  --log-level LEVEL    fatal|error|warn|info|debug|trace (ONEMCP_LOG_LEVEL)
  --no-auth            serve without authentication (ONEMCP_NO_AUTH=1); local development only
  -h, --help           this text
`

export function parseServeArgs (argv: string[], env: NodeJS.ProcessEnv = process.env) {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'external-url': { type: 'string' },
      'log-level': { type: 'string' },
      'no-auth': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' }
    },
    strict: true
  })
  return {
    help: values.help === true,
    config: locateConfig(values.config, env),
    noAuth: values['no-auth'] === true || env.ONEMCP_NO_AUTH === '1' || env.ONEMCP_NO_AUTH === 'true',
    overrides: configOverrides(values, env)
  }
}

/** The config keys set by flags, or else by their environment variables; unset ones are left out. */
function configOverrides (values: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv): Partial<GatewayConfig> {
  const text = (flag: string, name: string) => (values[flag] as string | undefined) ?? env[name]
  const overrides: Partial<GatewayConfig> = {
    port: parsePort(text('port', 'ONEMCP_PORT')),
    host: text('host', 'ONEMCP_HOST'),
    externalUrl: text('external-url', 'ONEMCP_EXTERNAL_URL'),
    logLevel: text('log-level', 'ONEMCP_LOG_LEVEL') as GatewayConfig['logLevel']
  }
  return Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) as Partial<GatewayConfig>
}

function parsePort (portText: string | undefined): number | undefined {
  if (portText === undefined) return undefined
  const port = Number(portText)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--port must be a whole number from 0 to 65535, not '${portText}'`)
  }
  return port
}

/** The user's config file, created (with no servers, private to the user) when that is where the config is looked for and it is missing. */
async function createUserConfig (config: ConfigLocation): Promise<boolean> {
  if (config.source !== 'user' || existsSync(config.path)) return false
  await mkdir(dirname(config.path), { recursive: true, mode: 0o700 })
  await writeFile(config.path, '{\n  "mcpServers": {}\n}\n', { mode: 0o600, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw new Error(`cannot create the config file ${config.path} (${err.code ?? err.message}); pass --config FILE`)
  })
  return true
}

/** How long a failed start waits for what it started (backends, watcher) to close before it kills and exits. */
const BOOT_CLOSE_MS = 3000
/** Time closing takes beyond the grace period: backends get SIGTERM, then SIGKILL after 2 s. */
const CLOSE_BUDGET_MS = 5000

/**
 * Builds the gateway, installs graceful shutdown and listens. A start that fails rejects with one line
 * (cause; fix) after closing what it started, and the process ends whatever still holds it.
 */
export async function serve (argv: string[]): Promise<void> {
  const args = parseServeArgs(argv)
  if (args.help) { process.stdout.write(SERVE_HELP); return }
  // the last resort of every exit path this process sees: no backend (nor what it started) outlives it
  process.on('exit', killBackendGroups)
  let app: FastifyInstance | undefined
  let shutdown: { uninstall: () => void } | undefined
  try {
    const created = await createUserConfig(args.config)
    app = await buildApp({ configPath: args.config.path, overrides: args.overrides, noAuth: args.noAuth })
    if (created) app.log.warn({ config: args.config.path }, 'no ./config.json here: created the user config file, with no MCP servers yet; add one with `1mcp mcp add NAME -- COMMAND ARGS...` or pass --config FILE')
    else if (args.config.source === 'user') app.log.info({ config: args.config.path }, 'no ./config.json here: serving the user config file')
    shutdown = installShutdown(app, args.config.path)
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
  serve(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`1mcp: ${err.message}\n`)
    process.exitCode = 1
  })
}
