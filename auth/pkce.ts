import { createHash } from 'node:crypto'
import { safeEqual } from './safe-equal.js'

/** RFC 7636: 43 to 128 characters of [A-Za-z0-9-._~]. */
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/
/** An S256 challenge is a base64url SHA-256: 43 characters. */
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/

export function isValidChallenge (challenge: string): boolean {
  return CHALLENGE.test(challenge)
}

export function s256 (verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url')
}

/** Whether `verifier` is the one `challenge` (S256) was made from. */
export function verifyS256 (verifier: string, challenge: string): boolean {
  if (!VERIFIER.test(verifier)) return false
  return safeEqual(s256(verifier), challenge)
}
