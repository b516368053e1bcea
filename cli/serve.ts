import type { Command } from './command.js'
import { UsageError } from './errors.js'
import { serve, SERVE_HELP } from '../server.js'

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the gateway (what `npm start` runs)',
  help: SERVE_HELP,
  async run (argv) {
    try {
      await serve(argv)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError((err as Error).message, 'serve')
      throw err
    }
  }
}
