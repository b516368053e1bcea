import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { AuthSettings } from '../schemas/auth.js'
import { audit, type AuditOutcome } from './auth/audit.js'
import { embeddedIssuer, externalIssuer, type EmbeddedIssuer, type IssuerOptions } from './auth/issuers.js'
import { protectedRoutes, resourceServer, type AuthContext } from './auth/resource-server.js'
import { gatewayUrls, resourceRules, type GatewayUrls } from './auth/urls.js'
import { tracedCheck } from './tracing.js'

export interface AuthService {
  enabled: boolean
  /** `embedded`: the gateway issues tokens; `external`: it trusts another issuer's; `off` */
  mode: 'embedded' | 'external' | 'off'
  /**
   * An onRequest hook for protected routes: answers 401/403 itself, or sets `request.auth`. A route of
   * your own is protected with `{ onRequest: app.auth.protect }` in its options: its 401 then names
   * protected resource metadata that is served for its path (see docs/security.md).
   */
  protect: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  /** whether a path (e.g. `/hello/42`) is a route of a plugin protected with `onRequest: app.auth.protect` */
  isProtectedPath: (path: string) => boolean
  urls: GatewayUrls
  settings: AuthSettings
  /** logs one auth decision (never a secret) */
  audit: (request: FastifyRequest, event: string, outcome: AuditOutcome, fields?: Record<string, unknown>) => void
  embedded?: EmbeddedIssuer
}

declare module 'fastify' {
  interface FastifyInstance { auth: AuthService }
  interface FastifyRequest { auth?: AuthContext }
}

export interface AuthPluginOptions extends IssuerOptions {
  /** `--no-auth` */
  disabled?: boolean
}

function rejectImpossible (settings: AuthSettings): void {
  if (settings.external && settings.upstream) throw new Error('auth.external and auth.upstream cannot both be set: with an external issuer the gateway does not log owners in')
  if (settings.external && settings.passphraseHash) throw new Error('auth.external and auth.passphraseHash cannot both be set')
}

/**
 * Authentication: the OAuth 2.1 resource server for every MCP endpoint and, unless an external
 * issuer is configured, the authorization server behind routes/oauth.ts. On by default; only
 * `--no-auth` or `"auth": {"enabled": false}` turns it off, with a warning. The parts live in
 * plugins/auth/: urls.ts (the public URLs), issuers.ts (where tokens come from), resource-server.ts
 * (the token check on each request), audit.ts (the audit log); this plugin puts them together.
 */
export default fp<AuthPluginOptions>(async (app, opts) => {
  const settings: AuthSettings = app.gatewayConfig.current.auth ?? {}
  const urls = gatewayUrls(app, settings)
  const log = app.log.child({ plugin: 'auth' })
  app.decorateRequest('auth', undefined)

  if (opts.disabled || settings.enabled === false) {
    app.decorate('auth', { enabled: false, mode: 'off', protect: async () => {}, isProtectedPath: () => false, urls, settings, audit } satisfies AuthService)
    log.warn({ reason: opts.disabled ? '--no-auth' : 'auth.enabled is false' }, 'authentication is OFF: every MCP endpoint is open to anyone who can reach it; keep the gateway on loopback')
    return
  }
  rejectImpossible(settings)

  const now = opts.now ?? Date.now
  // set once `protect` exists (below); plugin routes are added after this plugin, so in time
  let isProtectedPath: (path: string) => boolean = () => false
  const resources = resourceRules(app, urls, (path) => isProtectedPath(path))
  const issuer = settings.external
    ? externalIssuer(settings.external, log)
    : await embeddedIssuer(app, settings, opts, urls, resources, log, now)
  const protect = tracedCheck(app.tracing, resourceServer(app, settings, urls, resources, issuer, now))
  isProtectedPath = protectedRoutes(app, protect)
  app.decorate('auth', { enabled: true, mode: settings.external ? 'external' : 'embedded', protect, isProtectedPath, urls, settings, audit, embedded: issuer.embedded } satisfies AuthService)
}, { name: 'auth', dependencies: ['config', 'metrics'], fastify: '5.x' })
