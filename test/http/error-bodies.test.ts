import t, { type Test } from 'tap'
import { request as httpRequest, STATUS_CODES } from 'node:http'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { HttpErrorBody } from '../../schemas/errors.js'
import { echoFixture, MCP_HEADERS, startGateway } from '../helpers.js'

// Issue 19.4: every HTTP refusal that is not JSON-RPC (the MCP endpoints) nor OAuth (the token
// endpoints) has the one body of schemas/errors.ts, its `error` the status's own reason phrase,
// whichever guard, route or plugin refused.
const body = TypeCompiler.Compile(HttpErrorBody)

/** One request over node:http (fetch may not set Host), its status and JSON body. */
function send (url: string, { method = 'GET', headers = {}, body }: { method?: string, headers?: Record<string, string>, body?: string }): Promise<{ status: number, json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers }, (res) => {
      let text = ''
      res.setEncoding('utf8').on('data', (chunk: string) => { text += chunk }).on('end', () => {
        try { resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }) } catch (err) { reject(err) }
      })
    })
    req.on('error', reject).end(body)
  })
}

async function refusal (t: Test, url: string, init: { method?: string, headers?: Record<string, string>, body?: string }, status: number, code?: string): Promise<void> {
  const { status: got, json } = await send(url, init)
  t.equal(got, status, `${init.method ?? 'GET'} ${url}: status`)
  t.ok(body.Check(json), `${url}: the one error body (${JSON.stringify(json)})`)
  t.equal(json.statusCode, status, 'statusCode is the status')
  t.equal(json.error, STATUS_CODES[status], 'error is the reason phrase of the status')
  if (code) t.equal(json.code, code)
}

t.test('auth off: the host guard, the scope of /mcp and of /sse refuse with one body', async (t) => {
  const gw = await startGateway(t, { config: { mcpServers: { alpha: echoFixture('alpha') } } })
  await refusal(t, `${gw.base}/mcp`, { method: 'POST', headers: { ...MCP_HEADERS, host: 'evil.example' }, body: '{}' }, 403, 'GW_HOST_NOT_ALLOWED')
  await refusal(t, `${gw.base}/mcp`, { method: 'POST', headers: { ...MCP_HEADERS, origin: 'http://evil.example' }, body: '{}' }, 403, 'GW_ORIGIN_NOT_ALLOWED')
  const init = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } })
  await refusal(t, `${gw.base}/mcp/nope`, { method: 'POST', headers: MCP_HEADERS, body: init }, 404)
  await refusal(t, `${gw.base}/mcp?preset=nope`, { method: 'POST', headers: MCP_HEADERS, body: init }, 400)
  await refusal(t, `${gw.base}/sse?preset=nope`, { headers: { accept: 'text/event-stream' } }, 400)
  await refusal(t, `${gw.base}/sse?tag-filter=(`, { headers: { accept: 'text/event-stream' } }, 400)
})

t.test('auth on: the resource server and the metadata routes refuse with the same body', async (t) => {
  const gw = await startGateway(t, { auth: true, config: { mcpServers: { alpha: echoFixture('alpha') } } })
  await refusal(t, `${gw.base}/mcp`, { method: 'POST', headers: MCP_HEADERS, body: '{}' }, 401, 'unauthorized')
  await refusal(t, `${gw.base}/mcp`, { method: 'POST', headers: { ...MCP_HEADERS, authorization: 'Bearer nope' }, body: '{}' }, 401, 'invalid_token')
  await refusal(t, `${gw.base}/.well-known/oauth-protected-resource/not-a-resource`, {}, 404)
})
