import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { buildApp } from '../../app.js'
import { canWrite, postForm, testPassphraseHash } from '../auth-helpers.js'
import { tempDir } from '../helpers.js'

// Issue 17, item 1: bad data under auth.dataDir fails the boot with one line naming the file, the
// cause and the fix (server.ts exits non-zero on any rejection of buildApp).

async function boot (dataDir: string, auth: Record<string, unknown> = {}) {
  const settings = Object.fromEntries(Object.entries({ dataDir, passphraseHash: await testPassphraseHash(), ...auth }).filter(([, v]) => v !== undefined))
  return buildApp({ logger: false, config: { mcpServers: {}, auth: settings } })
}

async function refusesToBoot (t: Test, dataDir: string, message: string, auth: Record<string, unknown> = {}): Promise<void> {
  const err = await boot(dataDir, auth).then(async (app) => { await app.close(); return undefined }, (e: Error) => e)
  t.ok(err, 'buildApp rejects')
  t.equal(err?.message, message)
  t.notMatch(err?.message ?? '', /\n/, 'one line')
}

const KEY_FIX = 'delete it to create a new one (issued tokens become invalid)'

t.test('a bad signing key', async (t) => {
  for (const [cause, text] of [['is empty', ''], ['is not valid JSON', '{"kid": '], ['is not in the expected shape ({ kid, privateJwk } with a private key)', '{}'], ['does not hold an ES256 private key', '{"kid":"k","privateJwk":{"kty":"EC","crv":"P-256","d":"AAAA","x":"AAAA","y":"AAAA"}}']]) {
    const dataDir = await tempDir(t)
    const path = join(dataDir, 'signing-key.json')
    await writeFile(path, text, { mode: 0o600 })
    await refusesToBoot(t, dataDir, `signing key ${path} ${cause}: ${KEY_FIX}`)
  }
})

t.test('a data dir that is a file', async (t) => {
  const parent = await tempDir(t)
  const file = join(parent, 'data')
  await writeFile(file, 'not a folder')
  await refusesToBoot(t, file, `data dir ${file} is not a directory (a file is in the way): remove that file or point auth.dataDir at a directory`)
  await refusesToBoot(t, join(file, 'below'), `data dir ${join(file, 'below')} is not a directory (a file is in the way): remove that file or point auth.dataDir at a directory`)
})

t.test('an unwritable data dir', async (t) => {
  // a 0500 folder; root writes there anyway, so for root a sysfs folder, which nobody may write
  let dataDir = await tempDir(t)
  await chmod(dataDir, 0o500)
  t.teardown(() => chmod(dataDir, 0o700).catch(() => {}))
  if (await canWrite(dataDir)) dataDir = '/sys'
  t.notOk(await canWrite(dataDir), `${dataDir} cannot be written by this process`)
  const err = await boot(dataDir).then(async (app) => { await app.close(); return undefined }, (e: Error) => e)
  t.match(err?.message, new RegExp(`^data dir ${dataDir} is not writable \\((EACCES|EPERM|EROFS)\\): make it writable for the user the gateway runs as, or point auth.dataDir elsewhere$`))
})

t.test('badly shaped client and refresh-token stores', async (t) => {
  const clientsDir = await tempDir(t)
  const clients = join(clientsDir, 'clients.json')
  await writeFile(clients, JSON.stringify({ clients: { not: 'a list' } }), { mode: 0o600 })
  await refusesToBoot(t, clientsDir, `client registrations ${clients} is not in the expected shape (clients: a list of records): fix it or delete it (registered clients must register again)`)

  const familiesDir = await tempDir(t)
  const families = join(familiesDir, 'refresh-families.json')
  await writeFile(families, '[1, 2', { mode: 0o600 })
  await refusesToBoot(t, familiesDir, `refresh-token grants ${families} is not valid JSON: fix it or delete it (every client must log in again)`)

  const oneDir = await tempDir(t)
  await mkdir(join(oneDir, 'clients'), { mode: 0o700 })
  const one = join(oneDir, 'clients', '0b6f2b52-8d0e-4d8c-9d5e-0d6a2c9d1e01.json')
  await writeFile(one, JSON.stringify({ client_id: 'x' }), { mode: 0o600 })
  await refusesToBoot(t, oneDir, `client registration ${one} is not a client record: delete it (that client must register again)`)
})

t.test('a bad owner passphrase', async (t) => {
  const dataDir = await tempDir(t)
  const owner = join(dataDir, 'owner.json')
  await writeFile(owner, JSON.stringify({ passphraseHash: 'scrypt$1$1$1$x$y' }), { mode: 0o600 })
  await refusesToBoot(t, dataDir, `owner passphrase file ${owner} does not hold a passphrase hash ({ "passphraseHash": "scrypt$…" }): delete it to generate a new passphrase at the next start (shown once)`, { passphraseHash: undefined })
  await refusesToBoot(t, await tempDir(t), 'auth.passphraseHash is not a hash made by hashPassphrase (scrypt$N$r$p$salt$hash): make one as the README shows, or remove it to have one generated', { passphraseHash: 'scrypt$3$1$1$aaaaaaaaaaaaaaaaaaaa$bbbbbbbbbbbbbbbbbbbb' })
})

t.test('a clients.json of the first layout is moved into one file per client, once', async (t) => {
  const dataDir = await tempDir(t)
  const id = '3d2c1b0a-9f8e-4d7c-8b6a-5e4d3c2b1a00'
  const client = { client_id: id, redirect_uris: ['http://127.0.0.1:9/cb'], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none', client_id_issued_at: Math.floor(Date.now() / 1000), source: 'registration' }
  await writeFile(join(dataDir, 'clients.json'), JSON.stringify({ clients: [client] }), { mode: 0o600 })
  const app = await boot(dataDir)
  t.teardown(() => app.close())
  t.notOk((await readdir(dataDir)).includes('clients.json'), 'the old file is gone')
  t.same(JSON.parse(await readFile(join(dataDir, 'clients', `${id}.json`), 'utf8')), client, 'its client has a file of its own')
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const res = await postForm(`http://127.0.0.1:${port}/token`, { grant_type: 'authorization_code', client_id: id, code: 'never-issued' })
  t.same({ status: res.status, body: await res.json() }, { status: 400, body: { error: 'invalid_grant', error_description: 'the authorization code is invalid or expired' } }, 'the migrated client is known')
})
