import { randomBytes } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import cookie from '@fastify/cookie'
import { errorPage, onwardPage, PAGE_HEADERS } from '../auth/pages.js'
import { ALL_SERVERS_SCOPE } from '../auth/scopes.js'
import { hostGuard } from './host-guard.js'
import { browserPages, sendPage } from './oauth/browser.js'
import { beginUpstreamLogin } from './upstream-login.js'
import { EVENT_STREAM_HEADERS } from './sse-stream.js'
import { statusMain, statusPage, type StatusModel } from './status-view.js'

/** How often an open status page gets fresh charts; a backend's change of state is sent at once. */
const UPDATE_MS = 2000
/** Status pages open at once (each an event stream); more are refused with 429. */
const MAX_STREAMS = 32
/** A page that stopped reading gets no more updates until it catches up. */
const STREAM_BACKLOG = 256 * 1024

/** The page's headers: those of the consent page, with a script allowed by its nonce and the event stream. */
function pageHeaders (nonce: string): Record<string, string> {
  return {
    ...PAGE_HEADERS,
    'content-security-policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`
  }
}

/**
 * `/status`: the operator's page (backends, sessions, the last minutes of calls, config) and
 * `/status/events`, its live updates over server-sent events. Open to the owner logged in
 * (the cookie of the login and consent pages; `/status/login` with the passphrase) or to a Bearer
 * token with the `mcp` scope; with auth off, open like every endpoint (docs/operations.md). The Host
 * and Origin check of `/mcp`, and the consent page's framing and caching headers.
 */
const statusRoutes: FastifyPluginAsync = async (app) => {
  app.addHook('onRequest', hostGuard(app))
  await app.register(cookie)
  const embedded = app.auth.embedded
  const pages = embedded ? browserPages(app, embedded) : undefined
  const basePath = () => pages?.basePath() ?? ''

  /** Whether the request comes from the owner's browser session (no Bearer token sent). */
  const ownerSession = (request: FastifyRequest) => request.headers.authorization === undefined && pages?.owner(request) !== undefined
  // with an upstream identity provider the login page says how to log in
  const canLogIn = (request: FastifyRequest) => request.headers.authorization === undefined && embedded !== undefined

  /**
   * Lets the owner or an `mcp` token through; answers everyone else: for the page (`toLogin`), a
   * browser goes to the login page; the event stream answers 401.
   */
  const access = (toLogin: boolean) => async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    if (!app.auth.enabled || ownerSession(request)) return
    if (toLogin && canLogIn(request)) return reply.code(303).header('cache-control', 'no-store').redirect(`${basePath()}/status/login`, 303)
    await app.auth.protect(request, reply)
    if (reply.sent) return reply
    if (request.auth?.scopes.includes(ALL_SERVERS_SCOPE)) return
    return refuseScope(request, reply)
  }

  function refuseScope (request: FastifyRequest, reply: FastifyReply): FastifyReply {
    app.auth.audit(request, 'access', 'denied', { clientId: request.auth?.clientId, subject: request.auth?.subject, reason: 'the status page needs the mcp scope' })
    app.metrics.authFailures.inc({ reason: 'insufficient_scope' })
    return reply.code(403)
      .header('www-authenticate', `Bearer error="insufficient_scope", error_description="the status page needs the ${ALL_SERVERS_SCOPE} scope", scope="${ALL_SERVERS_SCOPE}"`)
      .header('cache-control', 'no-store')
      .send({ statusCode: 403, error: 'Forbidden', code: 'insufficient_scope', message: `the status page needs a token with the "${ALL_SERVERS_SCOPE}" scope` })
  }

  const window = app.metrics.recent
  function model (): StatusModel {
    const pids = new Map([...app.backends.all()].map((b) => [b.name, b.pid]))
    return { report: app.health.report(), pids, series: (name) => window.series(name), windowMinutes: (window.slotMs * window.slots) / 60_000, generatedAt: new Date(), basePath: basePath() }
  }

  // The Authorize button of a server that waits for a login: its form carries nothing to parse
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 1024 }, (_request, _body, done) => done(null, {}))

  /**
   * Starts the owner's login to a server in needs-auth (as `POST /oauth/login/<server>` does) and
   * sends the browser on to the authorization server. From the owner's session, only a form of
   * this gateway's own pages: the cross-site check of the login forms, and an Origin or
   * Sec-Fetch-Site required (this form carries no CSRF token).
   */
  app.post<{ Params: { server: string } }>('/status/authorize/:server', { onRequest: access(true) }, async (request, reply) => {
    if (pages && ownerSession(request)) {
      const crossSite = pages.refuseCrossSite(request, reply, 'upstream-login')
      if (crossSite) return crossSite
      if (request.headers.origin === undefined && request.headers['sec-fetch-site'] === undefined) return sendPage(reply, 403, errorPage('Request refused', 'The browser did not say which page sent this form.'))
    }
    const { server } = request.params
    const started = await beginUpstreamLogin(app, server, request.log)
    if ('status' in started) return sendPage(reply, started.status, errorPage('The login could not start', started.message))
    return sendPage(reply, 200, onwardPage(`Authorize ${server}`, `Continue to ${started.authorizationUrl.origin} to log the gateway in to '${server}'.`, started.authorizationUrl.href))
  })

  app.get('/status', { onRequest: access(true) }, async (_request, reply) => {
    const nonce = randomBytes(16).toString('base64')
    return reply.code(200).headers(pageHeaders(nonce)).send(statusPage({ main: statusMain(model()), nonce, eventsPath: `${basePath()}/status/events` }))
  })

  // The open pages' streams share one listener, one timer and one rendering per update.
  const streams = new Set<ServerResponse>()
  const event = () => `event: status\ndata: ${JSON.stringify({ main: statusMain(model()) })}\n\n`
  const write = (res: ServerResponse, text: string) => { if (res.writableLength <= STREAM_BACKLOG) res.write(text) }
  const pushAll = () => {
    if (streams.size === 0) return
    const text = event()
    for (const res of streams) write(res, text)
  }
  // a change of state is sent in the next turn: a burst of changes makes one update
  let queued: NodeJS.Immediate | undefined
  const onState = () => { queued ??= setImmediate(() => { queued = undefined; pushAll() }) }
  let timer: NodeJS.Timeout | undefined
  function stop (res: ServerResponse): void {
    if (!streams.delete(res)) return
    res.end()
    if (streams.size > 0) return
    clearInterval(timer)
    timer = undefined
    app.backends.off('state', onState)
  }

  app.get('/status/events', { onRequest: access(false) }, async (_request, reply) => {
    if (streams.size >= MAX_STREAMS) return reply.code(429).header('cache-control', 'no-store').send({ statusCode: 429, error: 'Too Many Requests', message: `at most ${MAX_STREAMS} status pages may be open at once` })
    reply.hijack()
    const res = reply.raw
    res.writeHead(200, { ...EVENT_STREAM_HEADERS, 'x-content-type-options': 'nosniff' })
    if (streams.size === 0) {
      app.backends.on('state', onState)
      timer = setInterval(pushAll, UPDATE_MS)
      timer.unref()
    }
    streams.add(res)
    res.on('close', () => stop(res))
    res.on('error', () => stop(res))
    // a page that went away before its stream was set up has no close event to come
    if (res.destroyed) return stop(res)
    write(res, event())
  })
  // open pages would hold the close up: their streams end first
  app.addHook('preClose', async () => {
    for (const res of [...streams]) stop(res)
    if (queued) clearImmediate(queued)
  })
}

export default statusRoutes
