/** A failure the operator can fix: the message says what went wrong, the hint what to do next. */
export class CliError extends Error {
  constructor (message: string, readonly hint?: string, readonly exitCode = 1) {
    super(message)
    this.name = 'CliError'
  }
}

/** Wrong usage of a command: the hint points at its `--help`. */
export class UsageError extends CliError {
  constructor (message: string, command: string) {
    super(message, `see \`1mcp ${command} --help\``, 2)
    this.name = 'UsageError'
  }
}
