import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import type { GatewayConfig } from '../schemas/config.js'
import { sendHttpError } from './errors.js'

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1'])

function hostname (hostHeader: string): string {
  const value = hostHeader.toLowerCase()
  if (value.startsWith('[')) return value.slice(0, value.indexOf(']') + 1)
  const colon = value.lastIndexOf(':')
  return colon >= 0 ? value.slice(0, colon) : value
}

function hostAllowed (host: string, config: GatewayConfig, external: URL | undefined): boolean {
  const name = hostname(host)
  const allowedHosts = config.allowedHosts ?? []
  return LOOPBACK_HOSTS.has(name) || name === external?.hostname || allowedHosts.includes(name) || allowedHosts.includes(host) || host === instanceHost(config)
}

/** The host of this instance's own address (sessions.instanceUrl): the other instances pass client answers on to it. */
function instanceHost (config: GatewayConfig): string | undefined {
  const url = config.sessions?.instanceUrl ?? process.env.ONEMCP_INSTANCE_URL
  return url ? new URL(url).host : undefined
}

function originAllowed (origin: string, config: GatewayConfig, external: URL | undefined): boolean {
  let parsed: URL
  try { parsed = new URL(origin) } catch { return false }
  return LOOPBACK_HOSTS.has(parsed.hostname) || parsed.origin === external?.origin || (config.allowedOrigins ?? []).includes(parsed.origin)
}

/**
 * Rejects requests whose Host or Origin is not this gateway, so a web page cannot reach it through
 * DNS rebinding: loopback names, the host of `externalUrl`, and `allowedHosts`/`allowedOrigins`.
 * `checkOrigin: false` checks the Host alone, for endpoints that any origin may call (CORS).
 */
export function hostGuard (app: FastifyInstance, { checkOrigin = true }: { checkOrigin?: boolean } = {}): (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void {
  // the parsed externalUrl of the config in force (it changes only on a reload)
  let parsed: { from?: string, url?: URL } = {}
  const externalUrl = (config: GatewayConfig) => {
    if (parsed.from !== config.externalUrl) parsed = { from: config.externalUrl, url: config.externalUrl ? new URL(config.externalUrl) : undefined }
    return parsed.url
  }
  // a callback hook, not an async one: it runs on every MCP request
  return (request, reply, done) => {
    const config = app.gatewayConfig.current
    const external = externalUrl(config)
    const host = request.headers.host
    if (host && !hostAllowed(host, config, external)) {
      request.log.warn({ host }, 'request refused: Host not allowed')
      sendHttpError(reply, 403, `Host '${host}' is not allowed; add it to "allowedHosts" or set "externalUrl"`, 'GW_HOST_NOT_ALLOWED')
      return
    }
    const origin = checkOrigin ? request.headers.origin : undefined
    if (origin !== undefined && !originAllowed(origin, config, external)) {
      request.log.warn({ origin }, 'request refused: Origin not allowed')
      sendHttpError(reply, 403, `Origin '${origin}' is not allowed; add it to "allowedOrigins"`, 'GW_ORIGIN_NOT_ALLOWED')
      return
    }
    done()
  }
}
