/**
 * The last minutes of calls per backend, for the status page: calls per second, errors and latency
 * percentiles in fixed time slots. Memory is bounded: per backend `slots` slots, each with at most
 * `samplesPerSlot` latencies (a reservoir sample once a slot has more calls), so a busy backend costs
 * the same as a quiet one. Plain TS, fed from the one place calls are observed (plugins/metrics.ts).
 */

export interface WindowPoint {
  /** the slot's start, ms since the epoch */
  at: number
  calls: number
  errors: number
  /** calls per second over the slot */
  rate: number
  /** latency percentiles of the slot's calls, ms (undefined when it had none) */
  p50?: number
  p95?: number
  p99?: number
}

interface Slot { start: number, calls: number, errors: number, samples: number[] }

interface CallWindowOptions {
  /** length of one slot, ms */
  slotMs?: number
  /** slots kept per backend (the window is slotMs × slots) */
  slots?: number
  samplesPerSlot?: number
  now?: () => number
  /** for the reservoir: a number in [0, 1) */
  random?: () => number
}

/** At most this many backends are tracked (a config names them; this only bounds a runaway). */
const MAX_BACKENDS = 1000

export class CallWindow {
  readonly slotMs: number
  readonly slots: number
  private readonly samplesPerSlot: number
  private readonly now: () => number
  private readonly random: () => number
  private readonly rings = new Map<string, Slot[]>()

  constructor (opts: CallWindowOptions = {}) {
    this.slotMs = opts.slotMs ?? 5000
    this.slots = opts.slots ?? 60
    this.samplesPerSlot = opts.samplesPerSlot ?? 64
    this.now = opts.now ?? Date.now
    this.random = opts.random ?? Math.random
  }

  /** One finished call to `backend`, `ms` long. */
  observe (backend: string, ms: number, failed: boolean): void {
    let ring = this.rings.get(backend)
    if (!ring) {
      if (this.rings.size >= MAX_BACKENDS) return
      ring = []
      this.rings.set(backend, ring)
    }
    const start = this.slotStart(this.now())
    let slot = ring[ring.length - 1]
    if (slot?.start !== start) {
      slot = { start, calls: 0, errors: 0, samples: [] }
      ring.push(slot)
      if (ring.length > this.slots) ring.shift()
    }
    slot.calls++
    if (failed) slot.errors++
    if (slot.samples.length < this.samplesPerSlot) slot.samples.push(ms)
    else {
      // reservoir sampling: each of the slot's calls is kept with the same chance
      const i = Math.floor(this.random() * slot.calls)
      if (i < this.samplesPerSlot) slot.samples[i] = ms
    }
  }

  /** The backend's slots over the window, oldest first, with empty slots for the quiet ones. */
  series (backend: string): WindowPoint[] {
    const ring = this.rings.get(backend) ?? []
    const current = this.slotStart(this.now())
    const bySlot = new Map(ring.map((s) => [s.start, s]))
    const points: WindowPoint[] = []
    for (let i = this.slots - 1; i >= 0; i--) {
      const at = current - i * this.slotMs
      const slot = bySlot.get(at)
      points.push(slot ? this.point(slot) : { at, calls: 0, errors: 0, rate: 0 })
    }
    return points
  }

  /** A removed backend's history goes with it. */
  forget (backend: string): void {
    this.rings.delete(backend)
  }

  get backends (): string[] {
    return [...this.rings.keys()]
  }

  private slotStart (ms: number): number {
    return ms - (ms % this.slotMs)
  }

  private point (slot: Slot): WindowPoint {
    const sorted = [...slot.samples].sort((a, b) => a - b)
    return {
      at: slot.start,
      calls: slot.calls,
      errors: slot.errors,
      rate: slot.calls / (this.slotMs / 1000),
      p50: percentile(sorted, 0.5),
      p95: percentile(sorted, 0.95),
      p99: percentile(sorted, 0.99)
    }
  }
}

/** The nearest-rank percentile of sorted values. */
function percentile (sorted: number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}
