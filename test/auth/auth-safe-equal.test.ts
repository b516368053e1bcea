import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { safeEqual } from '../../auth/safe-equal.js'

// Issue 19.3: one timing-safe compare for every secret (hashes, CSRF tokens, PKCE, passphrases).
const ROOT = fileURLToPath(new URL('../..', import.meta.url))

t.test('safeEqual compares strings and bytes', async (t) => {
  t.equal(safeEqual('csrf-token', 'csrf-token'), true, 'equal strings')
  t.equal(safeEqual('csrf-token', 'csrf-tokex'), false, 'same length, different')
  t.equal(safeEqual('csrf', 'csrf-token'), false, 'different lengths (timingSafeEqual would throw)')
  t.equal(safeEqual('', ''), true, 'two empty strings')
  t.equal(safeEqual(Buffer.from([1, 2, 3]), Buffer.from([1, 2, 3])), true, 'equal bytes')
  t.equal(safeEqual(Buffer.from([1, 2, 3]), Buffer.from([1, 2, 4])), false, 'different bytes')
  t.equal(safeEqual('é', Buffer.from('é')), true, 'a string is compared as its UTF-8 bytes')
})

t.test('no other file of ours calls timingSafeEqual', async (t) => {
  const callers: string[] = []
  for (const dir of ['auth', 'plugins', 'routes', 'backends', 'cli', 'schemas', 'mcp']) {
    for (const entry of readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })) {
      if (!entry.endsWith('.ts')) continue
      if (readFileSync(join(ROOT, dir, entry), 'utf8').includes('timingSafeEqual')) callers.push(`${dir}/${entry}`)
    }
  }
  t.same(callers, ['auth/safe-equal.ts'], 'secrets are compared through auth/safe-equal.ts only')
})
