import { RpcCode, RpcError } from './errors.js'

/**
 * A cap on calls in flight to one backend, with a bounded queue in front of it: past the
 * queue a call fails at once with a clear error instead of piling up.
 */
export class InFlightLimit {
  active = 0
  private readonly waiting: Array<() => void> = []

  constructor (public max: number, private readonly backend: string, public maxQueued = max * 4) {}

  get queued (): number { return this.waiting.length }

  /** Takes a place at once when one is free (true); the caller must call `release` once it is done. */
  tryAcquire (): boolean {
    if (this.active >= this.max) return false
    this.active++
    return true
  }

  /** Resolves when the call may go; the caller must call `release` once it is done. */
  async acquire (signal?: AbortSignal): Promise<void> {
    if (this.active < this.max) { this.active++; return }
    if (this.waiting.length >= this.maxQueued) {
      throw new RpcError(RpcCode.Overloaded, `backend '${this.backend}' is overloaded: ${this.active} calls in flight and ${this.waiting.length} queued; try again later`, { backend: this.backend })
    }
    await new Promise<void>((resolve, reject) => {
      const go = () => { signal?.removeEventListener('abort', onAbort); resolve() }
      const onAbort = () => {
        const at = this.waiting.indexOf(go)
        if (at >= 0) this.waiting.splice(at, 1)
        reject(new RpcError(RpcCode.RequestTimeout, 'cancelled while queued', { backend: this.backend }))
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.waiting.push(go)
    })
    this.active++
  }

  release (): void {
    this.active--
    this.waiting.shift()?.()
  }
}
