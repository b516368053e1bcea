import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import { join } from 'node:path'
import { JsonFile } from './files.js'

export type ClientAuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post'

/** A client as registered (RFC 7591) or read from its metadata document. */
export interface ClientRecord {
  client_id: string
  client_name?: string
  client_uri?: string
  logo_uri?: string
  redirect_uris: string[]
  grant_types: string[]
  response_types: string[]
  token_endpoint_auth_method: ClientAuthMethod
  scope?: string
  client_id_issued_at: number
  /** SHA-256 of the secret, for confidential clients; the secret itself is shown once */
  client_secret_sha256?: string
  /** how we know the client: registered here, or its Client ID Metadata Document */
  source: 'registration' | 'metadata-document'
}

/**
 * The grant behind a chain of refresh tokens. Each refresh rotates the token; presenting one that
 * was already rotated away means it leaked, and the whole family is revoked (OAuth 2.1 §4.3.1).
 */
export interface RefreshFamily {
  id: string
  clientId: string
  subject: string
  scope: string
  audience: string
  createdAt: number
  expiresAt: number
  /** SHA-256 of the one valid refresh token */
  current: string
  /** SHA-256 of the tokens rotated away, newest last (bounded) */
  previous: string[]
  revokedAt?: number
  revokedReason?: string
}

export type RotateResult =
  | { outcome: 'rotated', family: RefreshFamily, refreshToken: string }
  | { outcome: 'reused', family: RefreshFamily }
  | { outcome: 'invalid', reason: string }

const PREVIOUS_KEPT = 100

export function sha256 (value: string): string {
  return createHash('sha256').update(value).digest('base64url')
}

function sameHash (a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

function newRefreshToken (familyId: string): string {
  return `${familyId}.${randomBytes(32).toString('base64url')}`
}

/**
 * Client registrations and refresh-token families, in memory and written atomically under the
 * data dir on each change, so they survive a restart. Only hashes of secrets are kept.
 */
export class AuthStore {
  private readonly clients = new Map<string, ClientRecord>()
  private readonly families = new Map<string, RefreshFamily>()
  /** families revoked and not yet expired: read on every request, so kept as a Set */
  private readonly revoked = new Set<string>()
  private readonly clientFile: JsonFile<{ clients: ClientRecord[] }>
  private readonly familyFile: JsonFile<{ families: RefreshFamily[] }>

  private constructor (dir: string, private readonly now: () => number) {
    this.clientFile = new JsonFile(join(dir, 'clients.json'))
    this.familyFile = new JsonFile(join(dir, 'refresh-families.json'))
  }

  static async open (dir: string, now: () => number = Date.now): Promise<AuthStore> {
    const store = new AuthStore(dir, now)
    for (const client of (await store.clientFile.read())?.clients ?? []) store.clients.set(client.client_id, client)
    for (const family of (await store.familyFile.read())?.families ?? []) {
      store.families.set(family.id, family)
      if (family.revokedAt !== undefined) store.revoked.add(family.id)
    }
    if (store.prune()) await store.saveFamilies()
    return store
  }

  getClient (id: string): ClientRecord | undefined {
    return this.clients.get(id)
  }

  get clientCount (): number { return this.clients.size }

  /** Registers a client; returns the secret (shown once) for a confidential one. */
  async registerClient (metadata: Omit<ClientRecord, 'client_id' | 'client_id_issued_at' | 'client_secret_sha256' | 'source'>): Promise<{ client: ClientRecord, secret?: string }> {
    const secret = metadata.token_endpoint_auth_method === 'none' ? undefined : randomBytes(32).toString('base64url')
    const client: ClientRecord = {
      ...metadata,
      client_id: randomUUID(),
      client_id_issued_at: Math.floor(this.now() / 1000),
      ...(secret ? { client_secret_sha256: sha256(secret) } : {}),
      source: 'registration'
    }
    this.clients.set(client.client_id, client)
    await this.clientFile.save({ clients: [...this.clients.values()] })
    return { client, secret }
  }

  checkClientSecret (client: ClientRecord, secret: string | undefined): boolean {
    if (client.token_endpoint_auth_method === 'none') return true
    return secret !== undefined && client.client_secret_sha256 !== undefined && sameHash(sha256(secret), client.client_secret_sha256)
  }

  /** Starts a family for a new grant; returns its first refresh token. */
  async createFamily (grant: { clientId: string, subject: string, scope: string, audience: string }, ttlSeconds: number): Promise<{ family: RefreshFamily, refreshToken: string }> {
    const id = randomUUID()
    const refreshToken = newRefreshToken(id)
    const now = this.now()
    const family: RefreshFamily = { id, ...grant, createdAt: now, expiresAt: now + ttlSeconds * 1000, current: sha256(refreshToken), previous: [] }
    this.families.set(id, family)
    await this.saveFamilies()
    return { family, refreshToken }
  }

  /** Exchanges a refresh token for the next one; a reused token revokes its family. */
  async rotate (refreshToken: string, clientId: string): Promise<RotateResult> {
    const dot = refreshToken.indexOf('.')
    const family = dot > 0 ? this.families.get(refreshToken.slice(0, dot)) : undefined
    if (!family) return { outcome: 'invalid', reason: 'unknown refresh token' }
    if (family.clientId !== clientId) return { outcome: 'invalid', reason: 'refresh token issued to another client' }
    if (family.revokedAt !== undefined) return { outcome: 'invalid', reason: `refresh token revoked (${family.revokedReason ?? 'revoked'})` }
    if (family.expiresAt <= this.now()) return { outcome: 'invalid', reason: 'refresh token expired' }
    const hash = sha256(refreshToken)
    if (!sameHash(hash, family.current)) {
      if (family.previous.some((h) => sameHash(h, hash))) {
        await this.revokeFamily(family.id, 'refresh token reused')
        return { outcome: 'reused', family }
      }
      return { outcome: 'invalid', reason: 'unknown refresh token' }
    }
    const next = newRefreshToken(family.id)
    family.previous = [...family.previous, family.current].slice(-PREVIOUS_KEPT)
    family.current = sha256(next)
    await this.saveFamilies()
    return { outcome: 'rotated', family, refreshToken: next }
  }

  /** The family a refresh token belongs to, if the token is its current or a past one. */
  familyOfRefreshToken (refreshToken: string): RefreshFamily | undefined {
    const dot = refreshToken.indexOf('.')
    const family = dot > 0 ? this.families.get(refreshToken.slice(0, dot)) : undefined
    if (!family) return undefined
    const hash = sha256(refreshToken)
    return sameHash(hash, family.current) || family.previous.some((h) => sameHash(h, hash)) ? family : undefined
  }

  getFamily (id: string): RefreshFamily | undefined {
    return this.families.get(id)
  }

  async revokeFamily (id: string, reason: string): Promise<boolean> {
    const family = this.families.get(id)
    if (!family || family.revokedAt !== undefined) return false
    family.revokedAt = this.now()
    family.revokedReason = reason
    this.revoked.add(id)
    await this.saveFamilies()
    return true
  }

  /** The hot-path check for an access token's family: a Set lookup. */
  isRevoked (familyId: string): boolean {
    return this.revoked.has(familyId)
  }

  /** Drops families past their lifetime; returns whether any went. */
  prune (): boolean {
    const now = this.now()
    let changed = false
    for (const [id, family] of this.families) {
      if (family.expiresAt <= now) {
        this.families.delete(id)
        this.revoked.delete(id)
        changed = true
      }
    }
    return changed
  }

  private saveFamilies (): Promise<void> {
    return this.familyFile.save({ families: [...this.families.values()] })
  }

  async flushed (): Promise<void> {
    await Promise.all([this.clientFile.flushed(), this.familyFile.flushed()])
  }
}
