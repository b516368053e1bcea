import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { echoFixture, postMcp, startGateway } from '../helpers.js'

/** An external authorization server: only its discovery document and JWKS, on loopback. */
async function startIssuer (t: Test): Promise<{ issuer: string, sign: (claims: Record<string, unknown>, key?: CryptoKey) => Promise<string> }> {
  const { privateKey, publicKey } = await generateKeyPair('RS256')
  const jwk = { ...await exportJWK(publicKey), kid: 'k1', alg: 'RS256', use: 'sig' }
  const server = createServer((req, res) => {
    const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    res.setHeader('content-type', 'application/json')
    if (req.url === '/.well-known/openid-configuration') res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/keys` }))
    else if (req.url === '/keys') res.end(JSON.stringify({ keys: [jwk] }))
    else { res.statusCode = 404; res.end('{}') }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }))
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    issuer,
    sign: (claims, key = privateKey) => new SignJWT({ iss: issuer, sub: 'user-1', ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'at+jwt' })
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(key)
  }
}

const servers = () => ({ alpha: echoFixture('alpha', {}, { tags: ['a'] }), beta: echoFixture('beta', {}, { tags: ['b'] }) })

t.test('external issuer: the gateway trusts its JWTs and issues none', async (t) => {
  const idp = await startIssuer(t)
  const gw = await startGateway(t, { config: { mcpServers: servers() }, auth: { passphraseHash: undefined, external: { issuer: idp.issuer } } })
  const aud = `${gw.base}/mcp`

  const prm = await (await fetch(`${gw.base}/.well-known/oauth-protected-resource/mcp`)).json()
  t.same(prm.authorization_servers, [idp.issuer], 'the metadata points clients at the external issuer')
  t.equal((await fetch(`${gw.base}/.well-known/oauth-authorization-server`)).status, 404, 'no authorization server here')
  t.equal((await fetch(`${gw.base}/authorize`)).status, 404)
  t.equal((await fetch(`${gw.base}/token`, { method: 'POST' })).status, 404)

  const token = await idp.sign({ aud, scope: 'mcp', client_id: 'ext-client' })
  const client = new Client({ name: 'external', version: '1.0.0' })
  const transport = new StreamableHTTPClientTransport(gw.url, { requestInit: { headers: { authorization: `Bearer ${token}` } } })
  await client.connect(transport)
  t.teardown(() => client.close())
  const names = (await client.listTools()).tools.map((tool) => tool.name)
  t.ok(names.includes('alpha_1mcp_echo') && names.includes('beta_1mcp_echo'))
  t.match(gw.logs.audits('access').find((e) => e.outcome === 'allowed'), { subject: 'user-1', clientId: 'ext-client' })

  const entra = await idp.sign({ aud, scp: ['tag:b'], azp: 'entra-app' })
  const narrow = new Client({ name: 'entra', version: '1.0.0' })
  const narrowTransport = new StreamableHTTPClientTransport(gw.url, { requestInit: { headers: { authorization: `Bearer ${entra}` } } })
  await narrow.connect(narrowTransport)
  t.teardown(() => narrow.close())
  const listed = (await narrow.listTools()).tools.map((tool) => tool.name)
  t.ok(listed.length > 0 && listed.every((n) => n.startsWith('beta_')), 'an `scp` array (Entra ID) narrows by tag too')

  const other = await generateKeyPair('RS256')
  const cases: Array<[string, string, number]> = [
    ['another audience', await idp.sign({ aud: 'https://other.example/mcp', scope: 'mcp' }), 401],
    ['another issuer', await idp.sign({ aud, scope: 'mcp', iss: 'https://evil.example' }), 401],
    ['another key', await idp.sign({ aud, scope: 'mcp' }, other.privateKey), 401],
    ['no MCP scope', await idp.sign({ aud, scope: 'openid profile' }), 403]
  ]
  for (const [name, bad, status] of cases) t.equal((await postMcp(gw.url, { token: bad })).status, status, name)
})

t.test('external issuer with a configured audience and JWKS URL', async (t) => {
  const idp = await startIssuer(t)
  const gw = await startGateway(t, {
    config: { mcpServers: servers() },
    auth: { passphraseHash: undefined, external: { issuer: idp.issuer, jwksUrl: `${idp.issuer}/keys`, audience: ['api://1mcp'] } }
  })
  t.equal((await postMcp(gw.url, { token: await idp.sign({ aud: 'api://1mcp', scope: 'tag:a' }) })).status, 200)
  t.equal((await postMcp(gw.url, { token: await idp.sign({ aud: `${gw.base}/mcp`, scope: 'mcp' }) })).status, 401, 'only the configured audience counts')
})

t.test('external issuer and passphrase cannot be combined', async (t) => {
  await t.rejects(startGateway(t, { config: { mcpServers: {} }, auth: { external: { issuer: 'https://idp.example' } } }), /cannot both be set/)
})
