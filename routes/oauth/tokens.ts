import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { OAuthError } from '../../auth/errors.js'
import type { ClientAuthMethod } from '../../auth/store.js'
import type { EmbeddedIssuer } from '../../plugins/auth/issuers.js'
import { basicPart, single, type Form } from './forms.js'

// The endpoints clients call directly: /token (code exchange and refresh), /revoke (RFC 7009) and
// /register (RFC 7591). Their errors are OAuth error responses, never pages.

const REGISTRATION_BODY_LIMIT = 64 * 1024

/** /token, /revoke and /register. */
export function tokenRoutes (app: FastifyInstance, embedded: EmbeddedIssuer): void {
  const auth = app.auth
  const { server } = embedded
  function clientCredentials (request: FastifyRequest, form: Form): { clientId?: string, secret?: string, method: ClientAuthMethod } {
    const header = request.headers.authorization
    if (header && /^Basic /i.test(header)) {
      const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8')
      const colon = decoded.indexOf(':')
      if (colon < 0) throw new OAuthError('invalid_client', 'malformed Basic credentials', 401)
      const clientId = basicPart(decoded.slice(0, colon))
      const bodyId = single(form, 'client_id')
      if (bodyId !== undefined && bodyId !== clientId) throw new OAuthError('invalid_request', 'client_id differs from the Basic credentials')
      return { clientId, secret: basicPart(decoded.slice(colon + 1)), method: 'client_secret_basic' }
    }
    const secret = single(form, 'client_secret')
    return { clientId: single(form, 'client_id'), secret, method: secret === undefined ? 'none' : 'client_secret_post' }
  }

  function sendOAuthError (request: FastifyRequest, reply: FastifyReply, err: unknown, event: string): FastifyReply {
    if (!(err instanceof OAuthError)) throw err
    auth.audit(request, event, 'refused', { error: err.error, reason: err.description, ...(err.detail ? { detail: err.detail } : {}) })
    if (err.statusCode === 401 && /^Basic /i.test(request.headers.authorization ?? '')) reply.header('www-authenticate', 'Basic realm="1mcp"')
    return reply.code(err.statusCode).header('cache-control', 'no-store').header('pragma', 'no-cache').send(err.toJSON())
  }

  function formBody (request: FastifyRequest): Form {
    if (!/^application\/x-www-form-urlencoded\b/i.test(request.headers['content-type'] ?? '')) {
      throw new OAuthError('invalid_request', 'the body must be application/x-www-form-urlencoded')
    }
    return (request.body ?? {}) as Form
  }

  app.post('/token', async (request, reply) => {
    try {
      const form = formBody(request)
      const client = await server.authenticateClient(clientCredentials(request, form))
      const grantType = single(form, 'grant_type')
      const params = Object.fromEntries(['code', 'code_verifier', 'redirect_uri', 'refresh_token', 'scope', 'resource'].map((k) => [k, single(form, k)]))
      let outcome
      if (grantType === 'authorization_code') outcome = await server.exchangeCode(client, params)
      else if (grantType === 'refresh_token') outcome = await server.refresh(client, params)
      else throw new OAuthError('unsupported_grant_type', 'grant_type must be authorization_code or refresh_token')
      auth.audit(request, grantType === 'refresh_token' ? 'refresh' : 'token', 'issued', { clientId: outcome.clientId, subject: outcome.subject, family: outcome.familyId, scope: outcome.response.scope })
      return reply.header('cache-control', 'no-store').header('pragma', 'no-cache').send(outcome.response)
    } catch (err) {
      if (err instanceof OAuthError && /already used/.test(err.description)) {
        auth.audit(request, 'token', 'revoked', { reason: err.description })
      }
      return sendOAuthError(request, reply, err, 'token')
    }
  })

  app.post('/revoke', async (request, reply) => {
    try {
      const form = formBody(request)
      const client = await server.authenticateClient(clientCredentials(request, form))
      const token = single(form, 'token')
      if (!token) throw new OAuthError('invalid_request', 'token is required')
      const family = await server.revoke(client, token)
      auth.audit(request, 'revoke', 'revoked', { clientId: client.client_id, family, known: family !== undefined })
      return reply.header('cache-control', 'no-store').code(200).send()
    } catch (err) {
      return sendOAuthError(request, reply, err, 'revoke')
    }
  })

  // a registration is a few hundred bytes; the metadata itself is bounded in AuthorizationServer.register
  app.post('/register', { bodyLimit: REGISTRATION_BODY_LIMIT }, async (request, reply) => {
    try {
      const registered = await server.register(request.body)
      auth.audit(request, 'register', 'registered', { clientId: registered.client_id, clientName: registered.client_name })
      return reply.code(201).header('cache-control', 'no-store').header('pragma', 'no-cache').send(registered)
    } catch (err) {
      return sendOAuthError(request, reply, err, 'register')
    }
  })
}
