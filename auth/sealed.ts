import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto'
import { dataFileError, readJson, type DataFileRole } from './files.js'
import { createJsonExclusive } from './shared-dir.js'

// Short-lived state that any instance sharing the data dir can serve, because it travels with the
// browser or the client instead of living in one instance's memory: pending authorizations, owner
// logins, authorization codes. Sealed with AES-256-GCM under a key every instance reads from the data
// dir (`state-key.json`, made once by whichever instance starts first).

const STATE_KEY: DataFileRole = { what: 'state key', fix: 'delete it to create a new one (logins, pending authorizations and codes in flight become invalid)' }
const IV = 12
const TAG = 16

interface KeyFile { key: string, createdAt: string }

function keyOf (stored: KeyFile | undefined, path: string): Buffer {
  const key = typeof stored?.key === 'string' ? Buffer.from(stored.key, 'base64url') : undefined
  if (!key || key.length !== 32) throw dataFileError(STATE_KEY, path, 'does not hold a 32-byte key ({ "key": "<base64url>" })')
  return key
}

/** Seals and opens values of one purpose each (the purpose is authenticated: a code cannot pass as a login). */
export class Sealer {
  private readonly encKey: Buffer
  private readonly macKey: Buffer

  private constructor (key: Buffer) {
    this.encKey = Buffer.from(hkdfSync('sha256', key, '', '1mcp seal', 32))
    this.macKey = Buffer.from(hkdfSync('sha256', key, '', '1mcp mac', 32))
  }

  /** The data dir's state key; concurrent first starts agree on one (create-exclusive, then read). */
  static async open (path: string): Promise<Sealer> {
    let stored = await readJson<KeyFile>(path, STATE_KEY)
    if (!stored) {
      const created = { key: randomBytes(32).toString('base64url'), createdAt: new Date().toISOString() }
      stored = await createJsonExclusive(path, created) ? created : await readJson<KeyFile>(path, STATE_KEY)
    }
    return new Sealer(keyOf(stored, path))
  }

  seal (purpose: string, value: unknown): string {
    const iv = randomBytes(IV)
    const cipher = createCipheriv('aes-256-gcm', this.encKey, iv)
    cipher.setAAD(Buffer.from(purpose))
    const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()])
    return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url')
  }

  /** The value sealed for `purpose`, or undefined for anything else (forged, altered, another purpose, not a string). */
  open<T> (purpose: string, sealed: unknown): T | undefined {
    if (typeof sealed !== 'string' || sealed.length > 16_384 || !/^[A-Za-z0-9_-]+$/.test(sealed)) return undefined
    const raw = Buffer.from(sealed, 'base64url')
    if (raw.length < IV + TAG + 2) return undefined
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.encKey, raw.subarray(0, IV))
      decipher.setAAD(Buffer.from(purpose))
      decipher.setAuthTag(raw.subarray(raw.length - TAG))
      const text = Buffer.concat([decipher.update(raw.subarray(IV, raw.length - TAG)), decipher.final()]).toString('utf8')
      return JSON.parse(text) as T
    } catch {
      return undefined
    }
  }

  /** An HMAC of the parts (kept apart: JSON), the same on every instance (CSRF tokens). */
  mac (...parts: string[]): string {
    return createHmac('sha256', this.macKey).update(JSON.stringify(parts)).digest('base64url')
  }
}
