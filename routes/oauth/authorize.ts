import type { FastifyInstance } from 'fastify'
import type { OAuth2Namespace } from '@fastify/oauth2'
import type { PendingAuthorization } from '../../auth/authorization-server.js'
import { errorPage, loginPage } from '../../auth/pages.js'
import { verifyPassphrase } from '../../auth/passphrase.js'
import { safeEqual } from '../../auth/safe-equal.js'
import type { EmbeddedIssuer } from '../../plugins/auth/issuers.js'
import { clientView, sendPage, type BrowserPages } from './browser.js'
import { askedScopes, type Form } from './forms.js'

/**
 * /authorize and the owner's pages: the login form (passphrase), the consent form, and the code
 * sent back to the client's redirect URI. `loginLimit` is the rate limit of the passphrase post.
 */
export function authorizeRoutes (app: FastifyInstance, embedded: EmbeddedIssuer, pages: BrowserPages, idp: OAuth2Namespace | undefined, loginLimit: { max: number, timeWindow: number }): void {
  const auth = app.auth
  const { server, owners } = embedded
  const { basePath, loginCookie, cookieOptions, refuseCrossSite, redirectToClient, owner, showConsent, loggedIn } = pages
  app.get('/authorize', async (request, reply) => {
    const check = await server.checkAuthorizeRequest(request.query as Record<string, unknown>)
    const clientId = (request.query as Record<string, unknown>).client_id
    if (!check.ok) {
      auth.audit(request, 'authorize', 'refused', { clientId, reason: check.error.description, ...(check.error.detail ? { detail: check.error.detail } : {}) })
      if (check.redirect) return redirectToClient(reply, check.redirect.uri, { error: check.error.error, error_description: check.error.description, state: check.redirect.state })
      return sendPage(reply, 400, errorPage('This authorization request cannot be served', check.error.description))
    }
    const pending = check.pending
    const session = owner(request)
    if (session) return showConsent(reply, pending, session)
    if (idp) {
      reply.setCookie(loginCookie(), pending.id, { ...cookieOptions(), maxAge: 600 })
      const uri = await idp.generateAuthorizationUri(request, reply)
      return reply.header('cache-control', 'no-store').redirect(uri, 302)
    }
    return sendPage(reply, 200, loginPage({ requestId: pending.id, csrf: pending.csrf, client: clientView(pending), basePath: basePath() }))
  })

  /** The pending request a form refers to, if its CSRF token matches. */
  function formPending (form: Form): PendingAuthorization | undefined {
    const id = form.request_id
    const csrf = form.csrf_token
    const pending = typeof id === 'string' ? server.getPending(id) : undefined
    if (!pending || typeof csrf !== 'string' || !safeEqual(csrf, pending.csrf)) return undefined
    return pending
  }

  app.post('/authorize/login', { config: { rateLimit: loginLimit } }, async (request, reply) => {
    const crossSite = refuseCrossSite(request, reply, 'login')
    if (crossSite) return crossSite
    if (!embedded.passphraseHash) return sendPage(reply, 400, errorPage('Login refused', 'Owners log in through the identity provider here.'))
    const form = (request.body ?? {}) as Form
    const pending = formPending(form)
    if (!pending) {
      auth.audit(request, 'login', 'refused', { reason: 'unknown request or bad CSRF token' })
      return sendPage(reply, 400, errorPage('Login refused', 'This login form expired or was not issued by this gateway.'))
    }
    const passphrase = typeof form.passphrase === 'string' ? form.passphrase : ''
    if (!await verifyPassphrase(passphrase, embedded.passphraseHash)) {
      auth.audit(request, 'login', 'failed', { clientId: pending.client.client_id, via: 'passphrase' })
      return sendPage(reply, 401, loginPage({ requestId: pending.id, csrf: pending.csrf, client: clientView(pending), basePath: basePath(), error: 'Wrong passphrase.' }))
    }
    loggedIn(request, reply, pending, 'owner', 'passphrase')
    return reply.header('cache-control', 'no-store').redirect(`${basePath()}/authorize/consent?request_id=${encodeURIComponent(pending.id)}`, 303)
  })

  app.get('/authorize/consent', async (request, reply) => {
    const pending = server.getPending((request.query as Record<string, unknown>).request_id)
    if (!pending) return sendPage(reply, 400, errorPage('Consent refused', 'This authorization request expired or does not exist.'))
    const session = owner(request)
    if (!session) {
      if (idp) return sendPage(reply, 401, errorPage('Not logged in', 'Start again from the client to log in.'))
      return sendPage(reply, 200, loginPage({ requestId: pending.id, csrf: pending.csrf, client: clientView(pending), basePath: basePath() }))
    }
    return showConsent(reply, pending, session)
  })

  app.post('/authorize/consent', async (request, reply) => {
    const crossSite = refuseCrossSite(request, reply, 'consent')
    if (crossSite) return crossSite
    const form = (request.body ?? {}) as Form
    const pending = server.getPending(form.request_id)
    const session = owner(request)
    if (!pending || !session || !owners.checkConsentToken(session.id, pending.id, form.csrf_token)) {
      auth.audit(request, 'consent', 'refused', { reason: !session ? 'not logged in' : 'unknown request or bad CSRF token', subject: session?.subject })
      return sendPage(reply, 400, errorPage('Consent refused', 'This consent form expired or was not issued to you by this gateway.'))
    }
    server.takePending(pending.id)
    const asked = askedScopes(form)
    const granted = pending.scopes.filter((s) => asked.includes(s))
    const who = { clientId: pending.client.client_id, subject: session.subject }
    if (form.decision !== 'approve' || granted.length === 0) {
      auth.audit(request, 'consent', 'denied', who)
      return redirectToClient(reply, pending.redirectUri, { error: 'access_denied', error_description: 'the owner denied access', state: pending.state })
    }
    const code = server.issueCode(pending, session.subject, granted)
    auth.audit(request, 'consent', 'issued', { ...who, scopes: granted })
    return redirectToClient(reply, pending.redirectUri, { code, state: pending.state })
  })
}
