import t from 'tap'
import { echoFixture } from './helpers.js'
import { forgeToken, startAuthGateway } from './auth-helpers.js'

t.test('a session is bound to the token\'s subject, client and scopes', async (t) => {
  const gw = await startAuthGateway(t, { config: { mcpServers: { alpha: echoFixture('alpha', {}, { tags: ['a'] }) } } })
  const claims = { iss: gw.base, aud: `${gw.base}/mcp`, sub: 'owner', client_id: 'c1', scope: 'mcp' }
  const post = (token: string, body: unknown, session?: string) => fetch(gw.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      authorization: `Bearer ${token}`,
      ...(session ? { 'mcp-session-id': session } : {})
    },
    body: JSON.stringify(body)
  })
  const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }
  const ping = { jsonrpc: '2.0', id: 2, method: 'ping' }
  const started = await post(await forgeToken(gw.dataDir, claims), init)
  t.equal(started.status, 200)
  const session = started.headers.get('mcp-session-id')!

  const same = await post(await forgeToken(gw.dataDir, claims), ping, session)
  t.equal(same.status, 200, 'a fresh token for the same grant may use it')
  const otherUser = await post(await forgeToken(gw.dataDir, { ...claims, sub: 'mallory' }), ping, session)
  t.equal(otherUser.status, 404, 'another subject may not')
  const otherClient = await post(await forgeToken(gw.dataDir, { ...claims, client_id: 'c2' }), ping, session)
  t.equal(otherClient.status, 404, 'another client of the same user may not')
  const narrower = await post(await forgeToken(gw.dataDir, { ...claims, scope: 'tag:a' }), ping, session)
  t.equal(narrower.status, 404, 'a token with other scopes may not')
})
