import { randomBytes, scrypt, type ScryptOptions } from 'node:crypto'
import { safeEqual } from './safe-equal.js'

const KEY_LENGTH = 32
const DEFAULTS = { N: 2 ** 15, r: 8, p: 1 }

function derive (secret: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret.normalize('NFKC'), salt, KEY_LENGTH, { ...options, maxmem: 128 * options.N! * options.r! * 2 }, (err, key) => {
      if (err) reject(err)
      else resolve(key)
    })
  })
}

/** `scrypt$N$r$p$salt$hash` (base64url): the only form in which the owner passphrase is kept. */
export async function hashPassphrase (passphrase: string): Promise<string> {
  const salt = randomBytes(16)
  const key = await derive(passphrase, salt, DEFAULTS)
  return ['scrypt', DEFAULTS.N, DEFAULTS.r, DEFAULTS.p, salt.toString('base64url'), key.toString('base64url')].join('$')
}

/**
 * Whether a value is a hash `hashPassphrase` could have made, with parameters scrypt accepts within
 * bounded memory (N a power of two, 128·N·r at most 256 MiB, p up to 16): checked at boot, so a bad
 * hash fails the start instead of every login.
 */
export function isPassphraseHash (value: unknown): value is string {
  if (typeof value !== 'string') return false
  const match = /^scrypt\$(\d{1,8})\$(\d{1,2})\$(\d{1,2})\$[A-Za-z0-9_-]{16,}\$[A-Za-z0-9_-]{16,}$/.exec(value)
  if (!match) return false
  const [n, r, p] = match.slice(1).map(Number)
  return isPowerOfTwo(n) && r >= 1 && n * r <= 2 ** 21 && p >= 1 && p <= 16
}

function isPowerOfTwo (n: number): boolean {
  return n >= 2 && (n & (n - 1)) === 0
}

export async function verifyPassphrase (passphrase: string, hash: string): Promise<boolean> {
  if (!isPassphraseHash(hash) || passphrase.length === 0 || passphrase.length > 1024) return false
  const [, n, r, p, salt, expected] = hash.split('$')
  const want = Buffer.from(expected, 'base64url')
  const got = await derive(passphrase, Buffer.from(salt, 'base64url'), { N: Number(n), r: Number(r), p: Number(p) })
  return safeEqual(got, want)
}

/** Five groups of five from an unambiguous alphabet: about 120 bits. */
export function generatePassphrase (): string {
  const alphabet = 'abcdefghjkmnpqrstuvwxyz23456789'
  const bytes = randomBytes(25)
  const chars = [...bytes].map((b) => alphabet[b % alphabet.length])
  return [0, 5, 10, 15, 20].map((i) => chars.slice(i, i + 5).join('')).join('-')
}
