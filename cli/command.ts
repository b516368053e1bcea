import { parseArgs, type ParseArgsConfig } from 'node:util'
import { UsageError } from './errors.js'

/** Where a command writes and what it reads from its surroundings; tests pass their own. */
export interface Io {
  out: (text: string) => void
  err: (text: string) => void
  env: NodeJS.ProcessEnv
  cwd: string
}

export interface Command {
  name: string
  summary: string
  help: string
  run: (argv: string[], io: Io) => Promise<number | void>
}

export type Options = NonNullable<ParseArgsConfig['options']>

/** `parseArgs` with `--help` added and its errors turned into usage errors naming the command. */
type HelpOption = { help: { type: 'boolean', short: 'h' } }
type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[], options: O & HelpOption, allowPositionals: true, strict: true }>>

export function parse<O extends Options> (argv: string[], options: O, command: string): Parsed<O> {
  try {
    const help: HelpOption = { help: { type: 'boolean', short: 'h' } }
    return parseArgs({ args: argv, options: { ...options, ...help }, allowPositionals: true, strict: true })
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional.*$/s, ''), command)
  }
}

/** Runs the subcommand named by the first argument of a command group. */
export async function runGroup (group: string, summary: string, commands: Command[], argv: string[], io: Io): Promise<number | void> {
  const [name, ...rest] = argv
  if (isHelpWord(name)) {
    io.out(groupHelp(group, summary, commands))
    return name === undefined ? 2 : 0
  }
  const command = commands.find((c) => c.name === name)
  if (!command) throw new UsageError(`unknown command '${group} ${name}' (known: ${commands.map((c) => c.name).join(', ')})`, group)
  if (wantsHelp(rest)) { io.out(command.help); return 0 }
  return command.run(rest, io)
}

/** No command at all, or a request for the list of commands. */
export function isHelpWord (name: string | undefined): boolean {
  return name === undefined || name === '--help' || name === '-h' || name === 'help'
}

/** `--help` or `-h` among a command's own arguments (not after `--`). */
export function wantsHelp (argv: string[]): boolean {
  const at = argv.indexOf('--')
  return (at === -1 ? argv : argv.slice(0, at)).some((a) => a === '--help' || a === '-h')
}

export function groupHelp (group: string, summary: string, commands: Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2
  return `1mcp ${group}: ${summary}\n\nCommands:\n${commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join('\n')}\n\nRun \`1mcp ${group} COMMAND --help\` for a command's options.\n`
}

/** Fixed-width columns for terminal output. */
export function table (rows: string[][]): string {
  if (rows.length === 0) return ''
  const widths = rows[0].map((_c, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  return rows.map((r) => r.map((c, i) => i === r.length - 1 ? c : c.padEnd(widths[i] + 2)).join('').trimEnd()).join('\n') + '\n'
}

/** `--x a,b --x c` → ['a', 'b', 'c'] */
export function listOption (value: string | string[] | undefined): string[] {
  if (value === undefined) return []
  return (Array.isArray(value) ? value : [value]).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean)
}

/** `--env K=V` pairs → a record; a pair without `=` is a usage error. */
export function pairsOption (value: string[] | undefined, flag: string, command: string): Record<string, string> | undefined {
  if (!value?.length) return undefined
  const out: Record<string, string> = {}
  for (const pair of value) {
    const at = pair.indexOf('=')
    if (at <= 0) throw new UsageError(`--${flag} takes KEY=VALUE, not '${pair}'`, command)
    out[pair.slice(0, at)] = pair.slice(at + 1)
  }
  return out
}
