import { watch, type FSWatcher } from 'node:fs'
import { mkdir, readdir, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { createExclusive } from './shared-dir.js'

/** How often the revocation list is read again even when no change was seen: well within the 5 s promised. */
const RESCAN_MS = 1000

/**
 * The revoked refresh-token families, as every instance sharing the data dir sees them: one empty
 * marker file per family under `revoked/` (made once, never rewritten, so no write can undo one).
 * The request path asks `has`, a Set lookup; the Set follows the folder in the background (a watch
 * of the folder, and a rescan every second for file systems whose watch misses changes).
 */
export class Revocations {
  private readonly ids = new Set<string>()
  private watcher?: FSWatcher
  private timer?: NodeJS.Timeout
  private scanning?: Promise<void>
  private again = false

  constructor (private readonly dir: string, private readonly isId: (name: string) => boolean) {}

  has (familyId: string): boolean {
    return this.ids.has(familyId)
  }

  /** Records a revocation, for this instance at once and for the others through the folder. */
  async add (familyId: string): Promise<void> {
    this.ids.add(familyId)
    await createExclusive(join(this.dir, familyId), '')
  }

  /** Forgets a revocation whose family expired (its tokens expired with it). */
  async drop (familyId: string): Promise<void> {
    this.ids.delete(familyId)
    await unlink(join(this.dir, familyId)).catch(() => {})
  }

  /** Reads the folder once, then follows it until `close`. */
  async follow (): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    await this.scan()
    try {
      this.watcher = watch(this.dir, () => { this.scan().catch(() => {}) })
      this.watcher.on('error', () => {})
      this.watcher.unref()
    } catch {}
    this.timer = setInterval(() => { this.scan().catch(() => {}) }, RESCAN_MS)
    this.timer.unref()
  }

  /** Reads the folder; asked again while a read runs, it reads once more after it (never more in parallel). */
  scan (): Promise<void> {
    if (this.scanning) {
      this.again = true
      return this.scanning
    }
    this.scanning = (async () => {
      do {
        this.again = false
        for (const name of await readdir(this.dir)) if (this.isId(name)) this.ids.add(name)
      } while (this.again)
    })().finally(() => { this.scanning = undefined })
    return this.scanning
  }

  close (): void {
    this.watcher?.close()
    clearInterval(this.timer)
  }
}
