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
 * Writes `text` to `path` so that a crash leaves either the old or the new content, never a mix: a temp
 * file beside it created with `mode`, fsync, then rename over it. Missing folders are made with `dirMode`.
 */
export async function writeFileAtomic (path: string, text: string, { mode = 0o600, dirMode }: { mode?: number, dirMode?: number } = {}): Promise<void> {
  await mkdir(dirname(path), { recursive: true, ...(dirMode === undefined ? {} : { mode: dirMode }) })
  const temp = join(dirname(path), `.${randomBytes(6).toString('hex')}.tmp`)
  const handle = await open(temp, 'wx', mode)
  try {
    await handle.writeFile(text, 'utf8')
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

/** A JSON file of the data directory, written atomically (mode 0600 in a 0700 folder: these files hold keys and hashes). */
export async function writeJsonAtomic (path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n', { mode: 0o600, dirMode: 0o700 })
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
