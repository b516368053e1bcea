// `npm audit --omit=dev --audit-level=high`, telling "vulnerable" apart from "could not ask".
// npm exits 1 both when it finds advisories and when the registry's advisory endpoint cannot be
// reached (some registry mirrors answer its POST with 405). The first always fails `npm test`; the
// second fails it only with AUDIT_REQUIRED=1, and otherwise says loudly that nothing was audited.
import { spawnSync } from 'node:child_process'
import { pathToFileURL } from 'node:url'

export const AUDIT_ARGS = ['audit', '--omit=dev', '--audit-level=high', '--json']

interface Report {
  metadata?: { vulnerabilities?: Record<string, number>, dependencies?: { prod?: number } }
  statusCode?: number
  message?: string
  error?: unknown
}

export interface Verdict { ok: boolean, message: string }

/** What one `npm audit --json` run means, from its output and exit code. */
export function verdict (output: string, exitCode: number | null, required: boolean): Verdict {
  let report: Report
  try {
    report = JSON.parse(output) as Report
  } catch {
    return { ok: false, message: `npm audit printed no JSON report (exit ${exitCode})` }
  }
  const counts = report.metadata?.vulnerabilities
  if (counts) {
    const found = Object.entries(counts).filter(([level, n]) => level !== 'total' && n > 0).map(([level, n]) => `${n} ${level}`)
    const summary = found.length ? found.join(', ') : 'no known vulnerabilities'
    return exitCode === 0
      ? { ok: true, message: `npm audit: ${summary} in the runtime dependencies (none high or critical)` }
      : { ok: false, message: `npm audit: ${summary}; fix the high or critical ones (npm audit --omit=dev)` }
  }
  const reason = report.message ?? `exit ${exitCode}`
  return required
    ? { ok: false, message: `npm audit could not reach the advisory endpoint: ${reason}` }
    : { ok: true, message: `WARNING: runtime dependencies NOT audited: the advisory endpoint could not be reached (${reason}); set AUDIT_REQUIRED=1 to make this fail` }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const run = spawnSync('npm', AUDIT_ARGS, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  const { ok, message } = verdict(run.stdout, run.status, process.env.AUDIT_REQUIRED === '1')
  process.stderr.write(message + '\n')
  process.exitCode = ok ? 0 : 1
}
