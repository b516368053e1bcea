import { createHash, randomBytes } from 'node:crypto'
import type { StoredFamily as RefreshFamily } from '../schemas/auth.js'
import { safeEqual } from './safe-equal.js'

// Refresh-token rotation as a decision on one family record (the store reads and writes the record
// under the data dir's lock around it).

export type RotateResult =
  | { outcome: 'rotated', family: RefreshFamily, refreshToken: string }
  | { outcome: 'reused', family: RefreshFamily }
  | { outcome: 'invalid', reason: string }

const PREVIOUS_KEPT = 100

export function sha256 (value: string): string {
  return createHash('sha256').update(value).digest('base64url')
}

/** The family id a refresh token starts with (`<family>.<random>`). */
export function familyIdOf (refreshToken: string): string | undefined {
  const dot = refreshToken.indexOf('.')
  return dot > 0 ? refreshToken.slice(0, dot) : undefined
}

export function newRefreshToken (familyId: string): string {
  return `${familyId}.${randomBytes(32).toString('base64url')}`
}

/** Whether a refresh token is the family's current or a past one. */
export function holdsToken (family: RefreshFamily, refreshToken: string): boolean {
  const hash = sha256(refreshToken)
  return safeEqual(hash, family.current) || family.previous.some((h) => safeEqual(h, hash))
}

/**
 * What presenting `refreshToken` does to its family: rotated (the record is advanced in place, to
 * be saved), reused (a past token: the caller revokes the family), or invalid.
 */
export function rotation (family: RefreshFamily | undefined, refreshToken: string, clientId: string, now: number, revoked: boolean): RotateResult {
  if (!family) return { outcome: 'invalid', reason: 'unknown refresh token' }
  if (family.clientId !== clientId) return { outcome: 'invalid', reason: 'refresh token issued to another client' }
  if (family.revokedAt !== undefined || revoked) return { outcome: 'invalid', reason: `refresh token revoked (${family.revokedReason ?? 'revoked'})` }
  if (family.expiresAt <= now) return { outcome: 'invalid', reason: 'refresh token expired' }
  if (!safeEqual(sha256(refreshToken), family.current)) {
    return holdsToken(family, refreshToken) ? { outcome: 'reused', family } : { outcome: 'invalid', reason: 'unknown refresh token' }
  }
  const next = newRefreshToken(family.id)
  family.previous = [...family.previous, family.current].slice(-PREVIOUS_KEPT)
  family.current = sha256(next)
  return { outcome: 'rotated', family, refreshToken: next }
}
