import { createHash, randomBytes } from 'node:crypto'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { verifyPassphrase } from '../../auth/passphrase.js'
import { browser, form, type Browser } from '../auth-helpers.js'
import { postMcp, tempDir } from '../helpers.js'
import { startServe, type ServeProcess } from '../process-helpers.js'

// Issue 20, item 3: three real gateway processes on one auth data dir, behind one public URL (as behind
// a load balancer), each request of a flow sent to another of them. See docs/authentication.md,
// "Several instances".

const EXTERNAL = 'http://gateway.test'
const RESOURCE = `${EXTERNAL}/mcp`
const REDIRECT = 'http://127.0.0.1:9/callback'
const CLIENTS = 6

const dir = await tempDir(t, '1mcp-instances-')
const dataDir = join(dir, 'data')
const configPath = join(dir, 'config.json')
await writeFile(configPath, JSON.stringify({ externalUrl: EXTERNAL, mcpServers: {}, auth: { dataDir } }))

// started at once, on a data dir that does not exist yet
const gateways: ServeProcess[] = [0, 1, 2].map(() => startServe(t, ['--config', configPath, '--port', '0']))
const bases = await Promise.all(gateways.map((g) => g.base()))
const on = (i: number) => bases[i % bases.length]
let passphrase = ''

function hidden (html: string, name: string): string {
  const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(html)
  if (!match) throw new Error(`no ${name} in the page: ${html.slice(0, 300)}`)
  return match[1]
}

async function expectStatus (res: Response, status: number, what: string): Promise<Response> {
  if (res.status !== status) throw new Error(`${what} answered ${res.status}: ${(await res.text()).slice(0, 300)}`)
  return res
}

function tokenRequest (base: string, values: Record<string, string>): Promise<Response> {
  return fetch(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(values), signal: AbortSignal.timeout(10_000) })
}

function authorizeUrl (base: string, clientId: string, verifier: string): string {
  const url = new URL(`${base}/authorize`)
  const query = { response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256', state: 'st', scope: 'mcp', resource: RESOURCE }
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v)
  return url.href
}

/** The owner's login and consent, each step on the next instance: the code the last one redirects with. */
async function ownerApproves (owner: Browser, i: number, clientId: string, verifier: string): Promise<string> {
  const loginPage = await (await expectStatus(await owner.fetch(authorizeUrl(on(i), clientId, verifier)), 200, 'GET /authorize')).text()
  const login = await expectStatus(await owner.fetch(`${on(i + 1)}/authorize/login`, {
    method: 'POST',
    body: form({ request_id: hidden(loginPage, 'request_id'), csrf_token: hidden(loginPage, 'csrf_token'), passphrase })
  }), 303, 'the login')
  const consentPage = await (await expectStatus(await owner.fetch(new URL(login.headers.get('location')!, on(i + 2))), 200, 'GET /authorize/consent')).text()
  const done = await expectStatus(await owner.fetch(`${on(i + 3)}/authorize/consent`, {
    method: 'POST',
    body: form({ request_id: hidden(consentPage, 'request_id'), csrf_token: hidden(consentPage, 'csrf_token'), decision: 'approve', scope: 'mcp' })
  }), 303, 'the consent')
  const code = new URL(done.headers.get('location')!).searchParams.get('code')
  if (!code) throw new Error(`the consent gave no code: ${done.headers.get('location')}`)
  return code
}

interface Outcome { clientId: string, familyId: string, accessToken: string, refreshToken: string, revoked: boolean, how: string }

/**
 * One client's life, each request on another instance: it registers, the owner approves, the code is
 * exchanged (and, for one client, replayed), the refresh token rotated twice; then one in three reuses an
 * old refresh token, one in three revokes its grant, one in three stays live.
 */
async function clientLife (i: number): Promise<Outcome> {
  const registered = await expectStatus(await fetch(`${on(i)}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: `client ${i}`, redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' })
  }), 201, 'registration')
  const { client_id: clientId } = await registered.json() as { client_id: string }
  const verifier = randomBytes(32).toString('base64url')
  const code = await ownerApproves(browser(), i + 1, clientId, verifier)
  const exchange = { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT, client_id: clientId, resource: RESOURCE }
  const first = await (await expectStatus(await tokenRequest(on(i + 2), exchange), 200, 'the code exchange')).json() as { access_token: string, refresh_token: string }
  const familyId = first.refresh_token.split('.')[0]
  let { access_token: accessToken, refresh_token: refreshToken } = first
  if (i === CLIENTS - 1) {
    const replay = await tokenRequest(on(i + 3), exchange)
    if (replay.status !== 400) throw new Error(`a replayed code answered ${replay.status} on another instance`)
    return { clientId, familyId, accessToken, refreshToken, revoked: true, how: 'code replayed' }
  }
  const rotated: string[] = [refreshToken]
  for (const step of [0, 1]) {
    const next = await (await expectStatus(await tokenRequest(on(i + step), { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId }), 200, 'a refresh')).json() as { access_token: string, refresh_token: string }
    accessToken = next.access_token
    refreshToken = next.refresh_token
    rotated.push(refreshToken)
  }
  if (i % 3 === 0) {
    // the first refresh token again, on the instance that did not rotate it: reuse, the grant is revoked
    const reuse = await tokenRequest(on(i + 2), { grant_type: 'refresh_token', refresh_token: rotated[0], client_id: clientId })
    if (reuse.status !== 400) throw new Error(`a reused refresh token answered ${reuse.status}`)
    return { clientId, familyId, accessToken, refreshToken, revoked: true, how: 'refresh token reused' }
  }
  if (i % 3 === 1) {
    await expectStatus(await fetch(`${on(i + 2)}/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: accessToken, client_id: clientId }) }), 200, 'the revocation')
    return { clientId, familyId, accessToken, refreshToken, revoked: true, how: 'revoked by the client' }
  }
  return { clientId, familyId, accessToken, refreshToken, revoked: false, how: 'live' }
}

/** The MCP status each instance answers a token with, polled until all are `want` (at most `ms`). */
async function statusesOn (token: string, want: number, ms: number): Promise<number[]> {
  const deadline = Date.now() + ms
  let statuses: number[] = []
  for (let round = 0; round < 200; round++) {
    statuses = await Promise.all(bases.map(async (base) => (await postMcp(`${base}/mcp`, { token })).status))
    if (statuses.every((s) => s === want) || Date.now() > deadline) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return statuses
}

t.test('three instances started at once on a new data dir agree on one signing key and one passphrase', async (t) => {
  const jwks = await Promise.all(bases.map(async (base) => (await (await fetch(`${base}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> }))
  t.same(new Set(jwks.map((j) => j.keys.map((k) => k.kid).join(','))).size, 1, 'every instance publishes the same key')
  const announced = gateways.map((g) => /1MCP owner passphrase[^\n]*\n\n\s+(\S+)/.exec(g.stderr())?.[1]).filter((p) => p !== undefined)
  t.equal(announced.length, 1, 'one instance generated and showed a passphrase; the others use it')
  passphrase = announced[0] ?? ''
  const stored = JSON.parse(await readFile(join(dataDir, 'owner.json'), 'utf8')) as { passphraseHash: string }
  t.ok(await verifyPassphrase(passphrase, stored.passphraseHash), 'the passphrase shown is the one kept')
})

t.test('registrations, code flows, rotations and revocations spread over three instances at once', async (t) => {
  const outcomes = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => clientLife(i)))
  t.equal(outcomes.filter((o) => o.revoked).length, 5, 'five grants ended (reuse, revocation, code replay), one is live')

  for (const o of outcomes) {
    const want = o.revoked ? 401 : 200
    t.same(await statusesOn(o.accessToken, want, 5000), [want, want, want], `${o.how}: every instance answers ${want} to the latest access token within 5 s`)
  }

  for (const o of outcomes) {
    // every instance knows every client: /authorize shows the login page, not "unknown client_id"
    const pages = await Promise.all(bases.map(async (base) => (await fetch(authorizeUrl(base, o.clientId, 'v'.repeat(43)))).status))
    t.same(pages, [200, 200, 200], `client ${o.clientId} is known to every instance`)
  }

  for (const o of outcomes.filter((o) => o.revoked)) {
    const answers = await Promise.all(bases.map(async (base) => (await tokenRequest(base, { grant_type: 'refresh_token', refresh_token: o.refreshToken, client_id: o.clientId })).json() as Promise<{ error?: string }>))
    t.same(answers.map((a) => a.error), ['invalid_grant', 'invalid_grant', 'invalid_grant'], `${o.how}: its latest refresh token is refused by every instance`)
  }

  // the files: no write of one instance undid another's
  const clients = (await readdir(join(dataDir, 'clients'))).filter((n) => n.endsWith('.json'))
  t.same(clients.sort(), outcomes.map((o) => `${o.clientId}.json`).sort(), 'every registration is on disk, none lost')
  for (const o of outcomes) {
    const family = JSON.parse(await readFile(join(dataDir, 'families', `${o.familyId}.json`), 'utf8')) as { revokedAt?: number, clientId: string }
    t.equal(family.clientId, o.clientId)
    t.equal(family.revokedAt !== undefined, o.revoked, `${o.how}: the grant's file says ${o.revoked ? 'revoked' : 'live'}`)
  }
})

t.test('one refresh token presented to two instances at once rotates once: the other is refused and the grant revoked', async (t) => {
  const registered = await (await expectStatus(await fetch(`${on(0)}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ client_name: 'racer', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' }) }), 201, 'registration')).json() as { client_id: string }
  const verifier = randomBytes(32).toString('base64url')
  const code = await ownerApproves(browser(), 0, registered.client_id, verifier)
  const first = await (await expectStatus(await tokenRequest(on(1), { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT, client_id: registered.client_id, resource: RESOURCE }), 200, 'the exchange')).json() as { access_token: string, refresh_token: string }
  const answers = await Promise.all(bases.map((base) => tokenRequest(base, { grant_type: 'refresh_token', refresh_token: first.refresh_token, client_id: registered.client_id })))
  const statuses = answers.map((a) => a.status).sort()
  t.same(statuses, [200, 400, 400], 'one instance rotated the token; the two others saw it used')
  const issued = await answers.find((a) => a.status === 200)!.json() as { access_token: string, refresh_token: string }
  t.same(await statusesOn(issued.access_token, 401, 5000), [401, 401, 401], 'the fork was caught: the grant is revoked on every instance, the winner\'s new token too')
  const again = await tokenRequest(on(2), { grant_type: 'refresh_token', refresh_token: issued.refresh_token, client_id: registered.client_id })
  t.equal(again.status, 400, 'and its next refresh token is refused')
})
