import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto'
import type { ClientCapabilities, Implementation } from '@modelcontextprotocol/client'

/**
 * What a 2025 session needs to be served by any instance, sealed into its `Mcp-Session-Id`
 * (AES-256-GCM): an instance that does not know the id opens it and rebuilds the session.
 * The scope is not sealed as such (it holds a function): its `filterKey` is, and the instance
 * that rebuilds the session builds the scope again from the request (same path, query and token)
 * and serves it only when the key matches.
 */
export interface SealedSession {
  /** protocol version */
  p: string
  /** client info */
  ci?: Implementation
  /** client capabilities */
  cc: ClientCapabilities
  /** `/mcp/<server>` */
  s?: string
  /** the scope's filter key (tag filters, preset, token scopes) */
  f?: string
  /** the token binding: subject, client and scopes of the bearer token (sessionOwner) */
  o?: string
  /** whose budget it counts against: the token's subject and client (sessionClient) */
  c?: string
  /** log level at sealing time */
  l?: string
  /** issued at, ms */
  t: number
  /** nonce: two sessions with the same content still get different ids */
  n: string
}

/** Ids longer than this are not sealed (the client's info and capabilities were too big): that session lives on one instance only. */
export const MAX_SEALED_ID = 4096

const VERSION = 's1.'
const IV_BYTES = 12
const TAG_BYTES = 16

/** Whether `id` has the form of a sealed session id (whether it opens is `SessionSealer#open`'s question). */
export function isSealedId (id: string): boolean {
  return id.startsWith(VERSION)
}

/**
 * A session key from its text form: 32 bytes as base64, base64url or hex (`openssl rand -base64 32`).
 * Any other text of at least 32 characters is hashed to 32 bytes (SHA-256), so a passphrase works too.
 */
export function parseSessionKey (text: string): Buffer {
  const trimmed = text.trim()
  if (/^[0-9a-f]{64}$/i.test(trimmed)) return Buffer.from(trimmed, 'hex')
  const decoded = Buffer.from(trimmed, 'base64')
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed) && decoded.length === 32) return decoded
  if (trimmed.length >= 32) return createHash('sha256').update(trimmed).digest()
  throw new Error('the session key must be 32 random bytes in base64 or hex (openssl rand -base64 32), or a passphrase of at least 32 characters')
}

/** Seals and opens session ids with the current key; ids sealed with the previous key still open (rotation). */
export class SessionSealer {
  private readonly keys: Buffer[]
  /** whether the key came from the config or the environment (false: made up at start, this instance only) */
  readonly shared: boolean

  constructor (current?: Buffer, previous?: Buffer) {
    this.shared = current !== undefined
    this.keys = [current ?? randomBytes(32), ...(previous ? [previous] : [])]
  }

  /** A key of its own for another use of the shared secret (the 2026 `requestState` codec), the same on every instance. */
  derive (label: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.keys[0], Buffer.alloc(0), label, 32))
  }

  seal (state: SealedSession): string {
    return VERSION + this.sealText(JSON.stringify(state))
  }

  /** The sealed state of `id`, or undefined when it is not one of ours (tampered, another key, not sealed at all). */
  open (id: string): SealedSession | undefined {
    if (!isSealedId(id) || id.length > MAX_SEALED_ID) return undefined
    const text = this.openText(id.slice(VERSION.length))
    if (text === undefined) return undefined
    try {
      const state = JSON.parse(text) as SealedSession
      return typeof state.p === 'string' && typeof state.t === 'number' ? state : undefined
    } catch {
      return undefined
    }
  }

  /** `text` encrypted and authenticated with the current key, as base64url. */
  sealText (text: string): string {
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.keys[0], iv)
    const body = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()])
    return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url')
  }

  /** What `sealText` sealed, with the current or the previous key; undefined for anything else. */
  openText (sealed: string): string | undefined {
    const raw = Buffer.from(sealed, 'base64url')
    if (raw.length <= IV_BYTES + TAG_BYTES) return undefined
    const iv = raw.subarray(0, IV_BYTES)
    const tag = raw.subarray(raw.length - TAG_BYTES)
    const body = raw.subarray(IV_BYTES, raw.length - TAG_BYTES)
    for (const key of this.keys) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, iv)
        decipher.setAuthTag(tag)
        return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8')
      } catch {
        // not this key: try the next
      }
    }
    return undefined
  }
}

/**
 * Ids of sessions ended here (DELETE, idle expiry): refused when they come back, so an ended session
 * is not rebuilt from its id on this instance. Bounded: the oldest entries go first, and an entry
 * is kept as long as the session could have stayed idle.
 */
export class RevocationList {
  private readonly ended = new Map<string, number>()
  constructor (private readonly max = 10_000) {}

  add (id: string, keepMs: number): void {
    this.ended.delete(id)
    this.ended.set(id, Date.now() + keepMs)
    if (this.ended.size > this.max) this.ended.delete(this.ended.keys().next().value as string)
  }

  has (id: string): boolean {
    const until = this.ended.get(id)
    if (until === undefined) return false
    if (until > Date.now()) return true
    this.ended.delete(id)
    return false
  }
}
