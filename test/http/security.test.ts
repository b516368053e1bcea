import { connect as netConnect } from 'node:net'
import t from 'tap'
import { SignJWT, generateKeyPair } from 'jose'
import { browser, forgeToken, testPassphraseHash } from '../auth-helpers.js'
import { tokenFor } from '../oauth-client.js'
import { echoFixture, initializeRequest, MCP_HEADERS, STATELESS_VERSION, postMcp, startGateway, tempDir } from '../helpers.js'

// Issue 16, "done means": a hostile-input sweep against a live gateway with auth on. Hundreds of
// requests over every endpoint carry forged and garbage tokens, names from Object.prototype, bad
// JSON-RPC ids, deep nesting, bad % escapes, bad Basic credentials, oversized headers, huge bodies,
// wrong content types and bad JSON. Not one may be answered with a 5xx or left hanging, and the
// gateway must still serve an authorized call at the end.

const PROBE_TIMEOUT_MS = 5000
const CONCURRENCY = 6
const PROTOTYPE_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'prototype', '__defineSetter__']
const BAD_IDS: unknown[] = [1.5, null, {}, [], true, -0.5, { id: 1 }, [null]]
const BAD_ESCAPES = ['%', '%Z', '%ZZ', '%E0%A4%A', '%C0%AF', '%FF%FE', '%00', '%uD800']
const MCP_ACCEPT = MCP_HEADERS.accept

interface Probe { name: string, run: () => Promise<number> }
interface Outcome { name: string, status?: number, error?: string }

const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth)
const deepObject = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)
const basic = (raw: string) => `Basic ${Buffer.from(raw, 'latin1').toString('base64')}`

/** A fetch whose answer is its status; the body is never waited for (a stream would not end). */
async function status (url: string, init: RequestInit = {}): Promise<number> {
  const res = await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) })
  await res.body?.cancel().catch(() => {})
  return res.status
}

/** Raw bytes on a socket: the status line of the answer (0 when the gateway closed without one). */
function raw (base: string, bytes: string | Buffer): Promise<number> {
  const { hostname, port } = new URL(base)
  return new Promise((resolve, reject) => {
    const socket = netConnect(Number(port), hostname)
    let answer = ''
    const done = () => {
      socket.destroy()
      resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0))
    }
    socket.setTimeout(PROBE_TIMEOUT_MS, () => { socket.destroy(); reject(new Error('no answer in time')) })
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1')
      if (/^HTTP\/1\.1 \d{3}/.test(answer)) done()
    })
    socket.on('error', () => done())
    socket.on('close', done)
    socket.write(bytes)
  })
}

async function runAll (probes: Probe[]): Promise<Outcome[]> {
  const outcomes: Outcome[] = []
  let next = 0
  const worker = async () => {
    while (next < probes.length) {
      const probe = probes[next++]
      try {
        outcomes.push({ name: probe.name, status: await probe.run() })
      } catch (err) {
        outcomes.push({ name: probe.name, error: `${(err as Error).name}: ${(err as Error).message}` })
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  return outcomes
}

interface Ctx {
  base: string
  bearer: string
  session: string
  authHeaders: string[]
  good: { clientId: string, accessToken: string, refreshToken: string }
  probes: Probe[]
  add: (name: string, run: () => Promise<number>) => void
  mcpPost: (path: string, body: string, headers?: Record<string, string>) => Promise<number>
}

function sweepContext (base: string, bearer: string, session: string): Ctx {
  const probes: Probe[] = []
  return {
    base,
    bearer,
    session,
    authHeaders: [],
    good: { clientId: '', accessToken: '', refreshToken: '' },
    probes,
    add: (name, run) => { probes.push({ name, run }) },
    mcpPost: (path, body, headers = {}) => status(`${base}${path}`, { method: 'POST', headers: { ...MCP_HEADERS, ...headers }, body })
  }
}

/** 1. forged and garbage tokens on every protected endpoint */
function tokenProbes (c: Ctx): Probe[] {
  const { base, session, add, mcpPost, authHeaders } = c
  for (const authorization of authHeaders) {
    for (const path of ['/mcp', '/mcp/echo', '/messages?sessionId=x']) add(`${path} with ${authorization.slice(0, 30)}`, () => mcpPost(path, '{"jsonrpc":"2.0","id":1,"method":"tools/list"}', { authorization }))
    add(`/sse with ${authorization.slice(0, 30)}`, () => status(`${base}/sse`, { headers: { authorization, accept: 'text/event-stream' } }))
    add(`GET /mcp with ${authorization.slice(0, 30)}`, () => status(`${base}/mcp`, { headers: { authorization, accept: 'text/event-stream', 'mcp-session-id': session } }))
    add(`/metrics with ${authorization.slice(0, 30)}`, () => status(`${base}/metrics`, { headers: { authorization } }))
  }
  return c.probes
}

/** 2. names from Object.prototype wherever a name comes from the request */
function prototypeProbes (c: Ctx): Probe[] {
  const { base, bearer, session, add, mcpPost } = c
  for (const name of PROTOTYPE_NAMES) {
    add(`/mcp/${name}`, () => mcpPost(`/mcp/${name}`, '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}', { authorization: bearer }))
    add(`/mcp/${name} (2026)`, () => mcpPost(`/mcp/${name}`, '{"jsonrpc":"2.0","id":1,"method":"tools/list"}', { authorization: bearer, 'mcp-protocol-version': STATELESS_VERSION, 'mcp-method': 'tools/list' }))
    add(`/mcp?preset=${name}`, () => mcpPost(`/mcp?preset=${name}`, '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}', { authorization: bearer }))
    add(`/sse?preset=${name}`, () => status(`${base}/sse?preset=${name}`, { headers: { authorization: bearer, accept: 'text/event-stream' } }))
    add(`/sse/${name}`, () => status(`${base}/sse/${name}`, { headers: { authorization: bearer, accept: 'text/event-stream' } }))
    add(`/messages?sessionId=${name}`, () => mcpPost(`/messages?sessionId=${name}`, '{"jsonrpc":"2.0","id":1,"method":"ping"}', { authorization: bearer }))
    add(`tools/call ${name}`, () => mcpPost('/mcp', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: {} } }), { authorization: bearer, 'mcp-session-id': session }))
    add(`prompts/get ${name}`, () => mcpPost('/mcp', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'prompts/get', params: { name } }), { authorization: bearer, 'mcp-session-id': session }))
    add(`method ${name}`, () => mcpPost('/mcp', JSON.stringify({ jsonrpc: '2.0', id: 1, method: name, params: {} }), { authorization: bearer, 'mcp-session-id': session }))
    add(`resources/read onemcp://${name}/x`, () => mcpPost('/mcp', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri: `onemcp://${name}/x` } }), { authorization: bearer, 'mcp-session-id': session }))
    add(`/authorize?client_id=${name}`, () => status(`${base}/authorize?client_id=${name}&response_type=code&code_challenge=x&code_challenge_method=S256&redirect_uri=http://127.0.0.1:9/cb`))
    add(`/authorize/consent?request_id=${name}`, () => status(`${base}/authorize/consent?request_id=${name}`))
    add(`/token client_id=${name}`, () => status(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `grant_type=authorization_code&client_id=${name}&code=${name}&${name}=1` }))
    add(`/revoke token=${name}`, () => status(`${base}/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${name}&client_id=${name}&__proto__=x` }))
    add(`/register ${name}`, () => status(`${base}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"${name}":{"redirect_uris":["x"]},"redirect_uris":["http://127.0.0.1:9/cb"],"token_endpoint_auth_method":"${name}"}` }))
    add(`/.well-known/oauth-protected-resource/mcp/${name}`, () => status(`${base}/.well-known/oauth-protected-resource/mcp/${name}`))
    add(`/.well-known/oauth-authorization-server/${name}`, () => status(`${base}/.well-known/oauth-authorization-server/${name}`))
    add(`/authorize/login request_id=${name}`, () => status(`${base}/authorize/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `request_id=${name}&csrf_token=${name}&passphrase=x` }))
  }
  return c.probes
}

/** 3. ids a request must not carry, in a session, as 2026-07-28, on /messages */
function idProbes (c: Ctx): Probe[] {
  const { bearer, session, add, mcpPost } = c
  for (const id of BAD_IDS) {
    const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/list' })
    add(`id ${JSON.stringify(id)} in a session`, () => mcpPost('/mcp', body, { authorization: bearer, 'mcp-session-id': session }))
    add(`id ${JSON.stringify(id)} 2026`, () => mcpPost('/mcp', body, { authorization: bearer, 'mcp-protocol-version': STATELESS_VERSION, 'mcp-method': 'tools/list' }))
    add(`id ${JSON.stringify(id)} initialize`, () => mcpPost('/mcp', JSON.stringify({ jsonrpc: '2.0', id, method: 'initialize', params: {} }), { authorization: bearer }))
    add(`id ${JSON.stringify(id)} response`, () => mcpPost('/mcp', JSON.stringify({ jsonrpc: '2.0', id, result: {} }), { authorization: bearer, 'mcp-session-id': session }))
  }
  return c.probes
}

/** 4. deep nesting: bodies and filters */
function nestingProbes (c: Ctx): Probe[] {
  const { base, bearer, session, add, mcpPost } = c
  for (const depth of [65, 1000, 20_000, 100_000]) {
    add(`deep array ${depth} in a session`, () => mcpPost('/mcp', `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo_1mcp_echo","arguments":{"x":${nested(depth)}}}}`, { authorization: bearer, 'mcp-session-id': session }))
    add(`deep _meta ${depth} 2026`, () => mcpPost('/mcp', `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":${deepObject(depth)}}}`, { authorization: bearer, 'mcp-protocol-version': STATELESS_VERSION, 'mcp-method': 'tools/list' }))
    add(`deep /register ${depth}`, () => status(`${base}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"redirect_uris":["http://127.0.0.1:9/cb"],"x":${nested(depth)}}` }))
    add(`deep /messages ${depth}`, () => mcpPost('/messages?sessionId=x', deepObject(depth), { authorization: bearer }))
    add(`deep unauthenticated ${depth}`, () => mcpPost('/mcp', deepObject(depth)))
  }
  for (const filter of [`${'('.repeat(2000)}a${')'.repeat(2000)}`, `${'not '.repeat(2000)}a`, '((((', 'a and', '!!!!!!', '\u0000', 'a'.repeat(5000)]) {
    add(`tag-filter ${filter.slice(0, 12)}`, () => mcpPost(`/mcp?tag-filter=${encodeURIComponent(filter)}`, '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}', { authorization: bearer }))
    add(`/sse tag-filter ${filter.slice(0, 12)}`, () => status(`${base}/sse?tag-filter=${encodeURIComponent(filter)}`, { headers: { authorization: bearer, accept: 'text/event-stream' } }))
  }
  return c.probes
}

/** 5. bad % escapes: in paths, queries, form bodies, Basic credentials (raw, as a browser would never send them) */
function escapeProbes (c: Ctx): Probe[] {
  const { base, bearer, add } = c
  for (const escape of BAD_ESCAPES) {
    for (const path of [`/mcp/${escape}`, `/mcp?tags=${escape}`, `/sse?preset=${escape}`, `/authorize?client_id=${escape}`, `/authorize/consent?request_id=${escape}`, `/health?${escape}`, `/.well-known/oauth-protected-resource/${escape}`, `/messages?sessionId=${escape}`]) {
      add(`raw GET ${path}`, () => raw(base, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: ${MCP_ACCEPT}\r\nAuthorization: ${bearer}\r\nConnection: close\r\n\r\n`))
    }
    const form = `grant_type=refresh_token&refresh_token=${escape}&client_id=${escape}`
    add(`/token form ${escape}`, () => status(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form }))
    add(`/token Basic ${escape}`, () => status(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(`${escape}:${escape}`) }, body: 'grant_type=refresh_token&refresh_token=x' }))
    add(`/revoke Basic ${escape}`, () => status(`${base}/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(`client${escape}:secret`) }, body: 'token=x' }))
    add(`/authorize/consent form ${escape}`, () => status(`${base}/authorize/consent`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `request_id=${escape}&csrf_token=${escape}&decision=approve&scope=${escape}` }))
  }
  return c.probes
}

/** 6. bad Basic credentials */
function basicProbes (c: Ctx): Probe[] {
  const { base, add, good } = c
  for (const authorization of ['Basic', 'Basic ', 'Basic !!!!', basic('no-colon'), basic(':'), basic(`${'a'.repeat(6000)}:x`), basic('\u00ff\u00fe:\u0000'), 'Basic ' + 'A'.repeat(7000), basic(`${good.clientId}:`), basic('a:b:c')]) {
    add(`/token ${authorization.slice(0, 20)}`, () => status(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization }, body: 'grant_type=authorization_code&code=x' }))
    add(`/revoke ${authorization.slice(0, 20)}`, () => status(`${base}/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization }, body: 'token=x' }))
  }
  return c.probes
}

/** 7. oversized headers and request lines, over raw sockets */
function rawProbes (c: Ctx): Probe[] {
  const { base, bearer, add } = c
  for (const [name, bytes] of [
    ['a 20 KB header', `GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`],
    ['a 20 KB Authorization', `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${'a'.repeat(20_000)}\r\nContent-Length: 2\r\n\r\n{}`],
    ['a 20 KB URL', `GET /mcp?${'a'.repeat(20_000)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`],
    ['2,000 headers', `GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n${Array.from({ length: 2000 }, (_, i) => `X-H${i}: v`).join('\r\n')}\r\n\r\n`],
    ['no Host', 'GET /health/live HTTP/1.1\r\n\r\n'],
    ['two Hosts', 'GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n'],
    ['a header without a colon', `GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${bearer}\r\nnot a header\r\n\r\n`],
    ['a bad method', 'FOO /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'],
    ['HTTP/0.9', 'GET /mcp\r\n\r\n'],
    ['a NUL in the path', 'GET /mcp\u0000x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'],
    ['both Content-Length and chunked', 'POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['a bad chunk', 'POST /register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n'],
    ['a negative Content-Length', 'POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n'],
    ['a huge Content-Length on /mcp', `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${bearer}\r\nAccept: ${MCP_ACCEPT}\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n{`],
    ['a huge Content-Length on /register', 'POST /register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n\r\n{'],
    ['a huge Content-Length on /token', 'POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 5000000\r\n\r\ncode='],
    ['a huge Content-Length on /messages', `POST /messages?sessionId=x HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${bearer}\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n\r\n{`]
  ] as const) add(`raw: ${name}`, () => raw(base, bytes))
  return c.probes
}

/** 8. huge bodies that are sent whole */
function bodySizeProbes (c: Ctx): Probe[] {
  const { base, bearer, session, add, mcpPost } = c
  const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo_1mcp_echo', arguments: { text: 'x'.repeat(5 * 1024 * 1024) } } })
  add('a 5 MB call', () => mcpPost('/mcp', big, { authorization: bearer, 'mcp-session-id': session }))
  add('a 5 MB call, no token', () => mcpPost('/mcp', big))
  add('a 100 KB registration', () => status(`${base}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: ['http://127.0.0.1:9/cb'], client_name: 'x'.repeat(100_000) }) }))
  add('a 100 KB token form', () => status(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `code=${'x'.repeat(100_000)}` }))
  add('10,000 form fields', () => status(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Array.from({ length: 10_000 }, (_, i) => `f${i}=1`).join('&') }))
  add('a registration with 5,000 redirect URIs', () => status(`${base}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: Array.from({ length: 5000 }, (_, i) => `http://127.0.0.1:9/cb${i}`) }) }))
  return c.probes
}

/** 9. wrong content types and bad JSON, on every endpoint that takes a body */
function contentProbes (c: Ctx): Probe[] {
  const { base, bearer, session, add, mcpPost } = c
  const contentTypes = ['text/plain', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16', 'application/x-www-form-urlencoded', 'application/xml', '', 'application/json;;;', 'APPLICATION/JSON; x="']
  const badBodies = ['{', 'null', '[]', '"str"', '1', 'true', '{"jsonrpc":"1.0","id":1,"method":"x"}', '{"jsonrpc":"2.0","method":""}', '{"jsonrpc":"2.0","id":1,"method":1}', '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[]}', '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"x"}', '\uFEFF{}', '{"a":1,"a":2}', '{"__proto__":{"polluted":1},"jsonrpc":"2.0","id":1,"method":"ping"}']
  for (const path of ['/mcp', '/mcp/echo', '/messages?sessionId=x', '/register', '/token', '/revoke', '/authorize/consent', '/authorize/login']) {
    for (const type of contentTypes) {
      add(`${path} as ${type || 'no type'}`, () => status(`${base}${path}`, { method: 'POST', headers: { ...(type ? { 'content-type': type } : {}), accept: MCP_ACCEPT, authorization: bearer, 'mcp-session-id': session }, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' }))
    }
    for (const body of badBodies) {
      const type = path.startsWith('/mcp') || path.startsWith('/messages') || path === '/register' ? 'application/json' : 'application/x-www-form-urlencoded'
      add(`${path} body ${body.slice(0, 20)}`, () => status(`${base}${path}`, { method: 'POST', headers: { 'content-type': type, accept: MCP_ACCEPT, authorization: bearer, 'mcp-session-id': session }, body }))
    }
  }
  add('invalid UTF-8 JSON', () => mcpPost('/mcp', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('latin1'), { authorization: bearer, 'mcp-session-id': session }))
  return c.probes
}

/** 10. wrong methods, bad MCP headers, foreign Host and Origin, on every endpoint */
function headerProbes (c: Ctx): Probe[] {
  const { base, bearer, session, add, mcpPost } = c
  const endpoints = ['/mcp', '/mcp/echo', '/sse', '/messages', '/authorize', '/authorize/consent', '/authorize/login', '/token', '/register', '/revoke', '/health', '/health/live', '/health/ready', '/metrics', '/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-authorization-server', '/.well-known/jwks.json', '/oauth/callback']
  for (const path of endpoints) {
    for (const method of ['PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD']) add(`${method} ${path}`, () => status(`${base}${path}`, { method, headers: { authorization: bearer } }))
    add(`${path} Host evil`, () => raw(base, `GET ${path} HTTP/1.1\r\nHost: evil.example\r\nAuthorization: ${bearer}\r\nConnection: close\r\n\r\n`))
    add(`${path} Origin evil`, () => status(`${base}${path}`, { headers: { origin: 'http://evil.example', authorization: bearer, accept: MCP_ACCEPT } }))
    add(`${path}?junk`, () => status(`${base}${path}?a=%00&a=1&b[]=x&__proto__[x]=1&constructor=1&toString=1`, { headers: { accept: 'application/json' } }))
  }
  for (const [name, value] of [
    ['mcp-session-id', '__proto__'], ['mcp-session-id', 'x'.repeat(4000)], ['mcp-session-id', ''], ['mcp-session-id', '\u00ff'],
    ['mcp-protocol-version', 'garbage'], ['mcp-protocol-version', '9999-99-99'], ['mcp-protocol-version', '2026-13-45'], ['last-event-id', '__proto__'], ['last-event-id', '1:-5'], ['last-event-id', 'x'.repeat(3000)],
    ['mcp-method', 'constructor'], ['mcp-name', '__proto__'], ['mcp-param-x', '=?base64?!!!?=']
  ]) {
    add(`POST /mcp ${name}: ${value.slice(0, 12)}`, () => mcpPost('/mcp', '{"jsonrpc":"2.0","id":1,"method":"tools/list"}', { authorization: bearer, [name]: value }))
    add(`GET /mcp ${name}: ${value.slice(0, 12)}`, () => status(`${base}/mcp`, { headers: { authorization: bearer, accept: 'text/event-stream', 'mcp-session-id': session, [name]: value } }))
  }
  return c.probes
}

t.test('hostile-input sweep with auth on: no 5xx, no hang, still serving', async (t) => {
  const dataDir = await tempDir(t)
  const gw = await startGateway(t, {
    noAuth: false,
    config: {
      mcpServers: { echo: echoFixture('echo', {}, { tags: ['dev'] }) },
      presets: { dev: { filter: 'dev' } },
      // the OAuth limits would answer most of the sweep with 429 before its input reaches a handler
      auth: { dataDir, passphraseHash: await testPassphraseHash(), rateLimit: { max: 100000, loginMax: 10000 } }
    }
  })
  const base = gw.base
  const owner = browser()
  const good = await tokenFor(base, 'sweep', { owner })
  const bearer = `Bearer ${good.accessToken}`
  const init = await postMcp(`${base}/mcp`, { token: good.accessToken, body: initializeRequest('2025-11-25', 'sweep') })
  t.equal(init.status, 200, 'an authorized session to attack from inside')
  const session = init.headers.get('mcp-session-id')!

  // tokens an attacker can make: garbage, alg none, another key, the gateway's key with bad claims
  const stranger = await generateKeyPair('ES256')
  const now = Math.floor(Date.now() / 1000)
  const otherKey = await new SignJWT({ sub: 'owner', client_id: good.clientId, scope: 'mcp', aud: `${base}/mcp` }).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' }).setIssuer(base).setIssuedAt(now).setExpirationTime(now + 600).setJti('x').sign(stranger.privateKey)
  const unsigned = `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'owner', scope: 'mcp', exp: now + 600 })).toString('base64url')}.`
  const expired = await forgeToken(dataDir, { sub: 'owner', client_id: good.clientId, scope: 'mcp', aud: `${base}/mcp`, iss: base }, { expiresIn: -60 })
  const wrongTyp = await forgeToken(dataDir, { sub: 'owner', client_id: good.clientId, scope: 'mcp', aud: `${base}/mcp`, iss: base }, { typ: 'JWT' })
  const protoClaims = await forgeToken(dataDir, { sub: '__proto__', client_id: 'constructor', scope: 'toString __proto__', aud: `${base}/mcp`, iss: base })
  const authHeaders = [
    'Bearer', 'Bearer ', 'Bearer x', 'Bearer a.b.c', 'Bearer ...', `Bearer ${'A'.repeat(8000)}`, `Bearer ${unsigned}`, `Bearer ${otherKey}`,
    `Bearer ${expired}`, `Bearer ${wrongTyp}`, `Bearer ${protoClaims}`, `bearer ${good.accessToken}x`, `Bearer ${good.accessToken.split('.').reverse().join('.')}`,
    'Basic Zm9vOmJhcg==', 'Digest x', `Bearer ${good.refreshToken}`, `Bearer ${'%'.repeat(40)}`, 'Bearer eyJ.eyJ.sig', `Bearer ${good.accessToken} extra`, 'Bearer \u00ff\u00fe'
  ]

  const c = { ...sweepContext(base, bearer, session), authHeaders, good }
  tokenProbes(c)
  prototypeProbes(c)
  idProbes(c)
  nestingProbes(c)
  escapeProbes(c)
  basicProbes(c)
  rawProbes(c)
  bodySizeProbes(c)
  contentProbes(c)
  headerProbes(c)
  const probes = c.probes
  t.ok(probes.length >= 300, `${probes.length} hostile requests`)
  const outcomes = await runAll(probes)
  t.equal(outcomes.length, probes.length, 'every request was answered or failed')
  t.same(outcomes.filter((o) => o.error !== undefined), [], 'no request hung or failed without an answer')
  t.same(outcomes.filter((o) => (o.status ?? 0) >= 500), [], 'no request was answered with a 5xx')
  t.same(outcomes.filter((o) => o.status === 0), [], 'no raw request was dropped without an answer')

  // still serving: liveness, and a real authorized call in the session opened before the sweep
  t.equal(await status(`${base}/health/live`), 200, '/health/live')
  const call = await postMcp(`${base}/mcp`, { token: good.accessToken, session, body: { jsonrpc: '2.0', id: 99, method: 'tools/call', params: { name: 'echo_1mcp_echo', arguments: { text: 'still here' } } }, signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) })
  t.equal(call.status, 200)
  t.match(await call.json(), { id: 99, result: { content: [{ type: 'text', text: /still here/ }] } }, 'an authorized tool call still succeeds')
  const fresh = await tokenFor(base, 'after the sweep', { owner })
  t.equal((await postMcp(`${base}/mcp`, { token: fresh.accessToken, body: initializeRequest('2025-11-25', 'after'), signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) })).status, 200, 'a new client still gets a token and a session')
})
