import { runGroup, type Command } from './command.js'

export const APP_COMMANDS: Command[] = []

export const appCommand: Command = {
  name: 'app',
  summary: 'import the MCP servers of desktop apps and point them at the gateway',
  help: '',
  run: (argv, io) => runGroup('app', 'import the MCP servers of desktop apps and point them at the gateway', APP_COMMANDS, argv, io)
}
