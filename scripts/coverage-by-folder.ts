// Per-folder coverage thresholds, which tap's own (whole-run) thresholds cannot express.
// Reads the json-summary report that `tap` writes (see "coverage-report" in package.json) and
// fails when a folder's lines or branches fall under its minimum. `npm test` runs it after tap.
import { existsSync, readFileSync } from 'node:fs'
import { relative, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

export const MINIMUM = { lines: 90, branches: 90 }
export const FOLDERS = ['plugins', 'routes', 'backends', 'mcp']

interface Count { covered: number, total: number }
/** One file's entry in istanbul's json-summary report (the metrics used here). */
type Summary = Record<string, { lines: Count, branches: Count }>
interface FolderTotals { files: number, lines: Count, branches: Count }

/** Sums the per-file counts of a json-summary report into one per folder. */
export function byFolder (summary: Summary, root: string, folders = FOLDERS): Record<string, FolderTotals> {
  const totals: Record<string, FolderTotals> = Object.fromEntries(folders.map((f) => [f, { files: 0, lines: { covered: 0, total: 0 }, branches: { covered: 0, total: 0 } }]))
  for (const [file, counts] of Object.entries(summary)) {
    if (file === 'total') continue
    const folder = relative(root, resolve(root, file)).split(/[\\/]/)[0]
    const into = totals[folder]
    if (!into) continue
    into.files++
    for (const metric of ['lines', 'branches'] as const) {
      into[metric].covered += counts[metric].covered
      into[metric].total += counts[metric].total
    }
  }
  return totals
}

const percent = ({ covered, total }: Count): number => total === 0 ? 100 : Math.floor((covered / total) * 10_000) / 100

/** One line per folder, and the failures (a folder below a minimum, or with no file covered at all). */
export function check (totals: Record<string, FolderTotals>, minimum = MINIMUM): { lines: string[], failures: string[] } {
  const lines: string[] = []
  const failures: string[] = []
  for (const [folder, t] of Object.entries(totals)) {
    const lp = percent(t.lines)
    const bp = percent(t.branches)
    lines.push(`${folder.padEnd(10)} lines ${String(lp).padStart(6)}%  branches ${String(bp).padStart(6)}%  (${t.files} files)`)
    if (t.files === 0) failures.push(`${folder}/: no coverage recorded`)
    if (lp < minimum.lines) failures.push(`${folder}/: lines ${lp}% < ${minimum.lines}%`)
    if (bp < minimum.branches) failures.push(`${folder}/: branches ${bp}% < ${minimum.branches}%`)
  }
  return { lines, failures }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const root = process.cwd()
  const report = resolve(root, process.argv[2] ?? '.tap/report/coverage-summary.json')
  if (!existsSync(report)) {
    process.stderr.write(`coverage: ${report} is missing; run tap with coverage first\n`)
    process.exit(1)
  }
  const { lines, failures } = check(byFolder(JSON.parse(readFileSync(report, 'utf8')), root))
  process.stdout.write(`coverage by folder (minimum: lines ${MINIMUM.lines}%, branches ${MINIMUM.branches}%)\n${lines.join('\n')}\n`)
  if (failures.length) {
    process.stderr.write(`coverage too low:\n  ${failures.join('\n  ')}\n`)
    process.exit(1)
  }
}
