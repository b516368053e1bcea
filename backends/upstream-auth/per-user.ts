import { EventEmitter } from 'node:events'
import { randomBytes, randomUUID } from 'node:crypto'
import type { AuthProvider } from '@modelcontextprotocol/client'
import { safeEqual } from '../../auth/safe-equal.js'
import type { UpstreamAuth, UpstreamAuthEvents } from './upstream-auth.js'

type UnauthorizedContext = Parameters<NonNullable<AuthProvider['onUnauthorized']>>[0]

/** How long a user's authorization link may wait to be opened, and their login to be finished. */
const LINK_TTL_MS = 10 * 60_000

/** Raised when a user calls a per-user server they have not authorized (or whose grant was refused since). */
export class GrantRequiredError extends Error {
  constructor (readonly server: string, readonly user: string) {
    super(`'${server}' needs the user's own authorization`)
    this.name = 'GrantRequiredError'
  }
}

/** A single-use link a user opens to authorize a per-user server, and the wait for their grant. */
export interface GrantLink {
  url: string
  elicitationId: string
  /** settles when the user's login through this server's callback succeeded; rejects on abort or when the link expires */
  authorized: (signal: AbortSignal) => Promise<void>
}

/** What the dispatcher asks of per-user credentials (mcp/dispatch/user-grant.ts). */
export interface UserGrants {
  link: (server: string, user: string) => GrantLink
}

/** Where a user's login to a per-user server is kept in the encrypted store: beside the server's own, never the same key. */
export function userRecordKey (server: string, user: string): string {
  return `${server}\nper-user\n${user}`
}

const granted = (auth: UpstreamAuth): boolean => auth.authorized && !auth.needsAuth

/**
 * The login of the shared connection of a per-user server, the one that lists its tools: it goes out
 * with the token of one user who has a grant (the same one while it holds), and waits as `needs-auth`
 * while nobody has. Calls never use that connection; each user's go out on their own.
 */
class CatalogAuth extends EventEmitter<UpstreamAuthEvents> implements AuthProvider {
  private current?: UpstreamAuth
  private ready = false

  constructor (private readonly users: () => Iterable<UpstreamAuth>) { super() }

  private pick (): UpstreamAuth | undefined {
    if (this.current && granted(this.current)) return this.current
    this.current = undefined
    for (const auth of this.users()) if (granted(auth)) { this.current = auth; break }
    return this.current
  }

  get needsAuth (): boolean { return this.pick() === undefined }

  async token (): Promise<string | undefined> { return await this.pick()?.token() }

  async onUnauthorized (ctx: UnauthorizedContext): Promise<void> {
    const auth = this.pick()
    if (!auth) throw new Error('no user has authorized the gateway for this server yet')
    await auth.onUnauthorized(ctx)
  }

  /** A user's grant came or went: the connection wakes when the first comes, parks when the last goes. */
  changed (): void {
    const ready = this.pick() !== undefined
    if (ready === this.ready) return
    this.ready = ready
    this.emit(ready ? 'authorized' : 'needs-auth')
  }
}

/**
 * The logins of one `credentials: "per-user"` server, one per gateway user (a token's subject and
 * client), each an UpstreamAuth of its own (its own registration, tokens and refresh, kept under
 * `userRecordKey`), and the single-use links that start a user's login.
 */
export class PerUserAuths {
  private readonly users = new Map<string, UpstreamAuth>()
  private readonly links = new Map<string, { user: string, expiresAt: number }>()
  readonly catalog = new CatalogAuth(() => this.users.values())

  constructor (readonly server: string, private readonly make: (user: string) => UpstreamAuth, storedUsers: string[]) {
    for (const user of storedUsers) this.user(user)
    this.catalog.changed()
  }

  /** A user's login to this server (made on first use). */
  user (user: string): UpstreamAuth {
    let found = this.users.get(user)
    if (!found) {
      found = this.make(user)
      found.on('authorized', () => this.catalog.changed())
      found.on('needs-auth', () => this.catalog.changed())
      this.users.set(user, found)
    }
    return found
  }

  /** A new link for `user`: `base` + an unguessable single-use ticket, valid for ten minutes. */
  link (user: string, base: string): GrantLink {
    const now = Date.now()
    for (const [ticket, link] of this.links) if (link.expiresAt < now) this.links.delete(ticket)
    const ticket = randomBytes(32).toString('base64url')
    const expiresAt = now + LINK_TTL_MS
    this.links.set(ticket, { user, expiresAt })
    const auth = this.user(user)
    return {
      url: `${base}?token=${ticket}`,
      elicitationId: randomUUID(),
      authorized: (signal) => new Promise<void>((resolve, reject) => {
        const done = (err?: Error) => { clearTimeout(timer); auth.off('authorized', onAuthorized); signal.removeEventListener('abort', onAbort); if (err) reject(err); else resolve() }
        const onAuthorized = () => done()
        const onAbort = () => done(new Error('the call was cancelled while waiting for the user\'s authorization'))
        const timer = setTimeout(() => done(new Error('the user did not authorize in time')), Math.max(0, expiresAt - Date.now()))
        timer.unref()
        auth.on('authorized', onAuthorized)
        signal.addEventListener('abort', onAbort, { once: true })
      })
    }
  }

  /** The login of the user a link was made for, when the link is valid and `accept` takes that user: the link is then used up. */
  take (ticket: string, accept: (user: string) => boolean): UpstreamAuth | undefined {
    for (const [known, link] of this.links) {
      if (!safeEqual(known, ticket)) continue
      if (link.expiresAt < Date.now()) { this.links.delete(known); return undefined }
      if (!accept(link.user)) return undefined
      this.links.delete(known)
      return this.user(link.user)
    }
    return undefined
  }

  /** The user's login the callback with this `state` finishes. */
  awaiting (state: string): UpstreamAuth | undefined {
    for (const auth of this.users.values()) if (auth.awaits(state)) return auth
    return undefined
  }

  close (): void {
    for (const auth of this.users.values()) auth.close()
    this.users.clear()
    this.links.clear()
    this.catalog.removeAllListeners()
  }
}
