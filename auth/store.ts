import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { AUTH_DEFAULTS, StoredClient, StoredFamily } from '../schemas/auth.js'
import { dataFileError, readChecked, RecordDir, type DataFileRole } from './files.js'
import { safeEqual } from './safe-equal.js'

/** A client as registered (RFC 7591) or read from its metadata document. */
export type ClientRecord = StoredClient
export type ClientAuthMethod = ClientRecord['token_endpoint_auth_method']
/** The grant behind a chain of refresh tokens (see `StoredFamily`). */
export type RefreshFamily = StoredFamily

export type RotateResult =
  | { outcome: 'rotated', family: RefreshFamily, refreshToken: string }
  | { outcome: 'reused', family: RefreshFamily }
  | { outcome: 'invalid', reason: string }

const PREVIOUS_KEPT = 100

export function sha256 (value: string): string {
  return createHash('sha256').update(value).digest('base64url')
}

function newRefreshToken (familyId: string): string {
  return `${familyId}.${randomBytes(32).toString('base64url')}`
}

const CLIENT: DataFileRole = { what: 'client registration', fix: 'delete it (that client must register again)' }
const FAMILY: DataFileRole = { what: 'refresh-token grant', fix: 'delete it (the client it was issued to must log in again)' }
const LEGACY_CLIENTS: DataFileRole = { what: 'client registrations', fix: 'fix it or delete it (registered clients must register again)' }
const LEGACY_FAMILIES: DataFileRole = { what: 'refresh-token grants', fix: 'fix it or delete it (every client must log in again)' }

/** Registered clients and families have UUIDs: safe as file names, and nothing else is looked up on disk. */
const RECORD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const isClient = (v: unknown): v is ClientRecord => Value.Check(StoredClient, v)
const isFamily = (v: unknown): v is RefreshFamily => Value.Check(StoredFamily, v)
const LegacyClients = Type.Object({ clients: Type.Array(StoredClient) })
const LegacyFamilies = Type.Object({ families: Type.Array(StoredFamily) })

export interface AuthStoreOptions {
  now?: () => number
  /** a registered client unused this long (and with no live refresh family) is deleted; 0: never */
  registrationTtlSeconds?: number
}

/**
 * Moves a store of the first layout (one file of every record, rewritten on each change) into one
 * file per record, once: the records are written first, the old file is deleted last, so a crash in
 * between only repeats the move.
 */
async function migrateLegacy<T> (path: string, role: DataFileRole, schema: typeof LegacyClients | typeof LegacyFamilies, records: RecordDir<T>, idOf: (record: T) => string): Promise<void> {
  const doc = await readChecked(path, role, (v): v is Record<string, T[]> => Value.Check(schema, v), `in the expected shape (${Object.keys(schema.properties)[0]}: a list of records)`)
  if (!doc) return
  const list = Object.values(doc)[0]
  const bad = list.find((r) => !RECORD_ID.test(idOf(r)))
  if (bad) throw dataFileError(role, path, `holds the id ${JSON.stringify(idOf(bad))}, which is not a UUID`)
  await Promise.all(list.map((r) => records.save(idOf(r), r)))
  await unlink(path)
}

/**
 * Client registrations and refresh-token families, in memory and under the data dir, one small file
 * per record (`clients/<id>.json`, `families/<id>.json`) written atomically on each change, so they
 * survive a restart and a change never rewrites the others. Only hashes of secrets are kept.
 * Registered clients unused for `registrationTtlSeconds` are deleted.
 */
export class AuthStore {
  private readonly clients = new Map<string, ClientRecord>()
  private readonly families = new Map<string, RefreshFamily>()
  /** families revoked and not yet expired: read on every request, so kept as a Set */
  private readonly revoked = new Set<string>()
  private readonly clientDir: RecordDir<ClientRecord>
  private readonly familyDir: RecordDir<RefreshFamily>
  private readonly now: () => number
  private readonly ttlSeconds: number
  /** how stale `last_used_at` may get before a use writes it again */
  private readonly touchSeconds: number

  private constructor (dir: string, options: AuthStoreOptions) {
    this.now = options.now ?? Date.now
    this.ttlSeconds = options.registrationTtlSeconds ?? AUTH_DEFAULTS.registrationTtlSeconds
    this.touchSeconds = Math.min(86400, this.ttlSeconds / 10)
    this.clientDir = new RecordDir(join(dir, 'clients'), CLIENT, isClient, 'a client record')
    this.familyDir = new RecordDir(join(dir, 'families'), FAMILY, isFamily, 'a refresh-token family record')
  }

  static async open (dir: string, options: AuthStoreOptions = {}): Promise<AuthStore> {
    const store = new AuthStore(dir, options)
    await migrateLegacy(join(dir, 'clients.json'), LEGACY_CLIENTS, LegacyClients, store.clientDir, (c) => c.client_id)
    await migrateLegacy(join(dir, 'refresh-families.json'), LEGACY_FAMILIES, LegacyFamilies, store.familyDir, (f) => f.id)
    for (const client of await store.clientDir.readAll()) store.clients.set(client.client_id, client)
    for (const family of await store.familyDir.readAll()) {
      store.families.set(family.id, family)
      if (family.revokedAt !== undefined) store.revoked.add(family.id)
    }
    store.prune()
    await store.flushed()
    return store
  }

  /**
   * A registered client: from memory, or from its file when another instance sharing the data dir
   * registered it. Undefined when unknown or expired (an expired one is deleted).
   */
  async findClient (id: string): Promise<ClientRecord | undefined> {
    let client = this.clients.get(id)
    if (!client && RECORD_ID.test(id)) {
      client = await this.clientDir.read(id).catch(() => undefined)
      if (client) this.clients.set(id, client)
    }
    if (!client) return undefined
    if (this.expired(client, this.liveClients())) {
      this.forgetClient(id)
      return undefined
    }
    return client
  }

  get clientCount (): number { return this.clients.size }

  /** Registers a client; returns the secret (shown once) for a confidential one. */
  async registerClient (metadata: Omit<ClientRecord, 'client_id' | 'client_id_issued_at' | 'client_secret_sha256' | 'source' | 'last_used_at'>): Promise<{ client: ClientRecord, secret?: string }> {
    const secret = metadata.token_endpoint_auth_method === 'none' ? undefined : randomBytes(32).toString('base64url')
    const client: ClientRecord = {
      ...metadata,
      client_id: randomUUID(),
      client_id_issued_at: Math.floor(this.now() / 1000),
      ...(secret ? { client_secret_sha256: sha256(secret) } : {}),
      source: 'registration'
    }
    this.clients.set(client.client_id, client)
    await this.clientDir.save(client.client_id, client)
    return { client, secret }
  }

  /** Notes that a registered client was used (it does not expire then); writes its file at most once per touch interval. */
  async clientUsed (client: ClientRecord): Promise<void> {
    if (client.source !== 'registration' || this.ttlSeconds === 0) return
    const now = Math.floor(this.now() / 1000)
    if (now - (client.last_used_at ?? client.client_id_issued_at) < this.touchSeconds) return
    client.last_used_at = now
    await this.clientDir.save(client.client_id, client)
  }

  /** A registered client unused past the TTL, unless a live (unrevoked, unexpired) refresh family still speaks for it. */
  private expired (client: ClientRecord, live: () => Set<string>): boolean {
    if (this.ttlSeconds === 0 || client.source !== 'registration') return false
    const idle = this.now() / 1000 - (client.last_used_at ?? client.client_id_issued_at)
    return idle > this.ttlSeconds && !live().has(client.client_id)
  }

  /** The clients with a live refresh family, computed once when first asked. */
  private liveClients (): () => Set<string> {
    let live: Set<string> | undefined
    return () => {
      if (live) return live
      const now = this.now()
      live = new Set([...this.families.values()].filter((f) => f.revokedAt === undefined && f.expiresAt > now).map((f) => f.clientId))
      return live
    }
  }

  private forgetClient (id: string): void {
    this.clients.delete(id)
    // a failed delete leaves the file: the client is expired again at the next start
    this.clientDir.remove(id).catch(() => {})
  }

  checkClientSecret (client: ClientRecord, secret: string | undefined): boolean {
    if (client.token_endpoint_auth_method === 'none') return true
    return secret !== undefined && client.client_secret_sha256 !== undefined && safeEqual(sha256(secret), client.client_secret_sha256)
  }

  /** Starts a family for a new grant; returns its first refresh token. */
  async createFamily (grant: { clientId: string, subject: string, scope: string, audience: string }, ttlSeconds: number): Promise<{ family: RefreshFamily, refreshToken: string }> {
    const id = randomUUID()
    const refreshToken = newRefreshToken(id)
    const now = this.now()
    const family: RefreshFamily = { id, ...grant, createdAt: now, expiresAt: now + ttlSeconds * 1000, current: sha256(refreshToken), previous: [] }
    this.families.set(id, family)
    await this.saveFamily(family)
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
    if (!safeEqual(hash, family.current)) {
      if (family.previous.some((h) => safeEqual(h, hash))) {
        await this.revokeFamily(family.id, 'refresh token reused')
        return { outcome: 'reused', family }
      }
      return { outcome: 'invalid', reason: 'unknown refresh token' }
    }
    const next = newRefreshToken(family.id)
    family.previous = [...family.previous, family.current].slice(-PREVIOUS_KEPT)
    family.current = sha256(next)
    await this.saveFamily(family)
    return { outcome: 'rotated', family, refreshToken: next }
  }

  /** The family a refresh token belongs to, if the token is its current or a past one. */
  familyOfRefreshToken (refreshToken: string): RefreshFamily | undefined {
    const dot = refreshToken.indexOf('.')
    const family = dot > 0 ? this.families.get(refreshToken.slice(0, dot)) : undefined
    if (!family) return undefined
    const hash = sha256(refreshToken)
    return safeEqual(hash, family.current) || family.previous.some((h) => safeEqual(h, hash)) ? family : undefined
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
    await this.saveFamily(family)
    return true
  }

  /** The hot-path check for an access token's family: a Set lookup. */
  isRevoked (familyId: string): boolean {
    return this.revoked.has(familyId)
  }

  /** Drops families past their lifetime and registered clients past theirs (their files too). */
  prune (): void {
    const now = this.now()
    for (const [id, family] of this.families) {
      if (family.expiresAt > now) continue
      this.families.delete(id)
      this.revoked.delete(id)
      this.familyDir.remove(id).catch(() => {})
    }
    const live = this.liveClients()
    for (const client of this.clients.values()) if (this.expired(client, live)) this.forgetClient(client.client_id)
  }

  private saveFamily (family: RefreshFamily): Promise<void> {
    return this.familyDir.save(family.id, family)
  }

  /** Resolves once every write so far is on disk (or failed). */
  async flushed (): Promise<void> {
    await Promise.all([this.clientDir.flushed(), this.familyDir.flushed()])
  }
}
