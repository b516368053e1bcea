import type { WindowPoint } from '../mcp/call-window.js'

// The status page's small charts: inline SVG drawn on the server, no script and no library.

const WIDTH = 240
const HEIGHT = 44
const PAD = 2

/** A rounded number for an axis label: 0.1234 → "0.12", 1234 → "1234". */
export function short (value: number): string {
  if (value === 0) return '0'
  if (value >= 100) return String(Math.round(value))
  if (value >= 10) return value.toFixed(1).replace(/\.0$/, '')
  return value.toPrecision(2).replace(/\.?0+$/, '')
}

function x (i: number, n: number): number {
  return PAD + (n <= 1 ? 0 : (i * (WIDTH - 2 * PAD)) / (n - 1))
}

function y (value: number, max: number): number {
  return HEIGHT - PAD - (max === 0 ? 0 : (value * (HEIGHT - 2 * PAD)) / max)
}

function frame (label: string, max: string, inner: string): string {
  return `<svg class="chart" role="img" aria-label="${label}" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" xmlns="http://www.w3.org/2000/svg">` +
    `<rect x="0" y="0" width="${WIDTH}" height="${HEIGHT}" fill="#fafafa" stroke="#ddd"/>${inner}` +
    `<text x="4" y="11" font-size="10" fill="#666">${max}</text></svg>`
}

/** Calls per second over the window, one bar per slot; failed calls in red on top. */
export function rateChart (points: WindowPoint[]): string {
  const max = Math.max(0, ...points.map((p) => p.rate))
  const step = (WIDTH - 2 * PAD) / Math.max(1, points.length)
  const bars = points.map((p, i) => {
    if (p.calls === 0) return ''
    const top = y(p.rate, max)
    const errTop = y((p.errors / p.calls) * p.rate, max)
    const left = (PAD + i * step).toFixed(1)
    const w = Math.max(1, step - 1).toFixed(1)
    const ok = `<rect x="${left}" y="${top.toFixed(1)}" width="${w}" height="${(HEIGHT - PAD - top).toFixed(1)}" fill="#4a7fc1"/>`
    const err = p.errors > 0 ? `<rect x="${left}" y="${errTop.toFixed(1)}" width="${w}" height="${(HEIGHT - PAD - errTop).toFixed(1)}" fill="#c14a4a"/>` : ''
    return ok + err
  }).join('')
  return frame('calls per second', `${short(max)}/s`, bars)
}

function line (points: WindowPoint[], pick: (p: WindowPoint) => number | undefined, max: number, color: string): string {
  const coords = points.map((p, i) => [i, pick(p)] as const).filter(([, v]) => v !== undefined)
  if (coords.length === 0) return ''
  if (coords.length === 1) {
    const [i, v] = coords[0]
    return `<circle cx="${x(i, points.length).toFixed(1)}" cy="${y(v!, max).toFixed(1)}" r="2" fill="${color}"/>`
  }
  const d = coords.map(([i, v]) => `${x(i, points.length).toFixed(1)},${y(v!, max).toFixed(1)}`).join(' ')
  return `<polyline points="${d}" fill="none" stroke="${color}" stroke-width="1.5"/>`
}

/** Latency percentiles over the window: p50, p95 and p99 lines, ms. */
export function latencyChart (points: WindowPoint[]): string {
  const max = Math.max(0, ...points.map((p) => p.p99 ?? 0))
  const lines = line(points, (p) => p.p50, max, '#4a7fc1') + line(points, (p) => p.p95, max, '#d08c2b') + line(points, (p) => p.p99, max, '#c14a4a')
  return frame('latency percentiles p50, p95, p99', `${short(max)} ms`, lines)
}
