import t from 'tap'
import { echoFixture, initializeRequest, postMcp, startGateway } from '../helpers.js'
import { forgeToken } from '../auth-helpers.js'

t.test('a session is bound to the token\'s subject, client and scopes', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: { alpha: echoFixture('alpha', {}, { tags: ['a'] }) } } })
  const claims = { iss: gw.base, aud: `${gw.base}/mcp`, sub: 'owner', client_id: 'c1', scope: 'mcp' }
  const post = (token: string, body: unknown, session?: string) => postMcp(gw.url, { token, body, session })
  const init = initializeRequest('2025-11-25', 'x')
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
