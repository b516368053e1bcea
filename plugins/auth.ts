import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest } from 'fastify'

/** Who a request acts for, once its token is verified. */
export interface AuthContext {
  subject: string
  clientId: string
  scopes: string[]
  /** whether the token may see a server carrying these tags */
  admitsTags: (tags: string[]) => boolean
}

export interface AuthService {
  enabled: boolean
  /** an onRequest hook for protected routes: answers 401/403 itself, or sets `request.auth` */
  protect: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance { auth: AuthService }
  interface FastifyRequest { auth?: AuthContext }
}

export interface AuthPluginOptions {
  /** `--no-auth` */
  disabled?: boolean
}

/**
 * Authentication for the MCP endpoints. This build has no authorization server yet,
 * so it serves without auth and says so at start and in /health.
 */
export default fp<AuthPluginOptions>(async (app) => {
  app.decorateRequest('auth', undefined)
  app.decorate('auth', {
    enabled: false,
    protect: async () => {}
  } satisfies AuthService)
  app.log.warn('authentication is not available in this build: the MCP endpoints are served without auth; keep the gateway on loopback')
}, { name: 'auth', dependencies: ['config'], fastify: '5.x' })
