import type { Command } from './command.js'
import { UsageError } from './errors.js'
import { serveFromArgs } from './serve-args.js'

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the gateway (what `npm start` runs)',
  // `serve --help` is answered by serveFromArgs() itself, so the CLI does not load the service for other commands.
  help: '',
  async run (argv) {
    const { serve } = await import('../server.js')
    try {
      await serveFromArgs(argv, serve)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError((err as Error).message, 'serve')
      throw err
    }
  }
}
