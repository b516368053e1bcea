import { createHash } from 'node:crypto'
import type { Session } from './session.js'

/** A folder of markers every instance follows (auth/shared-markers.ts is the one the gateway uses). */
export interface MarkerBoard {
  /** the latest marker of `name` not expired, from any instance */
  get (name: string): { until: number, value?: string } | undefined
  put (name: string, until: number, value?: string): Promise<void>
  /** moves the expiry of `name`'s marker, keeping the value the folder holds now */
  renew (name: string, until: number): Promise<void>
  on (event: 'marked', listener: (name: string, marker: { until: number, value?: string }) => void): unknown
}

/** A session's name in the shared folders: not its id (which carries its sealed state), a hash of it. */
export function markerName (id: string): string {
  return createHash('sha256').update(id).digest('hex').slice(0, 32)
}

interface Held { session: Session, name: string, renewAt?: number }

/**
 * What the instances that share one data dir and one session key tell each other about the sealed
 * sessions they serve (docs/deploy/README.md, "Several instances"): that a client ended one (DELETE),
 * and the log level it asked for. Both are markers (`ended`: `<name>.<until>`, `levels`:
 * `<name>.<until>.<level>`) kept for `sessions.idleTimeoutMs`, a level's renewed while the session is
 * used. The request path only reads memory; the folders are followed in the background, so another
 * instance learns an end or a level within about a second.
 */
export class SharedSessions {
  /** the sessions this instance holds, by marker name */
  private readonly held = new Map<string, Held>()
  private readonly byId = new Map<string, Held>()

  constructor (
    private readonly ended: MarkerBoard,
    private readonly levels: MarkerBoard,
    /** how long a marker is kept: sessions.idleTimeoutMs */
    private readonly keepMs: () => number,
    /** ends a session held here that another instance ended */
    endHere: (id: string) => void
  ) {
    ended.on('marked', (name) => {
      const held = this.held.get(name)
      if (held) endHere(held.session.id)
    })
    levels.on('marked', (name, marker) => {
      const held = this.held.get(name)
      if (!held) return
      held.session.logLevel = marker.value
      held.renewAt = this.renewalOf(marker.until)
    })
  }

  isEnded (id: string): boolean {
    return this.ended.get(markerName(id)) !== undefined
  }

  /** Follows a session held here; it takes the latest level any instance set for it. */
  hold (session: Session): void {
    const held: Held = { session, name: markerName(session.id) }
    const level = this.levels.get(held.name)
    if (level) {
      session.logLevel = level.value
      held.renewAt = this.renewalOf(level.until)
    }
    this.held.set(held.name, held)
    this.byId.set(session.id, held)
  }

  release (session: Session): void {
    const held = this.byId.get(session.id)
    if (!held) return
    this.byId.delete(session.id)
    this.held.delete(held.name)
  }

  /** Ends the session on every instance (in the background: a failure is warned about by the folder, once). */
  end (id: string): void {
    this.ended.put(markerName(id), Date.now() + this.keepMs()).catch(() => {})
  }

  /** Records the session's level for every instance. */
  setLevel (session: Session, level: string): void {
    const held = this.byId.get(session.id)
    if (!held) return
    const until = Date.now() + this.keepMs()
    held.renewAt = this.renewalOf(until)
    this.levels.put(held.name, until, level).catch(() => {})
  }

  /** The session was used: its level marker is renewed when half its time has passed. */
  used (session: Session): void {
    const held = this.byId.get(session.id)
    if (held?.renewAt === undefined || Date.now() < held.renewAt) return
    const until = Date.now() + this.keepMs()
    held.renewAt = this.renewalOf(until)
    this.levels.renew(held.name, until).catch(() => {})
  }

  private renewalOf (until: number): number {
    return until - this.keepMs() / 2
  }
}
