import { EventEmitter } from 'node:events'
import { watch, type FSWatcher } from 'node:fs'
import { mkdir, readdir, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { createExclusive } from './shared-dir.js'

/** One marker: until when it holds (epoch ms) and, for some uses, a value. */
export interface Marker { until: number, value?: string }

export interface SharedMarkersOptions {
  /** which names are markers of this folder (other files are left alone) */
  isName: (name: string) => boolean
  /** which values a marker may carry (default: none) */
  isValue?: (value: string) => boolean
  /** told once when the folder starts failing (unreadable, unwritable), and not again until it worked once */
  warn?: (err: Error, dir: string) => void
  /** how often the folder is read again even when the watch saw nothing (default 1 s) */
  rescanMs?: number
  now?: () => number
}

const RESCAN_MS = 1000

/** `<name>.<until>` or `<name>.<until>.<value>`: the name, the expiry and the value in the file's name, so a marker is one empty file made once. */
function parse (file: string, options: SharedMarkersOptions): { name: string, marker: Marker } | undefined {
  const [name, until, value, ...rest] = file.split('.')
  if (rest.length > 0 || !/^\d{1,15}$/.test(until ?? '') || !options.isName(name)) return undefined
  if (value !== undefined && !options.isValue?.(value)) return undefined
  return { name, marker: { until: Number(until), ...(value === undefined ? {} : { value }) } }
}

const fileOf = (name: string, { until, value }: Marker) => value === undefined ? `${name}.${until}` : `${name}.${until}.${value}`

/**
 * Markers every process sharing a folder sees: one empty file per marker, created atomically and
 * never rewritten (so no write undoes another), expiring by the time in its name. The request path
 * asks `get`/`has`, a Map lookup; the Map follows the folder in the background (a watch, and a
 * rescan every second for file systems whose watch misses changes). A scan deletes the files that
 * expired and those a later marker of the same name replaced. `marked` is emitted for every marker
 * learnt that is later than the one known for its name. Used for token revocations (auth/store.ts)
 * and for ended sessions and log levels (plugins/sessions.ts).
 */
export class SharedMarkers extends EventEmitter<{ marked: [name: string, marker: Marker] }> {
  private readonly marks = new Map<string, Marker>()
  private readonly now: () => number
  private watcher?: FSWatcher
  private timer?: NodeJS.Timeout
  private scanning?: Promise<void>
  private again = false
  private failing = false

  constructor (readonly dir: string, private readonly options: SharedMarkersOptions) {
    super()
    this.now = options.now ?? Date.now
  }

  /** The latest marker of `name` not expired, from any process. */
  get (name: string): Marker | undefined {
    const marker = this.marks.get(name)
    if (marker === undefined || marker.until > this.now()) return marker
    this.marks.delete(name)
    return undefined
  }

  has (name: string): boolean {
    return this.get(name) !== undefined
  }

  /** Sets a marker, here at once and for the others through the folder (a later `until` wins over an earlier one). */
  async put (name: string, until: number, value?: string): Promise<void> {
    const marker: Marker = { until, ...(value === undefined ? {} : { value }) }
    this.learn(name, marker)
    await this.failsafe(createExclusive(join(this.dir, fileOf(name, marker)), ''))
  }

  /** Moves the expiry of `name`'s marker to `until`, keeping the value the folder holds now (read first, so a newer value set elsewhere is kept). */
  async renew (name: string, until: number): Promise<void> {
    await this.scan()
    const current = this.get(name)
    if (current && current.until < until) await this.put(name, until, current.value)
  }

  /** Reads the folder once (making it if needed), then follows it until `close`. */
  async follow (): Promise<void> {
    await this.failsafe(mkdir(this.dir, { recursive: true, mode: 0o700 })).catch(() => {})
    await this.scan().catch(() => {})
    try {
      this.watcher = watch(this.dir, () => { this.scan().catch(() => {}) })
      this.watcher.on('error', () => {})
      this.watcher.unref()
    } catch {}
    this.timer = setInterval(() => { this.scan().catch(() => {}) }, this.options.rescanMs ?? RESCAN_MS)
    this.timer.unref()
  }

  /** Reads the folder; asked again while a read runs, it reads once more after it (never more in parallel). */
  scan (): Promise<void> {
    if (this.scanning) {
      this.again = true
      return this.scanning
    }
    this.scanning = this.failsafe((async () => {
      do {
        this.again = false
        this.take(await readdir(this.dir))
      } while (this.again)
    })()).finally(() => { this.scanning = undefined })
    return this.scanning
  }

  close (): void {
    this.watcher?.close()
    clearInterval(this.timer)
  }

  /** Learns the folder's markers; forgets and deletes the expired and the replaced ones. */
  private take (files: string[]): void {
    const now = this.now()
    for (const [name, marker] of this.marks) if (marker.until <= now) this.marks.delete(name)
    const found = this.live(files, now)
    for (const { name, marker } of found) this.learn(name, marker)
    for (const { file, name, marker } of found) if ((this.marks.get(name)?.until ?? 0) > marker.until) this.remove(file)
  }

  /** The markers among `files` that hold at `now`; the expired ones are deleted. */
  private live (files: string[], now: number): Array<{ file: string, name: string, marker: Marker }> {
    const found: Array<{ file: string, name: string, marker: Marker }> = []
    for (const file of files) {
      const parsed = parse(file, this.options)
      if (!parsed) continue
      if (parsed.marker.until <= now) this.remove(file)
      else found.push({ file, ...parsed })
    }
    return found
  }

  private learn (name: string, marker: Marker): void {
    const known = this.marks.get(name)
    if (known && known.until >= marker.until) return
    this.marks.set(name, marker)
    this.emit('marked', name, marker)
  }

  private remove (file: string): void {
    unlink(join(this.dir, file)).catch(() => {})
  }

  /** `work`, with its failure told once per failing spell (it still rejects); a success ends the spell. */
  private async failsafe<T> (work: Promise<T>): Promise<T> {
    try {
      const result = await work
      this.failing = false
      return result
    } catch (err) {
      if (!this.failing) this.options.warn?.(err as Error, this.dir)
      this.failing = true
      throw err
    }
  }
}
