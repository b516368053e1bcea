import { StdioServerTransport } from '@modelcontextprotocol/server/stdio'
import { SdkHttpError, StreamableHTTPClientTransport, type AuthProvider, type JSONRPCMessage } from '@modelcontextprotocol/client'
import { compileTagFilter, TagFilterError } from '../api.js'
import { listOption, parse, type Command, type Io } from './command.js'
import { readConfigFile, resolveConfigPath } from './config-file.js'
import { CliError, UsageError } from './errors.js'
import { describeFailure, gatewayBaseUrl } from './gateway-url.js'
import { gatewayLogin } from './login.js'

const HELP = `1mcp proxy [OPTIONS]

A stdio MCP server that forwards every message to a running gateway over Streamable HTTP, for
clients that only start stdio servers. Requests, results, errors, notifications (list changes,
progress, log messages, cancellation) and server→client requests (sampling, elicitation, roots)
pass through unchanged, both ways.

Options:
  --url URL           the gateway (ONEMCP_URL; default from the config's externalUrl or host and port);
                      a base URL gets /mcp appended
  --tags a,b          only servers carrying any of these tags
  --tag-filter EXPR   only servers matching a tag filter ('web and not beta')
  --preset NAME       only servers a preset selects
  --token TOKEN       a bearer token to send instead of logging in (ONEMCP_TOKEN)
  --config FILE       the gateway's config file, read only for its address (ONEMCP_CONFIG)

With auth on (the gateway's default) the proxy logs in by itself: at the first 401 it opens the
browser for the owner to approve (ONEMCP_BROWSER=PROGRAM to choose the browser, =none to only print
the URL on stderr), then keeps the tokens in ~/.config/1mcp/ (ONEMCP_CREDENTIALS_DIR) and refreshes
them. See docs/cli.md.

In an MCP client's config:
  { "command": "1mcp", "args": ["proxy", "--preset", "dev"] }
`

/** The gateway's MCP endpoint with the filters in its query. */
export function proxyTarget (base: string, filters: { tags: string[], tagFilter?: string, preset?: string }): URL {
  const url = new URL(base)
  if (!/\/mcp(\/[^/]+)?\/?$/.test(url.pathname)) url.pathname = `${url.pathname.replace(/\/+$/, '')}/mcp`
  if (filters.tags.length) url.searchParams.set('tags', filters.tags.join(','))
  if (filters.tagFilter) url.searchParams.set('tag-filter', filters.tagFilter)
  if (filters.preset) url.searchParams.set('preset', filters.preset)
  return url
}

/**
 * Relays JSON-RPC messages between two transports without interpreting them, so ids, progress
 * tokens, cancellations and capabilities stay exactly as the two ends sent them. The only thing it
 * reads is the initialize result, to give the HTTP transport the negotiated protocol version.
 */
export async function relay (stdio: StdioServerTransport, http: StreamableHTTPClientTransport, io: Pick<Io, 'err'>, target: string): Promise<void> {
  const initializeIds = new Set<string | number>()
  let closing = false
  const done = new Promise<void>((resolve) => {
    const close = async () => {
      if (closing) return
      closing = true
      await http.terminateSession().catch(() => {})
      await http.close().catch(() => {})
      await stdio.close().catch(() => {})
      resolve()
    }
    stdio.onclose = () => { void close() }
    process.stdin.once('end', () => { void close() })
  })

  http.onmessage = (message: JSONRPCMessage) => {
    if ('result' in message && initializeIds.delete(message.id)) {
      const version = (message.result as { protocolVersion?: unknown }).protocolVersion
      if (typeof version === 'string') http.setProtocolVersion(version)
    }
    stdio.send(message).catch((err) => io.err(`1mcp proxy: writing to the client failed: ${(err as Error).message}\n`))
  }
  http.onerror = (err) => { if (!closing) io.err(`1mcp proxy: ${describeFailure(err)}\n`) }

  stdio.onmessage = (message: JSONRPCMessage) => {
    if ('method' in message && message.method === 'initialize' && 'id' in message) initializeIds.add(message.id)
    http.send(message).catch((err) => {
      if (!('id' in message) || !('method' in message)) return
      initializeIds.delete(message.id)
      io.err(`1mcp proxy: ${message.method} failed: ${describeFailure(err)}\n`)
      const status = err instanceof SdkHttpError ? err.status : undefined
      const hint = status === 404 ? 'the gateway ended the session; restart the client' : `check that the gateway runs at ${target}`
      void stdio.send({ jsonrpc: '2.0', id: message.id, error: { code: -32603, message: `1mcp proxy: ${describeFailure(err)}; ${hint}` } })
    })
  }
  stdio.onerror = (err) => io.err(`1mcp proxy: stdin: ${err.message}\n`)

  await http.start()
  await stdio.start()
  return done
}

/** A fixed token when one is given, else the OAuth login kept for this endpoint. */
function gatewayAuth (target: URL, token: string | undefined, io: Io): AuthProvider {
  const fixed = token ?? io.env.ONEMCP_TOKEN
  return fixed ? { token: async () => fixed } : gatewayLogin(target, io)
}

export const proxyCommand: Command = {
  name: 'proxy',
  summary: 'a stdio MCP server that forwards to a running gateway',
  help: HELP,
  async run (argv, io) {
    const { values, positionals } = parse(argv, {
      url: { type: 'string' },
      tags: { type: 'string', multiple: true },
      'tag-filter': { type: 'string' },
      preset: { type: 'string' },
      token: { type: 'string' },
      config: { type: 'string' }
    }, 'proxy')
    if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`, 'proxy')
    if (values['tag-filter'] !== undefined) {
      try {
        compileTagFilter(values['tag-filter'])
      } catch (err) {
        if (err instanceof TagFilterError) throw new UsageError(err.message, 'proxy')
        throw err
      }
    }
    let base = values.url ?? io.env.ONEMCP_URL
    if (!base) {
      const config = (await readConfigFile(resolveConfigPath(values.config, io.env, io.cwd), { allowMissing: true })).doc
      base = gatewayBaseUrl(undefined, io.env, config)
    }
    let target: URL
    try {
      target = proxyTarget(base, { tags: listOption(values.tags), tagFilter: values['tag-filter'], preset: values.preset })
    } catch {
      throw new CliError(`'${base}' is not a URL`, 'pass the gateway\'s address, e.g. --url http://127.0.0.1:3050/mcp')
    }
    const http = new StreamableHTTPClientTransport(target, { authProvider: gatewayAuth(target, values.token, io) })
    await relay(new StdioServerTransport(), http, io, target.href)
    // The client is gone: leave now rather than wait for idle keep-alive sockets to time out.
    setTimeout(() => process.exit(), 50).unref()
  }
}
