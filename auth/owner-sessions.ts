import { randomBytes } from 'node:crypto'
import { safeEqual } from './safe-equal.js'
import type { Sealer } from './sealed.js'

export interface OwnerSession {
  subject: string
  /** how the owner proved who they are: "passphrase" or the upstream provider's name */
  via: string
  expiresAt: number
}

const PURPOSE = 'owner-session'

/**
 * Browser logins of the resource owner. The session id (the cookie's value) is the session itself,
 * sealed under the data dir's state key: any instance sharing the data dir knows the login, and
 * none keeps a session secret on disk. Deleting `state-key.json` ends every login.
 */
export class OwnerSessions {
  /** how long a login lasts; the session cookie's Max-Age is the same */
  constructor (readonly ttlMs: number, private readonly sealer: Sealer, private readonly now: () => number = Date.now) {}

  create (subject: string, via: string): string {
    const session: OwnerSession & { n: string } = { subject, via, expiresAt: this.now() + this.ttlMs, n: randomBytes(9).toString('base64url') }
    return this.sealer.seal(PURPOSE, session)
  }

  get (id: string | undefined): OwnerSession | undefined {
    const session = this.sealer.open<OwnerSession>(PURPOSE, id)
    if (!session || typeof session.subject !== 'string' || typeof session.via !== 'string' || !(session.expiresAt > this.now())) return undefined
    return { subject: session.subject, via: session.via, expiresAt: session.expiresAt }
  }

  /**
   * The CSRF token of the consent form for one pending request, shown to one owner session: whoever
   * started the request (a client, or a page posing as one) never sees it, so cannot post the form.
   */
  consentToken (sessionId: string, requestId: string): string {
    return this.sealer.mac('consent', sessionId, requestId)
  }

  /** Whether a consent form's token is the one minted for this session and request. */
  checkConsentToken (sessionId: string, requestId: string, token: unknown): boolean {
    if (typeof token !== 'string') return false
    return safeEqual(token, this.consentToken(sessionId, requestId))
  }
}
