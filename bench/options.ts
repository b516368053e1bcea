/** The benchmark's command line and the durations and sizes it sets (see run.ts). */
import { parseArgs } from 'node:util'

export const { values: flags } = parseArgs({
  options: {
    json: { type: 'boolean' },
    quick: { type: 'boolean' },
    profile: { type: 'string' },
    'log-level': { type: 'string' },
    'calls-only': { type: 'boolean' },
    'replicas-only': { type: 'boolean' },
    'instances-only': { type: 'boolean' },
    source: { type: 'boolean' }
  },
  strict: true
})
const scale = flags.quick ? 0.4 : 1
export const WARMUP_MS = 700 * scale
export const SEQUENTIAL_MS = 2100 * scale
export const CONCURRENT_MS = 2400 * scale
export const LIST_MS = 1200 * scale
export const IDLE_SESSIONS = 1000
export const LIST_BACKENDS = 20
export const TOOLS_PER_BACKEND = 50
export const TRIALS = 3
export const ROUNDS = 3

export type Target = 'gateway' | 'direct' | 'floor' | 'ceiling'

export const progress = (text: string) => { if (!flags.json) process.stderr.write(`  ${text}\n`) }
