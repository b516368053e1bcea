import type { Logger } from 'pino'
import type { Progress, Result } from '@modelcontextprotocol/client'
import type { ServerConfig } from '../schemas/config.js'
import { Cancellation } from './cancellation.js'
import { backendError, isConnectionFailure, RpcCode, RpcError } from './errors.js'
import { InFlightLimit } from './limit.js'
import type { TransportKind } from './transports.js'
import { DEFAULTS } from '../schemas/config.js'

export interface CallOptions {
  cancellation?: Cancellation
  onprogress?: (progress: Progress) => void
  timeout?: number
  /** safe to send again after a reconnect (lists, reads, read-only or idempotent tools) */
  retryable?: boolean
}

/** What the calls need of their backend. */
export interface CallingBackend {
  readonly name: string
  readonly kind: TransportKind
  readonly config: ServerConfig
  readonly log: Logger
  recycle (reason: string): void
  whenReady (timeoutMs: number, signal?: AbortSignal): Promise<void>
  unavailableReason (): string
}

/** Puts one request on the backend's current connection. */
export type Send = (method: string, params: Record<string, unknown> | undefined, options: CallOptions) => Promise<Result>

/**
 * A backend's calls in flight: at most maxInFlight at once, each with its cancellation so that a
 * broken stream can fail them all at once, and a retryable one sent again after a reconnect.
 */
export class Calls {
  private readonly limit: InFlightLimit
  /** the cancellation of each call on the wire, so that a broken stream can fail them all at once */
  private readonly calls = new Set<Cancellation>()

  constructor (private readonly backend: CallingBackend, private readonly send: Send) {
    this.limit = new InFlightLimit(backend.config.maxInFlight ?? DEFAULTS.server.maxInFlight, backend.name)
  }

  /** Calls in flight now. */
  get active (): number { return this.limit.active }

  /**
   * Sends a request to the backend; rejects with an RpcError naming this backend. A remote
   * backend whose connection broke is reconnected, and a retryable request is sent once more.
   */
  async request (method: string, params: Record<string, unknown> | undefined, options: CallOptions = {}): Promise<Result> {
    if (!this.limit.tryAcquire()) await this.limit.acquire(options.cancellation?.signal)
    if (!options.cancellation) options = { ...options, cancellation: new Cancellation() }
    const cancellation = options.cancellation!
    this.calls.add(cancellation)
    try {
      return await this.send(method, params, options)
    } catch (err) {
      // failed by the backend itself (failCallsInFlight): that reason, not the cancellation it caused
      if (cancellation.reason instanceof RpcError) throw cancellation.reason
      return await this.retry(err, method, params, options)
    } finally {
      this.calls.delete(cancellation)
      this.limit.release()
    }
  }

  /** Fails every call on the wire now with `err` (each backend request is cancelled); the connection stays. */
  private failCallsInFlight (err: RpcError): number {
    const calls = [...this.calls]
    for (const call of calls) call.abort(err)
    return calls.length
  }

  /**
   * The backend wrote a line longer than maxMessageBytes: it is skipped up to its newline and the
   * connection goes on. Which call it answered cannot be read from a message cut short (a response's
   * id is often its last member), so every call in flight on this backend fails at once rather than
   * waiting out its timeout; the process is not restarted (calls after it, and its state, are fine).
   */
  oversized (limit: number): void {
    const err = new RpcError(RpcCode.InternalError, `backend '${this.backend.name}' sent a message larger than ${formatBytes(limit)} (maxMessageBytes); it was discarded and the calls in flight on this backend failed`, { backend: this.backend.name, limit })
    const failedCalls = this.failCallsInFlight(err)
    this.backend.log.warn({ limit, failedCalls }, 'backend sent a message over maxMessageBytes; skipped up to the next newline, calls in flight failed')
  }

  /** After a failed send: a remote connection that broke is reconnected and a retryable request sent once more; else the error. */
  private async retry (err: unknown, method: string, params: Record<string, unknown> | undefined, options: CallOptions): Promise<Result> {
    if (this.backend.kind === 'stdio' || !isConnectionFailure(err)) throw backendError(this.backend.name, err, this.backend.unavailableReason())
    const lost = `connection lost: ${(err as Error).message}`
    this.backend.recycle(lost)
    // the backend did not answer: unavailable (an outage its breaker counts), not a failure of the call
    if (!options.retryable || options.cancellation?.aborted) throw new RpcError(RpcCode.BackendUnavailable, `backend '${this.backend.name}' is unavailable: ${lost}`, { backend: this.backend.name })
    await this.backend.whenReady(this.backend.config.connectionTimeout ?? DEFAULTS.server.connectionTimeout, options.cancellation?.signal)
    try {
      return await this.send(method, params, options)
    } catch (again) {
      throw backendError(this.backend.name, again, this.backend.unavailableReason())
    }
  }

  /** Waits until no call is in flight, or `timeoutMs` has passed. */
  async drain (timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (this.limit.active > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20).unref())
  }
}

/** 10 MB, 512 KB, 1500 bytes: a size limit as an operator wrote it. */
function formatBytes (bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MB`
  if (bytes % 1024 === 0) return `${bytes / 1024} KB`
  return `${bytes} bytes`
}
