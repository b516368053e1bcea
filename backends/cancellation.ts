type Listener = (reason: unknown) => void

/**
 * The cancellation of one relayed call, as an AbortController would be, except that the AbortSignal
 * (an EventTarget, costly to make and to listen on) is made only for a caller that needs a real one.
 * Almost every call ends without being cancelled; it then costs an object and an empty list.
 */
export class Cancellation {
  aborted = false
  reason: unknown
  private listeners: Listener[] = []
  private controller?: AbortController

  abort (reason: unknown = 'cancelled'): void {
    if (this.aborted) return
    this.aborted = true
    this.reason = reason
    const listeners = this.listeners
    this.listeners = []
    this.controller?.abort(reason)
    // every listener runs, whatever one of them throws; the first error is the caller's
    let failure: { error: unknown } | undefined
    for (const listener of listeners) {
      try {
        listener(reason)
      } catch (error) {
        failure ??= { error }
      }
    }
    if (failure) throw failure.error
  }

  /** Calls `listener` once, when the call is cancelled (at once if it already is); returns what stops listening. */
  onAbort (listener: Listener): () => void {
    if (this.aborted) {
      listener(this.reason)
      return () => {}
    }
    this.listeners.push(listener)
    return () => {
      const at = this.listeners.indexOf(listener)
      if (at >= 0) this.listeners.splice(at, 1)
    }
  }

  /** A real AbortSignal that follows this cancellation, for APIs that take one. */
  get signal (): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController()
      if (this.aborted) this.controller.abort(this.reason)
    }
    return this.controller.signal
  }
}
