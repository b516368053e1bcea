import { timingSafeEqual } from 'node:crypto'

/**
 * Whether two secrets (tokens, hashes, CSRF tokens, derived keys) are equal, in a time that does not
 * tell where they differ. The one place a secret is compared: `===` would leak it byte by byte.
 */
export function safeEqual (a: string | Buffer, b: string | Buffer): boolean {
  const x = typeof a === 'string' ? Buffer.from(a) : a
  const y = typeof b === 'string' ? Buffer.from(b) : b
  return x.length === y.length && timingSafeEqual(x, y)
}
