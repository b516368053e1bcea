import { BrokenCircuitError, circuitBreaker, CircuitState, ConsecutiveBreaker, CountBreaker, handleWhen, type CircuitBreakerPolicy, type IBreaker } from 'cockatiel'
import { DEFAULTS, type BreakerSettings } from '../schemas/config.js'
import { RpcCode, RpcError } from './errors.js'

/** Opens on whichever of its breakers would: so many failures in a row, or too high a share of the last calls. */
class EitherBreaker implements IBreaker {
  constructor (private readonly breakers: IBreaker[]) {}
  get state (): unknown { return this.breakers.map((b) => b.state) }
  set state (value: unknown) { (value as unknown[]).forEach((s, i) => { this.breakers[i]!.state = s }) }
  success (state: CircuitState): void { for (const b of this.breakers) b.success(state) }
  failure (state: CircuitState): boolean {
    let open = false
    for (const b of this.breakers) open = b.failure(state) || open
    return open
  }
}

/**
 * Whether a failure says the backend is out (unreachable, gone mid-call, or silent past its timeout),
 * as opposed to an answer of its own or a cancellation by the client: only these count against the breaker.
 */
export function isOutage (err: unknown): boolean {
  if (!(err instanceof RpcError)) return false
  if (err.code === RpcCode.BackendUnavailable) return true
  return err.code === RpcCode.RequestTimeout && (err.data as { timeout?: number } | undefined)?.timeout !== undefined
}

/**
 * The circuit breaker in front of one remote replica (cockatiel): it opens after `consecutiveFailures`
 * outages in a row or when `failureRate` of the last `window` calls were outages; while open, calls
 * fail at once; after `halfOpenAfterMs` one call goes through as a probe and its outcome closes or reopens it.
 */
export function remoteBreaker (settings: BreakerSettings | undefined): CircuitBreakerPolicy {
  const s = { ...DEFAULTS.breaker, ...settings }
  return circuitBreaker(handleWhen(isOutage), {
    halfOpenAfter: s.halfOpenAfterMs,
    breaker: new EitherBreaker([
      new ConsecutiveBreaker(s.consecutiveFailures),
      new CountBreaker({ threshold: s.failureRate, size: s.window })
    ])
  })
}

/** The error a call gets while its replica's breaker is open. */
export function openCircuitError (err: unknown, server: string, replica: string, lastError: string | undefined): unknown {
  if (!(err instanceof BrokenCircuitError)) return err
  return new RpcError(RpcCode.BackendUnavailable, `backend '${server}' ${replica} is failing fast: its circuit breaker is open after repeated failures (last: ${lastError ?? 'unknown'}); a probe call is let through shortly`, { backend: server, replica, breaker: 'open' })
}

export function breakerState (policy: CircuitBreakerPolicy | undefined): 'closed' | 'open' | 'half-open' | undefined {
  if (!policy) return undefined
  if (policy.state === CircuitState.HalfOpen) return 'half-open'
  return policy.state === CircuitState.Closed ? 'closed' : 'open'
}
