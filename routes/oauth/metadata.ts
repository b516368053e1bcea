import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { scopesSupported } from '../../auth/scopes.js'
import { sendHttpError } from '../errors.js'

// The documents: RFC 9728 protected resource metadata (always, when auth is on) and, with the
// embedded issuer, RFC 8414 authorization server metadata and the JWKS; CORS for browser clients.

const PRM_SUFFIX = /^\/(mcp(\/[A-Za-z0-9_-]+)?|sse|messages|metrics)$/

/**
 * Browser-based clients (the Inspector's UI) call these endpoints cross-origin. They take no
 * cookies, so any origin may read them; the login and consent pages are navigations, not listed.
 */
export function registerCors (app: FastifyInstance): void {
  const CORS_PATHS = /^\/(\.well-known\/|token$|register$|revoke$)/
  app.addHook('onRequest', async (request, reply) => {
    if (CORS_PATHS.test(request.url.split('?')[0].slice(0, 64))) reply.header('access-control-allow-origin', '*')
  })
  // preflights on these paths only: an app embedding the gateway may answer OPTIONS elsewhere
  // (@fastify/cors declares `OPTIONS *`)
  const preflight = async (_request: FastifyRequest, reply: FastifyReply) => reply.code(204)
    .header('access-control-allow-methods', 'GET, POST, OPTIONS')
    .header('access-control-allow-headers', 'authorization, content-type, mcp-protocol-version')
    .header('access-control-max-age', '600')
    .send()
  for (const path of ['/.well-known/*', '/token', '/register', '/revoke']) app.options(path, { config: { rateLimit: false } }, preflight)
}

/** The `/.well-known/*` documents. */
export function metadataRoutes (app: FastifyInstance): void {
  const auth = app.auth
  const urls = auth.urls
  const settings = auth.settings
  const scopes = () => scopesSupported(app.gatewayConfig.current.mcpServers)

  function protectedResourceMetadata (path: string) {
    return {
      resource: urls.resource(path),
      authorization_servers: [urls.issuer()],
      scopes_supported: scopes(),
      bearer_methods_supported: ['header'],
      resource_name: '1MCP Gateway'
    }
  }

  app.get('/.well-known/oauth-protected-resource', async (_request, reply) =>
    reply.header('cache-control', 'max-age=60').send(protectedResourceMetadata('')))
  app.get('/.well-known/oauth-protected-resource/*', async (request, reply) => {
    const suffix = '/' + (request.params as { '*': string })['*']
    if (!PRM_SUFFIX.test(suffix) && !auth.isProtectedPath(suffix)) return sendHttpError(reply, 404, 'no protected resource at this path')
    return reply.header('cache-control', 'max-age=60').send(protectedResourceMetadata(suffix))
  })

  const embedded = auth.embedded
  if (!embedded) return
  const { tokens } = embedded

  function authorizationServerMetadata () {
    const base = urls.base()
    return {
      issuer: urls.issuer(),
      authorization_endpoint: `${base}/authorize`,
      token_endpoint: `${base}/token`,
      ...(settings.allowDynamicRegistration ?? true ? { registration_endpoint: `${base}/register` } : {}),
      revocation_endpoint: `${base}/revoke`,
      jwks_uri: `${base}/.well-known/jwks.json`,
      scopes_supported: scopes(),
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
      revocation_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
      code_challenge_methods_supported: ['S256'],
      client_id_metadata_document_supported: settings.allowClientMetadataDocuments ?? true,
      authorization_response_iss_parameter_supported: true
    }
  }
  for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/oauth-authorization-server/*']) {
    app.get(path, async (_request, reply) => reply.header('cache-control', 'max-age=60').send(authorizationServerMetadata()))
  }
  app.get('/.well-known/jwks.json', async (_request, reply) => reply.header('cache-control', 'max-age=300').send({ keys: [tokens.publicJwk] }))
}
