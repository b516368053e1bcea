import type { FastifyInstance } from 'fastify'
import { audienceAdmits, isResourcePath, pathUnder } from '../../auth/resources.js'
import type { AuthSettings } from '../../schemas/auth.js'
import { DEFAULT_HOST, DEFAULT_PORT } from '../../schemas/config.js'

/** The URLs the gateway publishes: from `externalUrl` when set, else the listen address; never the Host header. */
export interface GatewayUrls {
  /** the public base URL, without a trailing slash */
  base: () => string
  /** the authorization server tokens come from (this gateway, or the external issuer) */
  issuer: () => string
  /** the RFC 8707 resource identifier of a path such as `/mcp` */
  resource: (path: string) => string
  /** where the RFC 9728 metadata of that resource is served */
  resourceMetadata: (path: string) => string
  /** the path under the base URL that a resource URL names (`''` for the base itself), or undefined when it is not this gateway's */
  pathOf: (url: string) => string | undefined
}

const WELL_KNOWN_PRM = '/.well-known/oauth-protected-resource'

/** The URL of the listen address (or of the configured host and port, before listening). */
function listenUrl (app: FastifyInstance, address: ReturnType<FastifyInstance['server']['address']>): string {
  const config = app.gatewayConfig.current
  let host = config.host ?? DEFAULT_HOST
  let port = config.port ?? DEFAULT_PORT
  if (address && typeof address === 'object') {
    host = address.address
    port = address.port
  }
  if (host === '0.0.0.0' || host === '::') {
    app.log.warn('the gateway listens on every address but "externalUrl" is not set: OAuth URLs use localhost; set externalUrl to the address clients use')
    host = 'localhost'
  }
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`
}

export function gatewayUrls (app: FastifyInstance, settings: AuthSettings): GatewayUrls {
  let cached: string | undefined
  function base (): string {
    if (cached) return cached
    const external = app.gatewayConfig.current.externalUrl
    if (external) return (cached = external.replace(/\/+$/, ''))
    const address = app.server.listening ? app.server.address() : null
    const url = listenUrl(app, address)
    if (address) cached = url
    return url
  }
  return {
    base,
    issuer: () => settings.external ? settings.external.issuer : base(),
    resource: (path) => base() + path,
    resourceMetadata: (path) => base() + WELL_KNOWN_PRM + path,
    pathOf: (url) => pathUnder(base(), url)
  }
}

/** Which URLs are resources of this gateway, and which of them a token for another reaches (auth/resources.ts). */
export interface ResourceRules {
  isResource: (url: string) => boolean
  narrows: (granted: string, asked: string) => boolean
  /** whether a token with these audiences may be used on this request path */
  admits: (audiences: string[], requestPath: string) => boolean
}

export function resourceRules (app: FastifyInstance, urls: GatewayUrls, isProtectedPath: (path: string) => boolean): ResourceRules {
  const admits = (audience: string, requestPath: string) => {
    const path = urls.pathOf(audience)
    return path !== undefined && audienceAdmits(path, requestPath)
  }
  return {
    isResource: (url) => {
      const path = urls.pathOf(url)
      return path !== undefined && isResourcePath(path, app.gatewayConfig.current.mcpServers, isProtectedPath)
    },
    narrows: (granted, asked) => {
      const path = urls.pathOf(asked)
      return path !== undefined && admits(granted, path)
    },
    admits: (audiences, requestPath) => audiences.some((a) => admits(a, requestPath))
  }
}
