import t from 'tap'
import { verdict } from '../../scripts/audit.js'

const report = (vulnerabilities: Record<string, number>) => JSON.stringify({ auditReportVersion: 2, vulnerabilities: {}, metadata: { vulnerabilities } })

t.test('a clean report passes, and says what it saw', async (t) => {
  const v = verdict(report({ info: 0, low: 1, moderate: 0, high: 0, critical: 0, total: 1 }), 0, false)
  t.equal(v.ok, true)
  t.match(v.message, /1 low/)
})

t.test('a high or critical advisory fails (npm exits 1 at --audit-level=high)', async (t) => {
  const v = verdict(report({ info: 0, low: 0, moderate: 0, high: 2, critical: 1, total: 3 }), 1, false)
  t.equal(v.ok, false)
  t.match(v.message, /2 high, 1 critical/)
})

t.test('an unreachable advisory endpoint warns, and fails only when an audit is required', async (t) => {
  const unreachable = JSON.stringify({ message: '405 Method Not Allowed - POST …/advisories/bulk', statusCode: 405 })
  const lax = verdict(unreachable, 1, false)
  t.equal(lax.ok, true)
  t.match(lax.message, /NOT audited.*405/)
  t.equal(verdict(unreachable, 1, true).ok, false)
})

t.test('output that is not a report fails', async (t) => {
  t.equal(verdict('npm ERR! something', 1, false).ok, false)
})
