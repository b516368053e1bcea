import type { FastifyInstance } from 'fastify'
import { errorPage } from '../../auth/pages.js'
import { startUserGrant, type GrantRequest } from '../upstream-login.js'
import { sendPage, type BrowserPages } from './browser.js'

/**
 * A user's link to authorize a per-user server (routes/upstream-login.ts), with the embedded issuer:
 * it goes on only in a browser logged in to this gateway as the user the link was made for (the
 * subject of their token), so a link sent to someone else does not bind that person's upstream
 * account to the sender (the phishing case of the MCP spec's URL elicitation).
 */
export function grantRoutes (app: FastifyInstance, pages: BrowserPages): void {
  app.get<GrantRequest>('/oauth/grant/:server', (request, reply) => startUserGrant(app, request, reply, (user) => {
    const subject = user.split('\n')[0]
    const session = pages.owner(request)
    if (!session) return sendPage(reply, 401, errorPage('Log in first', 'Open this link in the browser you use with this gateway, logged in (the owner at /status/login, or by approving an MCP client through your identity provider), then open it again.'))
    if (session.subject !== subject) return sendPage(reply, 403, errorPage('Not your link', 'This authorization link was made for another user of this gateway.'))
    return true
  }))
}
