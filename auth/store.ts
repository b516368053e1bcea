import { randomBytes, randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { Value } from '@sinclair/typebox/value'
import { AUTH_DEFAULTS, StoredClient, StoredFamily } from '../schemas/auth.js'
import { RECORD_ID, RecordDir, type DataFileRole } from './files.js'
import { familyIdOf, holdsToken, newRefreshToken, rotation, sha256, type RotateResult } from './rotation.js'
import { migrateLegacy } from './store-legacy.js'
import { SharedMarkers } from './shared-markers.js'
import { DirLock } from './shared-dir.js'
import { safeEqual } from './safe-equal.js'

/** A client as registered (RFC 7591) or read from its metadata document. */
export type ClientRecord = StoredClient
export type ClientAuthMethod = ClientRecord['token_endpoint_auth_method']
/** The grant behind a chain of refresh tokens (see `StoredFamily`). */
export type RefreshFamily = StoredFamily

const CLIENT: DataFileRole = { what: 'client registration', fix: 'delete it (that client must register again)' }
const FAMILY: DataFileRole = { what: 'refresh-token grant', fix: 'delete it (the client it was issued to must log in again)' }

const isClient = (v: unknown): v is ClientRecord => Value.Check(StoredClient, v)
const isFamily = (v: unknown): v is RefreshFamily => Value.Check(StoredFamily, v)

export interface AuthStoreOptions {
  now?: () => number
  /** a registered client unused this long (and with no live refresh family) is deleted; 0: never */
  registrationTtlSeconds?: number
  /** how long a refresh-token family lives: a revocation of one not made yet is kept that long */
  refreshTokenTtlSeconds?: number
  /** told once when the revocation folder cannot be read or written (and again after it worked) */
  warn?: (err: Error, dir: string) => void
}

/**
 * Client registrations and refresh-token families under the data dir, one small file per record
 * (`clients/<id>.json`, `families/<id>.json`) written atomically, so they survive a restart and a
 * change never rewrites the others. Only hashes of secrets are kept. Registered clients unused for
 * `registrationTtlSeconds` are deleted.
 *
 * Several gateway instances may share the data dir (docs/authentication.md, "Several instances"):
 * the files are the truth and memory a cache. A change to an existing record (a rotation, a
 * revocation, a client's use, an expiry) re-reads that record under the data dir's cross-process
 * lock and writes it back before the lock is released, so no instance writes from a stale copy.
 * Revocations are also marker files under `revoked/` (`<family>.<expiresAt>`, shared-markers.ts)
 * that every instance follows in the background; one expires with its family.
 */
export class AuthStore {
  private readonly clients = new Map<string, ClientRecord>()
  private readonly families = new Map<string, RefreshFamily>()
  /** families revoked and not yet expired, by any instance: read on every request, so kept as a Set */
  private readonly revoked: SharedMarkers
  private readonly lock: DirLock
  /** prunes in progress, for `flushed` */
  private readonly pruning = new Set<Promise<unknown>>()
  private readonly clientDir: RecordDir<ClientRecord>
  private readonly familyDir: RecordDir<RefreshFamily>
  private readonly now: () => number
  private readonly ttlSeconds: number
  private readonly familyTtlMs: number
  /** how stale `last_used_at` may get before a use writes it again */
  private readonly touchSeconds: number

  private constructor (dir: string, options: AuthStoreOptions) {
    this.now = options.now ?? Date.now
    this.ttlSeconds = options.registrationTtlSeconds ?? AUTH_DEFAULTS.registrationTtlSeconds
    this.touchSeconds = Math.min(86400, this.ttlSeconds / 10)
    this.clientDir = new RecordDir(join(dir, 'clients'), CLIENT, isClient, 'a client record')
    this.familyDir = new RecordDir(join(dir, 'families'), FAMILY, isFamily, 'a refresh-token family record')
    this.familyTtlMs = (options.refreshTokenTtlSeconds ?? AUTH_DEFAULTS.refreshTokenTtlSeconds) * 1000
    this.revoked = new SharedMarkers(join(dir, 'revoked'), { isName: (name) => RECORD_ID.test(name), warn: options.warn, now: this.now })
    this.lock = new DirLock(dir)
  }

  static async open (dir: string, options: AuthStoreOptions = {}): Promise<AuthStore> {
    const store = new AuthStore(dir, options)
    await store.lock.run(async () => {
      await migrateLegacy(dir, store.clientDir, store.familyDir)
    })
    for (const client of await store.clientDir.readAll()) store.clients.set(client.client_id, client)
    await store.revoked.follow()
    for (const family of await store.familyDir.readAll()) {
      store.families.set(family.id, family)
      // a store of before the revocation markers: its revoked families get one
      if (family.revokedAt !== undefined && family.expiresAt > store.now() && !store.revoked.has(family.id)) await store.revoked.put(family.id, family.expiresAt)
    }
    store.prune()
    await store.flushed()
    return store
  }

  /** Stops following the other instances' revocations. */
  close (): void {
    this.revoked.close()
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
    if (this.expired(client, this.liveClients()) && await this.expire(id)) return undefined
    return this.clients.get(id)
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
    await this.lock.run(async () => {
      const stored = await this.clientDir.read(client.client_id).catch(() => undefined)
      if (!stored) return
      stored.last_used_at = Math.max(now, stored.last_used_at ?? 0)
      this.clients.set(client.client_id, stored)
      await this.clientDir.save(client.client_id, stored)
    })
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

  /**
   * Deletes a client that looks expired here, after checking under the lock what every instance
   * wrote: its file (another may have used it since) and the families on disk (another may have
   * granted it one). True when it is gone.
   */
  private expire (id: string): Promise<boolean> {
    return this.lock.run(async () => {
      const stored = await this.clientDir.read(id).catch(() => undefined)
      if (!stored) {
        this.clients.delete(id)
        return true
      }
      this.clients.set(id, stored)
      const families = await this.familyDir.readAll().catch(() => undefined)
      // a family file that cannot be read might be the one that keeps this client: keep it
      if (!families) return false
      for (const f of families) this.families.set(f.id, f)
      if (!this.expired(stored, this.liveClients())) return false
      this.clients.delete(id)
      // a failed delete leaves the file: the client is expired again later
      await this.clientDir.remove(id).catch(() => {})
      return true
    })
  }

  checkClientSecret (client: ClientRecord, secret: string | undefined): boolean {
    if (client.token_endpoint_auth_method === 'none') return true
    return secret !== undefined && client.client_secret_sha256 !== undefined && safeEqual(sha256(secret), client.client_secret_sha256)
  }

  /** Starts a family for a new grant (under the id given, when the code it comes from was claimed for it); returns its first refresh token. */
  async createFamily (grant: { clientId: string, subject: string, scope: string, audience: string }, ttlSeconds: number, id = randomUUID()): Promise<{ family: RefreshFamily, refreshToken: string }> {
    const refreshToken = newRefreshToken(id)
    const now = this.now()
    const family: RefreshFamily = { id, ...grant, createdAt: now, expiresAt: now + ttlSeconds * 1000, current: sha256(refreshToken), previous: [] }
    this.families.set(id, family)
    await this.saveFamily(family)
    return { family, refreshToken }
  }

  /**
   * Exchanges a refresh token for the next one; a reused token revokes its family. Under the lock,
   * from the family's file: a token rotated on another instance is a reused one here too.
   */
  rotate (refreshToken: string, clientId: string): Promise<RotateResult> {
    return this.lock.run(() => this.rotateLocked(refreshToken, clientId))
  }

  private async rotateLocked (refreshToken: string, clientId: string): Promise<RotateResult> {
    const family = await this.load(familyIdOf(refreshToken))
    const step = rotation(family, refreshToken, clientId, this.now(), family !== undefined && this.revoked.has(family.id))
    if (step.outcome === 'invalid') return step
    if (step.outcome === 'reused') await this.revokeLoaded(step.family, 'refresh token reused')
    else await this.saveFamily(step.family)
    return step
  }

  /** The family a refresh token belongs to, if the token is its current or a past one. */
  async familyOfRefreshToken (refreshToken: string): Promise<RefreshFamily | undefined> {
    const family = await this.load(familyIdOf(refreshToken))
    return family && holdsToken(family, refreshToken) ? family : undefined
  }

  /** A family as its file holds it now (whichever instance wrote it last). */
  getFamily (id: string): Promise<RefreshFamily | undefined> {
    return this.load(id)
  }

  /** Revokes a family, on every instance: under the lock, from its file. False when unknown or already revoked. */
  revokeFamily (id: string, reason: string): Promise<boolean> {
    return this.lock.run(async () => {
      const family = await this.load(id)
      if (family) return await this.revokeLoaded(family, reason)
      // not made yet (a code replayed while its first redemption runs): the marker revokes it once it is
      if (RECORD_ID.test(id)) await this.revoked.put(id, this.now() + this.familyTtlMs)
      return false
    })
  }

  private async revokeLoaded (family: RefreshFamily, reason: string): Promise<boolean> {
    if (family.revokedAt !== undefined) return false
    family.revokedAt = this.now()
    family.revokedReason = reason
    // the marker first: a crash between the two leaves the grant revoked everywhere, not only in its file
    await this.revoked.put(family.id, family.expiresAt)
    await this.saveFamily(family)
    return true
  }

  /** The family's file, read now (and cached); undefined when it is not there. */
  private async load (id: string | undefined): Promise<RefreshFamily | undefined> {
    if (id === undefined || !RECORD_ID.test(id)) return undefined
    const family = await this.familyDir.read(id).catch(() => undefined)
    if (family) this.families.set(id, family)
    else this.families.delete(id)
    return family
  }

  /** The hot-path check for an access token's family: a Set lookup (revocations of every instance, followed in the background). */
  isRevoked (familyId: string): boolean {
    return this.revoked.has(familyId)
  }

  /** Drops families past their lifetime and registered clients past theirs (their files too). */
  prune (): void {
    const now = this.now()
    for (const [id, family] of this.families) {
      if (family.expiresAt > now) continue
      this.families.delete(id)
      // its revocation marker, if any, expires with it (shared-markers.ts)
      this.track(this.familyDir.remove(id))
    }
    const live = this.liveClients()
    for (const client of this.clients.values()) if (this.expired(client, live)) this.track(this.expire(client.client_id))
  }

  private track (work: Promise<unknown>): void {
    const settled = work.catch(() => {})
    this.pruning.add(settled)
    settled.finally(() => this.pruning.delete(settled)).catch(() => {})
  }

  private saveFamily (family: RefreshFamily): Promise<void> {
    return this.familyDir.save(family.id, family)
  }

  /** Resolves once every write so far is on disk (or failed). */
  async flushed (): Promise<void> {
    await Promise.all([...this.pruning])
    await Promise.all([this.clientDir.flushed(), this.familyDir.flushed()])
  }
}
