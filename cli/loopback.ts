import { spawn } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { CliError } from './errors.js'

/** What the authorization server sent back to the loopback redirect URI. */
export interface CallbackAnswer { code: string, iss?: string }

const PAGE = (title: string, text: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1><p>${text}</p></body></html>`

/**
 * The loopback redirect URI of a native OAuth client (RFC 8252 §7.3): an HTTP listener on
 * 127.0.0.1 that takes one authorization response, checks its `state` and hands over the code.
 */
export class LoopbackCallback {
  private answer?: (result: CallbackAnswer | Error) => void
  private state = ''

  private constructor (private readonly server: Server) {}

  /** Listens on 127.0.0.1 at `port` (0: a free one); rejects when the port is taken. */
  static async listen (port: number): Promise<LoopbackCallback> {
    const server = createServer()
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ port, host: '127.0.0.1' }, () => { server.off('error', reject); resolve() })
    })
    const callback = new LoopbackCallback(server)
    server.on('request', (req, res) => callback.handle(new URL(req.url ?? '/', 'http://127.0.0.1'), (status, title, text) => {
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(PAGE(title, text))
    }))
    return callback
  }

  get url (): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/callback`
  }

  /** Waits for the authorization response carrying `state`, at most `timeoutMs`. */
  wait (state: string, timeoutMs: number): Promise<CallbackAnswer> {
    this.state = state
    return new Promise<CallbackAnswer>((resolve, reject) => {
      const timer = setTimeout(() => this.answer?.(new CliError(`no login within ${Math.round(timeoutMs / 1000)} s`, 'open the URL printed above in a browser and approve the access, or set ONEMCP_LOGIN_TIMEOUT_MS')), timeoutMs).unref()
      this.answer = (result) => {
        clearTimeout(timer)
        this.answer = undefined
        if (result instanceof Error) reject(result)
        else resolve(result)
      }
    })
  }

  close (): void {
    this.server.closeAllConnections()
    this.server.close()
  }

  private handle (url: URL, reply: (status: number, title: string, text: string) => void): void {
    const q = url.searchParams
    if (url.pathname !== '/callback') return reply(404, 'Not found', 'This is the 1mcp proxy\'s login callback.')
    if (!this.answer || q.get('state') !== this.state) return reply(400, 'Unexpected login response', 'This login answer is not the one the 1mcp proxy waits for; start again from the client.')
    const error = q.get('error')
    if (error) {
      reply(200, 'Access not granted', 'The gateway did not grant access. You can close this window.')
      return this.answer(new CliError(`the gateway did not grant access: ${error}${q.get('error_description') ? ` (${q.get('error_description')})` : ''}`, 'start the client again to retry the login'))
    }
    const code = q.get('code')
    if (!code) return reply(400, 'No authorization code', 'The login answer carries no code; start again from the client.')
    reply(200, 'Logged in', 'The 1mcp proxy is logged in to the gateway. You can close this window.')
    this.answer({ code, ...(q.get('iss') ? { iss: q.get('iss')! } : {}) })
  }
}

/**
 * The command that opens a URL: ONEMCP_BROWSER (words split at spaces, the URL appended; `none`
 * opens nothing), else the platform's opener.
 */
export function browserCommand (env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): string[] | undefined {
  const custom = env.ONEMCP_BROWSER?.trim()
  if (custom === 'none') return undefined
  if (custom) return custom.split(/\s+/)
  if (platform === 'darwin') return ['open']
  // `start` is a cmd.exe builtin that mangles '&' in a URL; the URL protocol handler takes it as is.
  if (platform === 'win32') return ['rundll32', 'url.dll,FileProtocolHandler']
  return ['xdg-open']
}

/** Opens `url` in a browser; never writes to our stdout (the MCP channel). */
export function openBrowser (url: string, env: NodeJS.ProcessEnv, warn: (text: string) => void): void {
  const command = browserCommand(env)
  if (!command) return
  const child = spawn(command[0], [...command.slice(1), url], { env, stdio: ['ignore', 'ignore', 'inherit'] })
  child.on('error', (err) => warn(`1mcp proxy: could not start ${command[0]} (${err.message}); open the URL above by hand\n`))
  child.unref()
}
