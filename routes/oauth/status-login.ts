import type { FastifyInstance } from 'fastify'
import { errorPage, statusLoginPage } from '../../auth/pages.js'
import { verifyPassphrase } from '../../auth/passphrase.js'
import type { EmbeddedIssuer } from '../../plugins/auth/issuers.js'
import { sendPage, type BrowserPages } from './browser.js'
import type { Form } from './forms.js'

/**
 * The owner's login to the status page (routes/status.ts), beside the login of a client's
 * authorization: the same passphrase, rate limit, cross-site check and session cookie, then back to
 * `/status`. An owner who logs in through an upstream identity provider gets the session by
 * approving a client (the provider's callback is bound to an authorization request).
 */
export function statusLoginRoutes (app: FastifyInstance, embedded: EmbeddedIssuer, pages: BrowserPages, loginLimit: { max: number, timeWindow: number }): void {
  const auth = app.auth
  const { basePath, refuseCrossSite, owner, loggedIn } = pages
  const statusPath = () => `${basePath()}/status`

  app.get('/status/login', async (request, reply) => {
    if (owner(request)) return reply.header('cache-control', 'no-store').redirect(statusPath(), 303)
    if (!embedded.passphraseHash) return sendPage(reply, 400, errorPage('No passphrase login', 'Owners log in through the identity provider here: approve an MCP client once, then open the status page in the same browser.'))
    return sendPage(reply, 200, statusLoginPage({ basePath: basePath() }))
  })

  app.post('/status/login', { config: { rateLimit: loginLimit } }, async (request, reply) => {
    const crossSite = refuseCrossSite(request, reply, 'login')
    if (crossSite) return crossSite
    if (!embedded.passphraseHash) return sendPage(reply, 400, errorPage('Login refused', 'Owners log in through the identity provider here.'))
    const form = (request.body ?? {}) as Form
    const passphrase = typeof form.passphrase === 'string' ? form.passphrase : ''
    if (!await verifyPassphrase(passphrase, embedded.passphraseHash)) {
      auth.audit(request, 'login', 'failed', { via: 'passphrase', page: 'status' })
      return sendPage(reply, 401, statusLoginPage({ basePath: basePath(), error: 'Wrong passphrase.' }))
    }
    loggedIn(request, reply, undefined, 'owner', 'passphrase')
    return reply.header('cache-control', 'no-store').redirect(statusPath(), 303)
  })
}
