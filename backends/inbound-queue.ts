import { DEFAULTS } from '../schemas/config.js'
/** messages handed on in a row before the queue lets the event loop serve other connections */
const BATCH = 256

export interface InboundQueueOptions {
  /** messages held before the source is paused; it is resumed once they are down to a quarter */
  maxQueued?: number
  /** stops reading from the backend (a stdio child's stdout; the child then blocks on its pipe) */
  pause?: () => void
  resume?: () => void
}

interface Item { step: () => void, waits: boolean, seq: number }

/**
 * A connection's messages on their way to the SDK client: handed on one at a time and in order, the
 * handlers of a notification run before the next message. The SDK runs notification handlers a
 * microtask late but handles a response at once, dropping the request's progress handler: a backend's
 * last progress notification read together with the response (one stdio chunk) was otherwise lost.
 *
 * Bounded, so that a backend writing faster than its messages are handled cannot grow the gateway's
 * memory. A message waits one microtask after a notification (never a turn of the event loop: one
 * notification per turn fell behind a flood, and the backlog grew without bound); after BATCH messages
 * in a row the queue yields a turn, so other backends and clients are served; when `maxQueued`
 * messages wait, the source is paused until a quarter is left. While it is paused, log messages
 * (the bulk of a noisy backend's traffic) wait behind everything else: a ping's answer or a call's
 * progress is not stuck behind thousands of them. Otherwise the order is the backend's.
 */
export class InboundQueue {
  private readonly control: Item[] = []
  private readonly logs: Item[] = []
  private seq = 0
  private scheduled = false
  private budget = BATCH
  private paused = false
  private readonly maxQueued: number

  constructor (private readonly options: InboundQueueOptions = {}) {
    this.maxQueued = options.maxQueued ?? DEFAULTS.server.maxQueuedMessages
  }

  /** Messages waiting now. */
  get size (): number { return this.control.length + this.logs.length }

  /** where a handler that threw is reported (the transport's onerror) */
  onerror: (err: Error) => void = () => {}

  /**
   * Hands `step` (a message's delivery, or the close) on in order. `waits`: a notification, whose
   * handlers run before the next message; `bulk`: a log message, which waits while the source is paused.
   */
  push (step: () => void, waits: boolean, bulk: boolean): void {
    const item = { step, waits, seq: ++this.seq }
    // the common case, a response with nothing before it, costs no queue, promise or timer
    if (!this.scheduled && this.size === 0) {
      this.run(item)
      if (waits) this.schedule()
      return
    }
    (bulk ? this.logs : this.control).push(item)
    this.schedule()
    if (!this.paused && this.size >= this.maxQueued) {
      this.paused = true
      this.options.pause?.()
    }
  }

  private run (item: Item): void {
    try {
      item.step()
    } catch (err) {
      this.onerror(err as Error)
    }
  }

  private schedule (): void {
    if (this.scheduled) return
    this.scheduled = true
    if (this.budget > 0) {
      queueMicrotask(this.drain)
    } else {
      setImmediate(() => {
        this.budget = BATCH
        this.drain()
      })
    }
  }

  private readonly drain = (): void => {
    this.scheduled = false
    for (let item = this.take(); item; item = this.take()) {
      this.run(item)
      if (item.waits || --this.budget <= 0) {
        this.schedule()
        return
      }
    }
    this.budget = BATCH
  }

  /** The next message: the backend's order, except that log messages wait while the source is paused. */
  private take (): Item | undefined {
    const control = this.control[0]
    const log = this.logs[0]
    const item = control && (!log || this.paused || control.seq < log.seq) ? this.control.shift() : this.logs.shift()
    if (this.paused && this.size <= this.maxQueued / 4) {
      this.paused = false
      this.options.resume?.()
    }
    return item
  }
}
