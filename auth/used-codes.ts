import { readdir, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { readJson } from './files.js'
import { createJsonExclusive } from './shared-dir.js'
import { sha256 } from './rotation.js'

interface Claim { familyId: string, expiresAt: number }
const ROLE = { what: 'used authorization code', fix: 'delete it' }

/**
 * The authorization codes already redeemed, by any instance: one file per code under `codes/`
 * (named by the code's hash), created exclusively, so exactly one redemption of a code wins
 * whichever instance it reaches. Kept until the code would have expired.
 */
export class UsedCodes {
  constructor (private readonly dir: string) {}

  /** Claims a code for the family it buys: undefined when this claim won, else the family of the one that did. */
  async claim (code: string, familyId: string, expiresAt: number): Promise<{ firstFamily: string } | undefined> {
    const path = join(this.dir, `${sha256(code)}.json`)
    if (await createJsonExclusive(path, { familyId, expiresAt } satisfies Claim)) return undefined
    const first = await readJson<Claim>(path, ROLE).catch(() => undefined)
    return { firstFamily: typeof first?.familyId === 'string' ? first.familyId : '' }
  }

  /** Deletes the claims of codes expired a minute ago or more. */
  async prune (now: number): Promise<void> {
    const names = await readdir(this.dir).catch(() => [] as string[])
    for (const name of names.filter((n) => n.endsWith('.json') && !n.startsWith('.'))) {
      const path = join(this.dir, name)
      const claim = await readJson<Claim>(path, ROLE).catch(() => undefined)
      if (!claim || typeof claim.expiresAt !== 'number' || claim.expiresAt + 60_000 <= now) await unlink(path).catch(() => {})
    }
  }
}
