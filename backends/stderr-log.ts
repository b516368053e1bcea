import type { Logger } from 'pino'

/** stderr lines logged per backend per second; the rest are counted and summarized */
const STDERR_LINES_PER_SECOND = 20

/** A child's stderr, rate-limited so a chatty or looping child cannot flood the log. */
export class StderrLog {
  private stderrBudget = { second: 0, used: 0, dropped: 0 }

  constructor (private readonly log: Logger) {}

  readonly line = (line: string): void => {
    const second = Math.floor(Date.now() / 1000)
    const budget = this.stderrBudget
    if (budget.second !== second) {
      if (budget.dropped > 0) this.log.warn({ dropped: budget.dropped }, 'backend stderr lines dropped (rate limit)')
      this.stderrBudget = { second, used: 0, dropped: 0 }
    }
    if (this.stderrBudget.used++ < STDERR_LINES_PER_SECOND) this.log.info({ stderr: line.slice(0, 2000) }, 'backend stderr')
    else this.stderrBudget.dropped++
  }
}
