import { randomBytes } from 'node:crypto'
import { mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'

/** What a file of the data dir holds and what to do when it is bad: the two halves of its error. */
export interface DataFileRole {
  /** e.g. "signing key" */
  what: string
  /** e.g. "delete it to create a new one (issued tokens become invalid)" */
  fix: string
}

/** The one-line error of a bad data file: what it is, where, what is wrong, and the fix. */
export function dataFileError (role: DataFileRole, path: string, cause: string): Error {
  return new Error(`${role.what} ${path} ${cause}: ${role.fix}`)
}

function errorCode (err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message
}

/** Reads a JSON file written by `writeJsonAtomic`; undefined when it does not exist yet. */
export async function readJson<T> (path: string, role: DataFileRole): Promise<T | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw dataFileError(role, path, `cannot be read (${errorCode(err)})`)
  }
  if (text.trim() === '') throw dataFileError(role, path, 'is empty')
  try {
    return JSON.parse(text) as T
  } catch {
    throw dataFileError(role, path, 'is not valid JSON')
  }
}

/** Reads a JSON file and checks its shape; undefined when it does not exist yet. */
export async function readChecked<T> (path: string, role: DataFileRole, valid: (value: unknown) => value is T, shape: string): Promise<T | undefined> {
  const value = await readJson<unknown>(path, role)
  if (value === undefined) return undefined
  if (!valid(value)) throw dataFileError(role, path, `is not ${shape}`)
  return value
}

/**
 * Writes `text`, synced to disk, to a new temporary file beside `path` (its folder made if need be) and
 * returns the temporary file's path, for the caller to rename or link into place.
 */
export async function writeTempBeside (path: string, text: string, mode = 0o600, dirMode?: number): Promise<string> {
  await mkdir(dirname(path), { recursive: true, ...(dirMode === undefined ? {} : { mode: dirMode }) })
  const temp = join(dirname(path), `.${randomBytes(6).toString('hex')}.tmp`)
  const handle = await open(temp, 'wx', mode)
  try {
    await handle.writeFile(text, 'utf8')
    await handle.sync()
  } finally {
    await handle.close()
  }
  return temp
}
/**
 * Writes `text` to `path` so that a crash leaves either the old or the new content, never a mix: a temp
 * file beside it created with `mode`, fsync, then rename over it. Missing folders are made with `dirMode`.
 */
export async function writeFileAtomic (path: string, text: string, { mode = 0o600, dirMode }: { mode?: number, dirMode?: number } = {}): Promise<void> {
  const temp = await writeTempBeside(path, text, mode, dirMode)
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

/** Registered clients and families have UUIDs: safe as file names, and nothing else is looked up on disk. */
export const RECORD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/**
 * A folder of small JSON records, one file per id (`<id>.json`), each written atomically: a change
 * rewrites one record, never all of them, and writers of different records never lose each other's
 * writes. Writes to one id happen in order.
 */
export class RecordDir<T> {
  private readonly pending = new Map<string, Promise<void>>()

  constructor (readonly dir: string, private readonly role: DataFileRole, private readonly valid: (value: unknown) => value is T, private readonly shape: string) {}

  path (id: string): string {
    return join(this.dir, `${id}.json`)
  }

  /** Every record of the folder (none when it does not exist yet); temp files are skipped. */
  async readAll (): Promise<T[]> {
    let names: string[]
    try {
      names = await readdir(this.dir)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw dataFileError(this.role, this.dir, `cannot be read (${errorCode(err)})`)
    }
    const records: T[] = []
    for (const name of names.filter((n) => n.endsWith('.json') && !n.startsWith('.'))) {
      const record = await readChecked(join(this.dir, name), this.role, this.valid, this.shape)
      if (record !== undefined) records.push(record)
    }
    return records
  }

  read (id: string): Promise<T | undefined> {
    return readChecked(this.path(id), this.role, this.valid, this.shape)
  }

  save (id: string, value: T): Promise<void> {
    const text = JSON.stringify(value, null, 2) + '\n'
    return this.queue(id, () => writeFileAtomic(this.path(id), text, { mode: 0o600, dirMode: 0o700 }))
  }

  remove (id: string): Promise<void> {
    return this.queue(id, () => unlink(this.path(id)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err
    }))
  }

  private queue (id: string, write: () => Promise<void>): Promise<void> {
    const next = (this.pending.get(id) ?? Promise.resolve()).catch(() => {}).then(write)
    this.pending.set(id, next)
    const settled = () => { if (this.pending.get(id) === next) this.pending.delete(id) }
    next.then(settled, settled)
    return next
  }

  /** Resolves once every write so far is on disk (or failed). */
  async flushed (): Promise<void> {
    await Promise.all([...this.pending.values()].map((p) => p.catch(() => {})))
  }
}

/** What a data dir must be, and the fix when it is not. */
const DATA_DIR: DataFileRole = { what: 'data dir', fix: 'point auth.dataDir at a directory the gateway may write, or fix this one' }

function dataDirError (dir: string, cause: string, fix = DATA_DIR.fix): Error {
  return dataFileError({ ...DATA_DIR, fix }, dir, cause)
}

/**
 * Makes sure the data dir is a directory the gateway can write and no other user can: it holds the
 * signing key and the client secrets' hashes, and a folder any user may write lets anyone plant a key
 * of their own. Created with mode 0700 when missing. Throws one clear line otherwise.
 */
export async function prepareDataDir (dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 })
  } catch (err) {
    const code = errorCode(err)
    if (code === 'EEXIST' || code === 'ENOTDIR') throw dataDirError(dir, 'is not a directory (a file is in the way)', 'remove that file or point auth.dataDir at a directory')
    throw dataDirError(dir, `cannot be created (${code})`)
  }
  const info = await stat(dir)
  if (!info.isDirectory()) throw dataDirError(dir, 'is not a directory (a file is in the way)', 'remove that file or point auth.dataDir at a directory')
  if (info.mode & 0o002) {
    const mode = (info.mode & 0o7777).toString(8).padStart(4, '0')
    throw dataDirError(dir, `is writable by every user (mode ${mode})`, `run "chmod 700 ${dir}" and check that its files are yours, or point auth.dataDir elsewhere`)
  }
  const probe = join(dir, `.probe-${randomBytes(6).toString('hex')}.tmp`)
  try {
    await (await open(probe, 'wx', 0o600)).close()
  } catch (err) {
    throw dataDirError(dir, `is not writable (${errorCode(err)})`, 'make it writable for the user the gateway runs as, or point auth.dataDir elsewhere')
  }
  await unlink(probe)
}
