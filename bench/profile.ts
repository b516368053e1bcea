/**
 * Summarizes a V8 CPU profile (`node --cpu-prof`, or `npm run bench -- --profile DIR`):
 * self time by function and by package/file, heaviest first.
 *
 *   node --import tsx bench/profile.ts DIR/CPU.xxx.cpuprofile [TOP] [FROM_MS] [TO_MS]
 *
 * Idle time is left out; FROM_MS..TO_MS (after the process started) selects a window, such as the
 * one `npm run bench -- --profile DIR` prints for the 8x4 load.
 */
import { readFileSync } from 'node:fs'

interface Node { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, children?: number[] }
interface Profile { nodes: Node[], samples: number[], timeDeltas: number[] }

const [file, topText, fromText, toText] = process.argv.slice(2)
if (!file) {
  process.stderr.write('usage: bench/profile.ts FILE.cpuprofile [TOP]\n')
  process.exit(2)
}
const top = Number(topText ?? 30)
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const fromUs = Number(fromText ?? 0) * 1000
const toUs = toText ? Number(toText) * 1000 : Infinity
const idle = new Set(profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id))
const self = new Map<number, number>()
let elapsed = 0
profile.samples.forEach((id, i) => {
  elapsed += profile.timeDeltas[i] ?? 0
  if (elapsed < fromUs || elapsed > toUs || idle.has(id)) return
  self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
})
const total = [...self.values()].reduce((a, b) => a + b, 0)

function where (url: string): string {
  if (!url) return '(native)'
  const nm = url.lastIndexOf('node_modules/')
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/')
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]
  }
  if (url.startsWith('node:')) return url
  return url.replace(/^file:\/\/.*?\/(?=(routes|plugins|backends|schemas|app|server)\b)/, '')
}

const functions = new Map<string, number>()
const places = new Map<string, number>()
for (const [id, us] of self) {
  const { functionName, url, lineNumber } = byId.get(id)!.callFrame
  const place = where(url)
  const key = `${functionName || '(anonymous)'}  ${place}${url ? `:${lineNumber + 1}` : ''}`
  functions.set(key, (functions.get(key) ?? 0) + us)
  places.set(place, (places.get(place) ?? 0) + us)
}
const pct = (us: number) => `${(100 * us / total).toFixed(1).padStart(5)}%`
const print = (title: string, map: Map<string, number>) => {
  process.stdout.write(`\n${title}\n`)
  for (const [key, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${pct(us)}  ${key}\n`)
}
process.stdout.write(`${(total / 1000).toFixed(0)} ms busy (idle left out)\n`)
print('self time by package or file', places)
print('self time by function', functions)
