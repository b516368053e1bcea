import { createHmac, randomBytes } from 'node:crypto'
import { safeEqual } from './safe-equal.js'

export interface OwnerSession {
  subject: string
  /** how the owner proved who they are: "passphrase" or the upstream provider's name */
  via: string
  expiresAt: number
}

const MAX_SESSIONS = 1000

/**
 * Browser logins of the resource owner, held in memory: a restart asks the owner to log in again,
 * which costs one login and keeps no session secret on disk.
 */
export class OwnerSessions {
  private readonly sessions = new Map<string, OwnerSession>()
  /** signs consent forms; in memory like the sessions it binds them to */
  private readonly formKey = randomBytes(32)
  /** how long a login lasts; the session cookie's Max-Age is the same */
  constructor (readonly ttlMs: number, private readonly now: () => number = Date.now) {}

  create (subject: string, via: string): string {
    if (this.sessions.size >= MAX_SESSIONS) this.prune()
    if (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value as string)
    const id = randomBytes(32).toString('base64url')
    this.sessions.set(id, { subject, via, expiresAt: this.now() + this.ttlMs })
    return id
  }

  get (id: string | undefined): OwnerSession | undefined {
    if (!id) return undefined
    const session = this.sessions.get(id)
    if (session && session.expiresAt <= this.now()) {
      this.sessions.delete(id)
      return undefined
    }
    return session
  }

  /**
   * The CSRF token of the consent form for one pending request, shown to one owner session: whoever
   * started the request (a client, or a page posing as one) never sees it, so cannot post the form.
   */
  consentToken (sessionId: string, requestId: string): string {
    return createHmac('sha256', this.formKey).update(`consent\0${sessionId}\0${requestId}`).digest('base64url')
  }

  /** Whether a consent form's token is the one minted for this session and request. */
  checkConsentToken (sessionId: string, requestId: string, token: unknown): boolean {
    if (typeof token !== 'string') return false
    return safeEqual(token, this.consentToken(sessionId, requestId))
  }

  prune (): void {
    const now = this.now()
    for (const [id, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(id)
  }
}
