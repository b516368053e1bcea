/**
 * Tokens already verified, until they expire: checking a signature costs hundreds of microseconds
 * (WebCrypto), a Map lookup does not, and a client sends the same token on every request. Bounded;
 * the oldest entry goes first. Only successful verifications are kept, keyed by the exact token.
 */
export class VerifiedTokens<T> {
  private readonly entries = new Map<string, { value: T, expiresAt: number }>()
  constructor (private readonly max = 10_000, private readonly now: () => number = Date.now) {}

  get (token: string): T | undefined {
    const entry = this.entries.get(token)
    if (!entry) return undefined
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(token)
      return undefined
    }
    return entry.value
  }

  set (token: string, value: T, expiresAtSeconds: number | undefined): void {
    if (expiresAtSeconds === undefined) return
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value as string)
    this.entries.set(token, { value, expiresAt: expiresAtSeconds * 1000 })
  }

  get size (): number { return this.entries.size }
}
