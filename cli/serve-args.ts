import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { parseArgs } from 'node:util'
import { DEFAULT_HOST, DEFAULT_PORT, locateConfig, type ConfigLocation, type GatewayConfig } from '../api.js'
import type { ServeOptions } from '../server.js'

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

/**
 * `1mcp serve ARGS` (and `node server.ts ARGS`): the help, or the gateway started by `start`
 * (server.ts's serve) as the flags and environment say, the user's config file created first when
 * that is the one it serves.
 */
export async function serveFromArgs (argv: string[], start: (opts: ServeOptions) => Promise<void>): Promise<void> {
  const args = parseServeArgs(argv)
  if (args.help) { process.stdout.write(SERVE_HELP); return }
  let created = false
  await start({
    configPath: args.config.path,
    overrides: args.overrides,
    noAuth: args.noAuth,
    prepare: async () => { created = await createUserConfig(args.config) },
    built: (app) => {
      if (created) app.log.warn({ config: args.config.path }, 'no ./config.json here: created the user config file, with no MCP servers yet; add one with `1mcp mcp add NAME -- COMMAND ARGS...` or pass --config FILE')
      else if (args.config.source === 'user') app.log.info({ config: args.config.path }, 'no ./config.json here: serving the user config file')
    }
  })
}
