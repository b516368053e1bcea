import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { FETCH_FAILED, fetchClientMetadata, isNonPublicAddress } from '../../auth/client-metadata.js'
import { s256 } from '../../auth/pkce.js'
import { approve, postForm } from '../auth-helpers.js'
import { postMcp, startGateway } from '../helpers.js'

/** Serves client metadata documents on loopback: path → body (a function gets the server's base). */
async function serveDocs (t: Test, docs: Record<string, (base: string) => unknown>): Promise<string> {
  const server = createServer((req, res) => {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const doc = docs[req.url ?? '']
    if (!doc) { res.statusCode = 404; res.end(); return }
    res.setHeader('content-type', 'application/json')
    const body = doc(base)
    res.end(typeof body === 'string' ? body : JSON.stringify(body))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

t.test('non-public addresses are recognised', async (t) => {
  for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', 'not-an-ip']) {
    t.equal(isNonPublicAddress(a), true, a)
  }
  for (const a of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) t.equal(isNonPublicAddress(a), false, a)
})

t.test('SSRF guards when the gateway is not on loopback', async (t) => {
  const policy = { allowLoopback: false }
  await t.rejects(fetchClientMetadata('http://example.com/client.json', policy), /must use https/)
  const refused = { message: FETCH_FAILED, detail: /refused without connecting/ }
  await t.rejects(fetchClientMetadata('https://127.0.0.1/client.json', policy), refused)
  await t.rejects(fetchClientMetadata('https://localhost/client.json', policy), refused)
  await t.rejects(fetchClientMetadata('https://[::1]/client.json', policy), refused)
  await t.rejects(fetchClientMetadata('https://[::ffff:a00:1]/client.json', policy), refused, 'an IPv4-mapped private address in hex form')
  await t.rejects(fetchClientMetadata('https://example.com/', policy), /must have a path/)
  await t.rejects(fetchClientMetadata('https://user:pw@example.com/c.json', policy), /credentials/)
})

t.test('document checks: size, self-naming, no secrets', async (t) => {
  const base = await serveDocs(t, {
    '/big.json': (b) => ({ client_id: `${b}/big.json`, redirect_uris: ['http://127.0.0.1:9/cb'], pad: 'x'.repeat(6000) }),
    '/liar.json': () => ({ client_id: 'https://other.example/c.json', redirect_uris: ['http://127.0.0.1:9/cb'] }),
    '/secret.json': (b) => ({ client_id: `${b}/secret.json`, redirect_uris: ['http://127.0.0.1:9/cb'], client_secret: 'x' }),
    '/good.json': (b) => ({ client_id: `${b}/good.json`, client_name: 'Doc Client', redirect_uris: ['http://127.0.0.1:9/cb'] })
  })
  const policy = { allowLoopback: true }
  await t.rejects(fetchClientMetadata(`${base}/big.json`, policy), { message: FETCH_FAILED, detail: /larger than/ })
  await t.rejects(fetchClientMetadata(`${base}/liar.json`, policy), /another client_id/)
  await t.rejects(fetchClientMetadata(`${base}/secret.json`, policy), /client secret/)
  await t.rejects(fetchClientMetadata(`${base}/missing.json`, policy), { message: FETCH_FAILED, detail: /answered 404/ })
  const doc = await fetchClientMetadata(`${base}/good.json`, policy)
  t.equal(doc.client_name, 'Doc Client')
})

t.test('a client identified by its metadata document URL gets tokens (gateway on loopback: development)', async (t) => {
  const redirect = 'http://127.0.0.1:9/cb'
  const docBase = await serveDocs(t, {
    '/client.json': (b) => ({ client_id: `${b}/client.json`, client_name: 'Document Client', redirect_uris: [redirect] })
  })
  const clientId = `${docBase}/client.json`
  const gw = await startGateway(t, { auth: true, config: { mcpServers: {} } })
  const verifier = 'v'.repeat(50)
  const url = new URL(`${gw.base}/authorize`)
  for (const [k, v] of Object.entries({ response_type: 'code', client_id: clientId, redirect_uri: redirect, code_challenge: s256(verifier), code_challenge_method: 'S256', state: 's1', scope: 'mcp', resource: `${gw.base}/mcp` })) url.searchParams.set(k, v)
  const page = await (await fetch(url)).text()
  t.match(page, /Document Client/, 'the consent flow names the client from its document')
  const back = await approve(url)
  t.equal(back.searchParams.get('state'), 's1')
  const res = await postForm(`${gw.base}/token`, { grant_type: 'authorization_code', code: back.searchParams.get('code')!, code_verifier: verifier, redirect_uri: redirect, client_id: clientId })
  t.equal(res.status, 200)
  const tokens = await res.json()
  t.equal((await postMcp(gw.url, { token: tokens.access_token })).status, 200)

  const wrongRedirect = new URL(url)
  wrongRedirect.searchParams.set('redirect_uri', 'http://127.0.0.1:9/other')
  t.equal((await fetch(wrongRedirect, { redirect: 'manual' })).status, 400, 'redirect URIs come from the document, matched exactly')
})
