import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import Provider from 'oidc-provider'
import { auth } from '@modelcontextprotocol/sdk/client/auth.js'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { echoFixture, startGateway } from '../helpers.js'
import { browser, form, MemoryProvider, type Browser } from '../auth-helpers.js'

async function listen (server: Server, port = 0): Promise<number> {
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

/** A free loopback port for the gateway, known before it starts (the IdP must know its callback). */
async function freePort (): Promise<number> {
  const probe = createServer()
  const port = await listen(probe)
  await new Promise((resolve) => probe.close(resolve))
  return port
}

/** A real OpenID Connect provider on loopback, with its development login and consent pages. */
async function startIdp (t: Test, redirectUri: string): Promise<string> {
  const server = createServer()
  const port = await listen(server)
  const issuer = `http://127.0.0.1:${port}`
  const provider = new Provider(issuer, {
    clients: [{ client_id: 'gateway', client_secret: 'idp-client-secret', redirect_uris: [redirectUri], grant_types: ['authorization_code'], response_types: ['code'] }],
    claims: { email: ['email', 'email_verified'], openid: ['sub'] },
    findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub, email: `${sub}@example.org`, email_verified: true }) }),
    cookies: { keys: ['test-cookie-key-that-is-long-enough'] }
  })
  server.on('request', provider.callback())
  t.teardown(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }))
  return issuer
}

/** Where a redirect goes; the codes the IdP sends to the gateway's callback are collected in `seen`. */
function redirectTarget (location: string, from: URL, seen: string[]): URL {
  const next = new URL(location, from)
  if (next.pathname === '/oauth/callback') seen.push(next.searchParams.get('code') ?? '')
  return next
}

/** What the owner submits on a page: the IdP's login or consent, or the gateway's consent; undefined elsewhere. */
function formSubmission (text: string, login: string): RequestInit | undefined {
  if (/name="prompt" value="login"/.test(text)) return { method: 'POST', body: form({ prompt: 'login', login, password: 'any' }) }
  if (/name="prompt" value="consent"/.test(text)) return { method: 'POST', body: form({ prompt: 'consent' }) }
  if (!/action="\/authorize\/consent"/.test(text)) return undefined
  const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(text)![1]
  return { method: 'POST', body: form({ request_id: field('request_id'), csrf_token: field('csrf_token'), decision: 'approve', scope: 'mcp' }) }
}

/**
 * Follows the browser through gateway → IdP login and consent → gateway consent, logging in at the
 * IdP as `login`; returns the final redirect to the client, or the page it stopped at.
 */
async function browse (b: Browser, start: URL, login: string, seen: string[] = []): Promise<{ url?: URL, status: number, text: string }> {
  let url = start
  let init: RequestInit = {}
  for (let hop = 0; hop < 25; hop++) {
    const res = await b.fetch(url, init)
    init = {}
    const location = res.headers.get('location')
    if (location) {
      const next = redirectTarget(location, url, seen)
      if (next.href.startsWith('http://127.0.0.1:9/callback')) return { url: next, status: res.status, text: '' }
      url = next
      continue
    }
    const text = await res.text()
    if (res.status !== 200) return { status: res.status, text }
    const action = /<form[^>]*action="([^"]+)"/.exec(text)?.[1]
    if (!action) return { status: res.status, text }
    const submit = formSubmission(text, login)
    if (!submit) return { status: res.status, text }
    init = submit
    url = new URL(action.replace(/&amp;/g, '&'), url)
  }
  throw new Error('too many hops')
}

t.test('the owner logs in through an upstream OpenID Connect provider', async (t) => {
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const issuer = await startIdp(t, `${base}/oauth/callback`)
  const gw = await startGateway(t, {
    port,
    config: { mcpServers: { alpha: echoFixture('alpha') } },
    auth: { passphraseHash: undefined, upstream: { name: 'Test IdP', issuer, clientId: 'gateway', clientSecret: 'idp-client-secret', allowedUsers: ['alice', 'carol@example.org'] } }
  })
  t.equal(gw.base, base)

  t.test('an allowed user gets a token, and the client uses it', async (t) => {
    const provider = new MemoryProvider()
    t.equal(await auth(provider, { serverUrl: gw.url }), 'REDIRECT')
    const upstreamCodes: string[] = []
    const end = await browse(browser(), provider.lastAuthorizationUrl!, 'alice', upstreamCodes)
    const code = end.url?.searchParams.get('code')
    t.ok(code, `the client got a code (${end.status} ${end.text.slice(0, 200)})`)
    t.equal(await auth(provider, { serverUrl: gw.url, authorizationCode: code! }), 'AUTHORIZED')
    const client = new Client({ name: 'upstream-test', version: '1.0.0' })
    const transport = new StreamableHTTPClientTransport(gw.url, { authProvider: provider })
    await client.connect(transport)
    t.teardown(() => client.close())
    const result = await client.callTool({ name: 'alpha_1mcp_echo', arguments: { text: 'via idp' } })
    t.same(result.content, [{ type: 'text', text: 'alpha: via idp' }])
    const login = gw.logs.audits('login').find((e) => e.outcome === 'succeeded')
    t.match(login, { subject: 'alice', via: 'Test IdP' }, 'the upstream login is audited with its subject')
    const issued = gw.logs.audits('token').find((e) => e.outcome === 'issued')
    t.equal(issued?.subject, 'alice', 'tokens carry the upstream subject')
    t.notOk(gw.logs.lines.join('\n').includes('idp-client-secret'), 'the upstream client secret is not logged')
    t.equal(upstreamCodes.length, 1, 'the browser came back from the provider with a code')
    t.ok(upstreamCodes[0].length > 10)
    t.notOk(gw.logs.lines.join('\n').includes(upstreamCodes[0]), 'the upstream code is never logged')
    t.notOk(gw.logs.lines.join('\n').includes(provider.saved!.access_token), 'nor the access token')
    t.notOk(gw.logs.lines.join('\n').includes(code!), 'the gateway\'s own authorization code is not logged')
  })

  t.test('a verified email on the allow list is accepted', async (t) => {
    const provider = new MemoryProvider()
    await auth(provider, { serverUrl: gw.url })
    const end = await browse(browser(), provider.lastAuthorizationUrl!, 'carol')
    t.ok(end.url?.searchParams.get('code'))
  })

  t.test('a user the provider knows but the allow list does not is refused', async (t) => {
    const provider = new MemoryProvider()
    await auth(provider, { serverUrl: gw.url })
    const end = await browse(browser(), provider.lastAuthorizationUrl!, 'mallory')
    t.equal(end.status, 403)
    t.notOk(end.url, 'no code reaches the client')
    t.ok(gw.logs.audits('login').some((e) => e.outcome === 'refused' && e.subject === 'mallory'))
  })

  t.test('the passphrase login is not served in this mode', async (t) => {
    const res = await fetch(`${gw.base}/authorize/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'request_id=x&csrf_token=y&passphrase=z' })
    t.equal(res.status, 400)
  })
})
