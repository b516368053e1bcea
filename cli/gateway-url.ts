import { DEFAULT_HOST, DEFAULT_PORT, type GatewayConfig } from '../api.js'
import { SdkHttpError } from '@modelcontextprotocol/client'
import { CliError } from './errors.js'

/** The running gateway's base URL: `--url`, then `ONEMCP_URL`, then the config's externalUrl or host and port. */
export function gatewayBaseUrl (flag: string | undefined, env: NodeJS.ProcessEnv, config?: GatewayConfig): string {
  const explicit = flag ?? env.ONEMCP_URL
  if (explicit) return explicit.replace(/\/+$/, '').replace(/\/mcp$/, '')
  if (config?.externalUrl) return config.externalUrl.replace(/\/+$/, '')
  return `http://${urlHost(config?.host ?? DEFAULT_HOST)}:${config?.port ?? DEFAULT_PORT}`
}

/** The host to reach a listen address at: loopback for a wildcard, brackets around IPv6. */
function urlHost (host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1'
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host
}

/** GETs JSON from the gateway; a refused connection says how to start it. */
export async function fetchGatewayJson (url: string, token?: string): Promise<{ status: number, body: unknown }> {
  let res: Response
  try {
    res = await fetch(url, { headers: { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, signal: AbortSignal.timeout(10_000) })
  } catch (err) {
    const { cause } = err as { cause?: { code?: string, message?: string } }
    const reason = cause?.code ?? cause?.message ?? (err as Error).message
    throw new CliError(`no gateway answers at ${url} (${reason})`, 'start it with `1mcp serve`, or pass --url (or set ONEMCP_URL) to the address it listens on')
  }
  const text = await res.text()
  try {
    return { status: res.status, body: JSON.parse(text) }
  } catch {
    throw new CliError(`${url} answered ${res.status} with something that is not JSON`, 'check that --url points at a 1mcp gateway')
  }
}

/** Why a request to the gateway failed, in a few words: its HTTP status, or why it could not be reached. */
export function describeFailure (err: unknown): string {
  if (err instanceof SdkHttpError) return `the gateway answered ${err.status}: ${err.message}`
  const cause = (err as { cause?: { code?: string, message?: string } }).cause
  return cause ? `cannot reach the gateway (${cause.code ?? cause.message})` : (err as Error).message
}
