import { setTimeout as sleep } from 'node:timers/promises'
import { parse, runGroup, type Command } from './command.js'
import { CliError } from './errors.js'
import { fetchGatewayJson, gatewayBaseUrl } from './gateway-url.js'
import { openBrowser } from './loopback.js'

const WAIT_POLLS = 600
const POLL_MS = 1000

async function startLogin (base: string, server: string, token: string | undefined): Promise<string> {
  let res: Response
  try {
    res = await fetch(`${base}/oauth/login/${encodeURIComponent(server)}`, { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(30_000) })
  } catch (err) {
    throw new CliError(`no gateway answers at ${base} (${(err as Error).message})`, 'start it with `1mcp serve`, or pass --url (or set ONEMCP_URL)')
  }
  const body = await res.json().catch(() => ({})) as { authorizationUrl?: string, message?: string }
  if (res.status === 401) throw new CliError('the gateway wants a token to start a login', 'pass --token (or set ONEMCP_TOKEN) to a token of this gateway that grants the server')
  if (res.status !== 200 || !body.authorizationUrl) throw new CliError(`the gateway answered ${res.status}: ${body.message ?? 'no authorization URL'}`)
  return body.authorizationUrl
}

/** Polls /health until the server is ready (bounded), or has failed. */
async function waitReady (base: string, server: string): Promise<string> {
  let state = 'needs-auth'
  for (let i = 0; i < WAIT_POLLS; i++) {
    const { body } = await fetchGatewayJson(`${base}/health`)
    state = (body as { backends?: Array<{ name: string, state: string }> }).backends?.find((b) => b.name === server)?.state ?? 'gone'
    if (state === 'ready' || state === 'gone' || state === 'crash-loop') return state
    await sleep(POLL_MS)
  }
  return state
}

const login: Command = {
  name: 'login',
  summary: 'log the running gateway in to a remote server that needs OAuth',
  help: `1mcp auth login SERVER

Starts the gateway's OAuth login to SERVER (a remote server in state needs-auth): prints the
authorization URL and opens it in a browser (ONEMCP_BROWSER=none: print only). The authorization
server sends the browser back to the gateway's /oauth/callback/SERVER, which keeps the tokens,
encrypted, in auth.dataDir. Then waits until the server is ready.

Options:
  --url URL       the gateway (ONEMCP_URL; default http://127.0.0.1:3050)
  --token TOKEN   with auth on: a token of the gateway that grants SERVER (ONEMCP_TOKEN)
  --no-wait       print the URL and return
`,
  async run (argv, io) {
    const { values, positionals } = parse(argv, { url: { type: 'string' }, token: { type: 'string' }, 'no-wait': { type: 'boolean' } }, 'auth login')
    const server = positionals[0]
    if (!server) throw new CliError('name the server to log in to', 'see `1mcp mcp status` for the servers in state needs-auth', 2)
    const base = gatewayBaseUrl(values.url, io.env)
    const url = await startLogin(base, server, values.token ?? io.env.ONEMCP_TOKEN)
    io.out(`Open this URL to log the gateway in to '${server}':\n\n  ${url}\n\n`)
    openBrowser(url, io.env, io.err)
    if (values['no-wait']) return 0
    const state = await waitReady(base, server)
    io.out(state === 'ready' ? `'${server}' is logged in and ready\n` : `'${server}' is ${state}\n`)
    return state === 'ready' ? 0 : 1
  }
}

export const authCommand: Command = {
  name: 'auth',
  summary: 'log the gateway in to remote servers that need OAuth',
  help: '1mcp auth login SERVER: see `1mcp auth login --help`\n',
  run: (argv, io) => runGroup('auth', 'log the gateway in to remote servers that need OAuth', [login], argv, io)
}
