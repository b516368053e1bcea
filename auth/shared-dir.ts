import { link, mkdir, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import lockfile from 'proper-lockfile'
import { OAuthError } from './errors.js'
import { writeTempBeside } from './files.js'

// What makes one data dir safe to share between gateway instances (processes, on one host or one
// shared file system): a lock across processes for read-modify-write, and create-if-absent for the
// files made once (signing key, passphrase, state key). See docs/authentication.md, "Several instances".

/** A lock is stale (its holder died) when its mtime is older than this; the holder refreshes it at half. */
const STALE_MS = 10_000

/**
 * The data dir's cross-process lock (proper-lockfile: an atomic `mkdir` of `<dir>/.lock`), taken for
 * every read-modify-write of a record. Within a process the holders queue on a promise first, so the
 * file lock is only ever contended by other processes. A lock held past the stale time by a dead
 * process is taken over.
 */
export class DirLock {
  private tail: Promise<unknown> = Promise.resolve()
  constructor (private readonly dir: string) {}

  run<T> (critical: () => Promise<T>): Promise<T> {
    const next = this.tail.catch(() => {}).then(async () => {
      await mkdir(this.dir, { recursive: true, mode: 0o700 })
      const release = await lockfile.lock(this.dir, {
        lockfilePath: join(this.dir, '.lock'),
        realpath: false,
        stale: STALE_MS,
        // about 15 s of waiting: past the stale time, so a dead holder's lock is taken over first
        retries: { retries: 600, minTimeout: 2, maxTimeout: 25, factor: 1.3 },
        // another process took the lock over as stale: every write re-reads under the lock, so the
        // worst case is one write racing another; nothing to throw at (the default throws in a timer)
        onCompromised: () => {}
      }).catch(() => {
        throw new OAuthError('temporarily_unavailable', 'the authorization data is busy (its lock is held by another instance); try again', 503)
      })
      try {
        return await critical()
      } finally {
        await release().catch(() => {})
      }
    })
    this.tail = next
    return next
  }
}

/**
 * Creates `path` with `text` unless it exists, atomically: the content goes to a temp file first
 * (fsynced), then a hard link names it, which fails when the name is taken. So concurrent creators
 * agree on one content: the loser gets false and reads the winner's file, which is whole by then.
 */
export async function createExclusive (path: string, text: string): Promise<boolean> {
  const temp = await writeTempBeside(path, text, 0o600, 0o700)
  try {
    await link(temp, path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  } finally {
    await unlink(temp).catch(() => {})
  }
}

/** `createExclusive` for a JSON file of the data dir. */
export function createJsonExclusive (path: string, value: unknown): Promise<boolean> {
  return createExclusive(path, JSON.stringify(value, null, 2) + '\n')
}
