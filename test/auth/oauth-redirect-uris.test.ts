import { createHash } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { approve, postForm } from '../auth-helpers.js'
import { type AuthGateway, startGateway } from '../helpers.js'

// Redirect URIs (issue 16, item 8): https, http on loopback, and reverse-DNS private-use schemes
// only, stored in their WHATWG serialisation and compared in it at /authorize and /token.

const VERIFIER = 'redirect-uri-test-verifier-long-enough-for-pkce-s256-xx'
const CHALLENGE = createHash('sha256').update(VERIFIER).digest('base64url')

const REFUSED = [
  'chrome://settings/',
  'view-source:https://evil.example/',
  'ms-msdt:/id PCWDiagnostic',
  'javascript:alert(1)//',
  'data:text/html,<script>alert(1)</script>',
  'file:///etc/passwd',
  'vbscript:msgbox',
  'about:blank',
  'blob:https://evil.example/1234',
  'filesystem:https://evil.example/temporary/x',
  'myapp://callback',
  'http://evil.example/cb',
  'http://localhost.evil.example/cb',
  'https://user:pw@client.example/cb',
  'https://client.example/cb#frag',
  '/relative/cb',
  `https://client.example/${'x'.repeat(2100)}`
]

const ACCEPTED: Array<[string, string]> = [
  ['https://client.example/cb', 'https://client.example/cb'],
  ['http://127.0.0.1:4567/cb', 'http://127.0.0.1:4567/cb'],
  ['http://[::1]:4567/cb', 'http://[::1]:4567/cb'],
  ['http://localhost/cb', 'http://localhost/cb'],
  ['com.example.app:/oauth2redirect', 'com.example.app:/oauth2redirect'],
  ['com.example.app://callback/path', 'com.example.app://callback/path'],
  ['https:evil.example', 'https://evil.example/'],
  ['HTTPS://Client.Example:443/a/../cb', 'https://client.example/cb'],
  ['http://127.0.0.1:33418', 'http://127.0.0.1:33418/'],
  // the app schemes of MCP clients in wide use (Cursor's own callback)
  ['cursor://anysphere.cursor-mcp/oauth/callback', 'cursor://anysphere.cursor-mcp/oauth/callback'],
  ['vscode://vscode.mcp/callback', 'vscode://vscode.mcp/callback']
]

async function register (gw: AuthGateway, redirectUris: string[]): Promise<{ status: number, body: Record<string, unknown> }> {
  const res = await fetch(`${gw.base}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: redirectUris, token_endpoint_auth_method: 'none', client_name: 'redirects' }) })
  return { status: res.status, body: await res.json() as Record<string, unknown> }
}

function authorizeUrl (base: string, clientId: string, redirectUri: string): string {
  return `${base}/authorize?${new URLSearchParams({ client_id: clientId, redirect_uri: redirectUri, response_type: 'code', code_challenge: CHALLENGE, code_challenge_method: 'S256', state: 's' })}`
}

t.test('redirect URIs at /register', async (t) => {
  const gw = await startGateway(t, { auth: true })

  t.test('odd schemes, plain http elsewhere, credentials, fragments are refused', async (t) => {
    for (const uri of REFUSED) {
      const res = await register(gw, ['https://client.example/ok', uri])
      t.equal(res.status, 400, uri)
      t.equal(res.body.error, 'invalid_redirect_uri', `${uri}: invalid_redirect_uri`)
    }
    const scheme = await register(gw, ['ms-msdt:/id'])
    t.match(scheme.body.error_description, /reverse-DNS private-use scheme/, 'the error says what is allowed')
  })

  t.test('https, loopback http and reverse-DNS schemes are stored normalised', async (t) => {
    for (const [given, stored] of ACCEPTED) {
      const res = await register(gw, [given])
      t.equal(res.status, 201, given)
      t.same(res.body.redirect_uris, [stored], `${given} is stored as ${stored}`)
    }
    const twice = await register(gw, ['https://client.example/cb', 'HTTPS://client.example/cb'])
    t.same(twice.body.redirect_uris, ['https://client.example/cb'], 'two spellings of one URI are one')
  })
})

t.test('an un-normalised URI is matched and used in its normalised form', async (t) => {
  const gw = await startGateway(t, { auth: true })

  t.test('https:evil.example is shown and redirected to as https://evil.example/', async (t) => {
    const { body } = await register(gw, ['https:evil.example'])
    const clientId = body.client_id as string
    const page = await (await fetch(authorizeUrl(gw.base, clientId, 'https:evil.example'))).text()
    t.match(page, '<code>https://evil.example/</code>', 'the owner sees where the code would go')
    const back = await approve(authorizeUrl(gw.base, clientId, 'https:evil.example'), { decision: 'deny' })
    t.equal(back.origin + back.pathname, 'https://evil.example/')
  })

  t.test('a loopback URI without a path (as VS Code registers it) completes the flow', async (t) => {
    const { body } = await register(gw, ['http://127.0.0.1:33418'])
    const clientId = body.client_id as string
    const back = await approve(authorizeUrl(gw.base, clientId, 'http://127.0.0.1:33418'))
    t.equal(back.origin + back.pathname, 'http://127.0.0.1:33418/')
    const token = await postForm(`${gw.base}/token`, { grant_type: 'authorization_code', code: back.searchParams.get('code')!, code_verifier: VERIFIER, redirect_uri: 'http://127.0.0.1:33418', client_id: clientId })
    t.equal(token.status, 200, 'the token request names the URI as the client registered it')
  })

  t.test('a different URI still does not match', async (t) => {
    const { body } = await register(gw, ['https://client.example/cb'])
    for (const other of ['https://client.example/cb/', 'https://client.example/CB', 'https://client.example/cb?x=1', 'https://client.example:8443/cb', 'view-source:https://client.example/cb']) {
      const res = await fetch(authorizeUrl(gw.base, body.client_id as string, other), { redirect: 'manual' })
      t.equal(res.status, 400, `${other} is not the registered URI`)
    }
  })

  t.test('a code\'s redirect_uri at /token must be the one it was issued for', async (t) => {
    const { body } = await register(gw, ['http://127.0.0.1:4000/a', 'http://127.0.0.1:4000/b'])
    const clientId = body.client_id as string
    const back = await approve(authorizeUrl(gw.base, clientId, 'http://127.0.0.1:4000/a'))
    const res = await postForm(`${gw.base}/token`, { grant_type: 'authorization_code', code: back.searchParams.get('code')!, code_verifier: VERIFIER, redirect_uri: 'http://127.0.0.1:4000/b', client_id: clientId })
    t.equal(res.status, 400)
    t.equal((await res.json() as { error: string }).error, 'invalid_grant')
  })
})

t.test('redirect URIs in client metadata documents follow the same rule', async (t) => {
  const redirects: Record<string, string[]> = {
    '/chrome.json': ['chrome://settings/'],
    '/view-source.json': ['view-source:https://evil.example/'],
    '/msdt.json': ['ms-msdt:/id'],
    '/javascript.json': ['javascript:alert(1)'],
    '/plain-http.json': ['http://evil.example/cb'],
    '/odd.json': ['https:client.example/cb']
  }
  const server = createServer((req, res) => {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const uris = redirects[req.url ?? '']
    if (!uris) { res.statusCode = 404; res.end(); return }
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ client_id: `${base}${req.url}`, client_name: 'doc', redirect_uris: uris }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }))
  const docs = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const gw = await startGateway(t, { auth: true })

  for (const [path, [uri]] of Object.entries(redirects)) {
    if (path === '/odd.json') continue
    const res = await fetch(authorizeUrl(gw.base, `${docs}${path}`, uri), { redirect: 'manual' })
    t.equal(res.status, 400, `${path}: refused`)
    t.notOk(res.headers.get('location'), `${path}: nothing is sent to ${uri}`)
  }
  const odd = await fetch(authorizeUrl(gw.base, `${docs}/odd.json`, 'https://client.example/cb'), { redirect: 'manual' })
  t.equal(odd.status, 200, 'a document\'s https:client.example/cb is https://client.example/cb')
  t.match(await odd.text(), '<code>https://client.example/cb</code>')
})
