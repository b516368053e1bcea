import { mkdir, readdir, readFile, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { Sealer } from '../../auth/sealed.js'
import { createJsonExclusive } from '../../auth/shared-dir.js'
import { AuthStore } from '../../auth/store.js'
import { UsedCodes } from '../../auth/used-codes.js'
import { tempDir } from '../helpers.js'

// Issue 20, item 3: the parts that let instances share a data dir (docs/authentication.md, "Several
// instances"); test/auth/auth-instances.test.ts runs them in three real processes.

t.test('sealed state opens only as sealed: not altered, not under another purpose, not under another key', async (t) => {
  const dir = await tempDir(t)
  const sealer = await Sealer.open(join(dir, 'state-key.json'))
  const again = await Sealer.open(join(dir, 'state-key.json'))
  const other = await Sealer.open(join(await tempDir(t), 'state-key.json'))
  const sealed = sealer.seal('code', { clientId: 'c', expiresAt: 1 })
  t.same(again.open('code', sealed), { clientId: 'c', expiresAt: 1 }, 'an instance reading the same key file opens it')
  t.equal(sealer.open('owner-session', sealed), undefined, 'a code does not pass as a login')
  t.equal(other.open('code', sealed), undefined, 'another data dir\'s key does not open it')
  const flipped = Buffer.from(sealed, 'base64url')
  flipped[20] ^= 1
  t.equal(sealer.open('code', flipped.toString('base64url')), undefined, 'one altered bit is refused')
  for (const bad of [undefined, 42, '', 'not base64!', 'A'.repeat(20_000), sealed.slice(0, 20)]) t.equal(sealer.open('code', bad), undefined, `refused: ${String(bad).slice(0, 20)}`)
  t.equal(sealer.mac('consent', 'a', 'b'), again.mac('consent', 'a', 'b'), 'the same MAC on every instance')
  t.not(sealer.mac('consent', 'a', 'b'), sealer.mac('consent', 'a\0b'), 'parts are kept apart')
})

t.test('twenty creators of one file at once: one wins, and the file is the winner\'s whole content', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'once.json')
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => createJsonExclusive(path, { i, pad: 'x'.repeat(10_000) })))
  t.equal(results.filter(Boolean).length, 1, 'exactly one created it')
  const stored = JSON.parse(await readFile(path, 'utf8')) as { i: number }
  t.equal(stored.i, results.indexOf(true), 'the file holds the winner\'s content')
})

t.test('a lock left by a dead instance is taken over, and the change is made', async (t) => {
  const dir = await tempDir(t)
  const store = await AuthStore.open(dir)
  t.teardown(() => store.close())
  const { family } = await store.createFamily({ clientId: 'c', subject: 'owner', scope: 'mcp', audience: 'http://x/mcp' }, 3600)
  // what a killed holder leaves: the lock folder, its mtime no longer refreshed
  await mkdir(join(dir, '.lock'))
  const old = new Date(Date.now() - 60_000)
  await utimes(join(dir, '.lock'), old, old)
  t.equal(await store.revokeFamily(family.id, 'test'), true, 'the revocation went through')
  t.ok(store.isRevoked(family.id))
  const reopened = await AuthStore.open(dir)
  t.teardown(() => reopened.close())
  t.ok(reopened.isRevoked(family.id), 'and is on disk for every instance')
})

t.test('a revocation by one store on the data dir reaches another within 5 s, without a request to it', async (t) => {
  const dir = await tempDir(t)
  const a = await AuthStore.open(dir)
  const b = await AuthStore.open(dir)
  t.teardown(() => { a.close(); b.close() })
  const { family } = await a.createFamily({ clientId: 'c', subject: 'owner', scope: 'mcp', audience: 'http://x/mcp' }, 3600)
  t.notOk(b.isRevoked(family.id))
  await a.revokeFamily(family.id, 'test')
  let seen = false
  for (let i = 0; i < 100 && !seen; i++) {
    seen = b.isRevoked(family.id)
    if (!seen) await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.ok(seen, 'the other store follows the revocation markers')
  t.equal(await b.revokeFamily(family.id, 'again'), false, 'and its file: already revoked, not revoked twice')
})

t.test('a code is claimed once; the claim outlives the code by a minute, then is pruned', async (t) => {
  const dir = await tempDir(t)
  const codes = new UsedCodes(join(dir, 'codes'))
  const expiresAt = Date.now() + 60_000
  t.equal(await codes.claim('the-code', 'family-1', expiresAt), undefined, 'the first claim wins')
  t.same(await codes.claim('the-code', 'family-2', expiresAt), { firstFamily: 'family-1' }, 'a second one learns whose it was')
  await codes.prune(expiresAt + 30_000)
  t.equal((await readdir(join(dir, 'codes'))).length, 1, 'kept until a minute after the code expired')
  await codes.prune(expiresAt + 60_000)
  t.same(await readdir(join(dir, 'codes')), [], 'then deleted')
})

t.test('three stores opening a data dir of the first layout at once move it once, and all three know its client', async (t) => {
  const dir = await tempDir(t)
  const id = '3d2c1b0a-9f8e-4d7c-8b6a-5e4d3c2b1a01'
  const client = { client_id: id, redirect_uris: ['http://127.0.0.1:9/cb'], grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'none', client_id_issued_at: Math.floor(Date.now() / 1000), source: 'registration' }
  await writeFile(join(dir, 'clients.json'), JSON.stringify({ clients: [client] }), { mode: 0o600 })
  const opened = await Promise.allSettled([0, 1, 2].map(() => AuthStore.open(dir)))
  const stores = opened.flatMap((o) => o.status === 'fulfilled' ? [o.value] : [])
  t.teardown(() => { for (const s of stores) s.close() })
  t.same(opened.map((o) => o.status === 'rejected' ? (o.reason as Error).message : 'opened'), ['opened', 'opened', 'opened'])
  for (const store of stores) t.equal((await store.findClient(id))?.client_id, id)
  t.notOk((await readdir(dir)).includes('clients.json'), 'the old file is gone')
})
