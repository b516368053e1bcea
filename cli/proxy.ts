import type { Command } from './command.js'

export const proxyCommand: Command = {
  name: 'proxy',
  summary: 'a stdio MCP server that forwards to a running gateway',
  help: '1mcp proxy --url URL\n',
  async run () { return 1 }
}
