import { randomBytes } from 'node:crypto'
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'

/** Reads a JSON file written by `writeJsonAtomic`; undefined when it does not exist yet. */
export async function readJson<T> (path: string): Promise<T | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  try {
    return JSON.parse(text) as T
  } catch (err) {
    throw new Error(`${path} is not valid JSON (${(err as Error).message}); restore it or remove it to start afresh`)
  }
}

/**
 * Writes a JSON file so that a crash leaves either the old or the new content, never a mix:
 * a temp file beside it (mode 0600: these files hold keys and hashes), fsync, then rename.
 */
export async function writeJsonAtomic (path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  const temp = join(dirname(path), `.${randomBytes(6).toString('hex')}.tmp`)
  const handle = await open(temp, 'wx', 0o600)
  try {
    await handle.writeFile(JSON.stringify(value, null, 2) + '\n', 'utf8')
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await rename(temp, path)
  } catch (err) {
    await unlink(temp).catch(() => {})
    throw err
  }
}

/** A JSON file written in order: each save waits for the one before, so the last state wins. */
export class JsonFile<T> {
  private pending: Promise<void> = Promise.resolve()
  constructor (readonly path: string) {}

  read (): Promise<T | undefined> {
    return readJson<T>(this.path)
  }

  save (value: T): Promise<void> {
    const snapshot = JSON.parse(JSON.stringify(value)) as T
    this.pending = this.pending.catch(() => {}).then(() => writeJsonAtomic(this.path, snapshot))
    return this.pending
  }

  /** Resolves once every save so far is on disk. */
  flushed (): Promise<void> {
    return this.pending.catch(() => {})
  }
}
