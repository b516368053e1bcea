import { pathToFileURL } from 'node:url'
import { realpathSync } from 'node:fs'
import { CliError } from './errors.js'
import { isHelpWord, wantsHelp, type Command, type Io } from './command.js'
import { mcpCommand } from './mcp.js'
import { registryCommand } from './registry/commands.js'
import { presetCommand } from './preset.js'
import { appCommand } from './app.js'
import { proxyCommand } from './proxy.js'
import { serveCommand } from './serve.js'
import { authCommand } from './auth.js'
import { GATEWAY_INFO } from '../api.js'

export const COMMANDS: Command[] = [serveCommand, mcpCommand, authCommand, registryCommand, presetCommand, appCommand, proxyCommand]

const HELP = `1mcp ${GATEWAY_INFO.version}: one MCP endpoint in front of many MCP servers

Usage: 1mcp COMMAND [OPTIONS]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(9)}${c.summary}`).join('\n')}

Every command takes --help. The config file is --config FILE, else $ONEMCP_CONFIG, else ./config.json.
`

/** Runs one command line; resolves to the exit code. Errors are written to `io.err` with what to do next. */
export async function run (argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv
  if (isHelpWord(name)) {
    io.out(HELP)
    return name === undefined ? 2 : 0
  }
  if (name === '--version' || name === '-v') { io.out(`${GATEWAY_INFO.version}\n`); return 0 }
  const command = COMMANDS.find((c) => c.name === name)
  try {
    if (!command) throw new CliError(`unknown command '${name}'`, `run \`1mcp --help\` for the list of commands (${COMMANDS.map((c) => c.name).join(', ')})`, 2)
    if (command.help && wantsHelp(rest)) { io.out(command.help); return 0 }
    return (await command.run(rest, io)) ?? 0
  } catch (err) {
    return reportError(err, io)
  }
}

/** Writes a failed command's error (and what to do next) and returns its exit code. */
function reportError (err: unknown, io: Io): number {
  if (err instanceof CliError) {
    io.err(`1mcp: ${err.message}\n${err.hint ? `  → ${err.hint}\n` : ''}`)
    return err.exitCode
  }
  io.err(`1mcp: ${(err as Error).message}\n`)
  return 1
}

export const processIo: Io = {
  out: (text) => { process.stdout.write(text) },
  err: (text) => { process.stderr.write(text) },
  env: process.env,
  get cwd () { return process.cwd() }
}

function invokedDirectly (): boolean {
  const script = process.argv[1]
  if (!script) return false
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href
  } catch {
    return false
  }
}

/** The process entry: `bin/1mcp.mjs` and the single executable call this. */
export async function main (argv = process.argv.slice(2)): Promise<void> {
  const code = await run(argv, processIo)
  if (code !== 0) process.exitCode = code
}

if (invokedDirectly()) void main()
