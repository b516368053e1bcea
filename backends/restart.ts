import { DEFAULTS, type RestartPolicy } from '../schemas/config.js'

export function restartPolicy (policy: RestartPolicy | undefined): Required<RestartPolicy> {
  return { ...DEFAULTS.restart, ...policy }
}

/**
 * Delay before restart attempt `attempt` (1-based): exponential from `initialDelayMs`,
 * capped at `maxDelayMs`, with ±25% jitter so that backends that failed together
 * do not all come back in the same instant.
 */
export function restartDelay (attempt: number, policy: Required<RestartPolicy>, random = Math.random): number {
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.max(0, attempt - 1))
  const jitter = base * 0.25 * (random() * 2 - 1)
  return Math.max(0, Math.round(base + jitter))
}
