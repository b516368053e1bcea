import { escapeHtml } from '../auth/pages.js'
import type { WindowPoint } from '../mcp/call-window.js'
import type { HealthReport } from '../schemas/health.js'
import { latencyChart, rateChart, short } from './status-charts.js'

// The HTML of the status page: the whole page once, then the same <main> again on every live update.

/** What the page shows: the health report, each backend's pid and its last minutes of calls. */
export interface StatusModel {
  report: HealthReport
  pids: Map<string, number | undefined>
  series: (backend: string) => WindowPoint[]
  /** the window the charts cover, minutes */
  windowMinutes: number
  generatedAt: Date
  /** the path the gateway is served under (the Authorize forms post below it) */
  basePath?: string
}

type Backend = HealthReport['backends'][number] & { replicas?: unknown }

const STATE_COLORS: Record<string, string> = { ready: '#1a7f37', starting: '#9a6700', restarting: '#9a6700', stopped: '#666', 'crash-loop': '#b00' }

function stateBadge (state: string): string {
  return `<span class="state" style="color:${STATE_COLORS[state] ?? '#b00'}">${escapeHtml(state)}</span>`
}

/** One replica of a backend as the health data gives it (another part adds `replicas`): its plain fields. */
function replicaText (replica: unknown): string {
  if (replica === null || typeof replica !== 'object') return escapeHtml(String(replica))
  const fields = Object.entries(replica as Record<string, unknown>).filter(([, v]) => ['string', 'number', 'boolean'].includes(typeof v))
  return fields.map(([k, v]) => k === 'state' ? stateBadge(String(v)) : `${escapeHtml(k)} <code>${escapeHtml(String(v))}</code>`).join(' ')
}

function replicas (backend: Backend): string {
  if (!Array.isArray(backend.replicas) || backend.replicas.length === 0) return ''
  return `<ul class="replicas">${backend.replicas.map((r) => `<li class="replica">${replicaText(r)}</li>`).join('')}</ul>`
}

function lastCalls (points: WindowPoint[]): string {
  const calls = points.reduce((n, p) => n + p.calls, 0)
  const errors = points.reduce((n, p) => n + p.errors, 0)
  const recent = [...points].reverse().find((p) => p.p95 !== undefined)
  return `<span class="muted">${calls} calls, ${errors} failed${recent ? `; last p50 ${short(recent.p50!)} ms, p95 ${short(recent.p95!)} ms` : ''}</span>`
}

/** For a server that waits for the owner's login: the button that starts it (routes/status.ts sends the browser on to the authorization server). */
function authorizeForm (backend: Backend, model: StatusModel): string {
  if (backend.state !== 'needs-auth') return ''
  return `<form class="authorize" method="post" action="${escapeHtml(`${model.basePath ?? ''}/status/authorize/${encodeURIComponent(backend.name)}`)}"><button type="submit">Authorize</button></form>`
}

function backendRow (backend: Backend, model: StatusModel): string {
  const pid = model.pids.get(backend.name)
  const points = model.series(backend.name)
  const error = backend.lastError ? `<div class="error last-error">${escapeHtml(backend.lastError)}<span class="muted"> (${escapeHtml(backend.lastErrorAt ?? '')})</span></div>` : ''
  return `<tr class="backend" data-backend="${escapeHtml(backend.name)}"${pid !== undefined ? ` data-pid="${pid}"` : ''}>
<td><strong class="name">${escapeHtml(backend.name)}</strong><div class="muted">${escapeHtml(backend.transport)}${pid !== undefined ? ` · pid <span class="pid">${pid}</span>` : ''}${backend.tags.length ? ` · ${backend.tags.map(escapeHtml).join(', ')}` : ''}</div>${replicas(backend)}</td>
<td>${stateBadge(backend.state)}<div class="muted">since ${escapeHtml(backend.since)}</div>${error}${authorizeForm(backend, model)}</td>
<td class="num restarts">${backend.restarts}</td>
<td class="num tools">${backend.tools}</td>
<td>${rateChart(points)}${latencyChart(points)}${lastCalls(points)}</td></tr>`
}

function configSection (config: HealthReport['config']): string {
  const validity = config.valid
    ? '<span class="ok config-valid">valid</span>'
    : `<span class="error config-valid">invalid</span>: ${escapeHtml(config.error ?? '')} <span class="muted">(${escapeHtml(config.errorAt ?? '')}; the last good config is in force)</span>`
  const pending = config.pendingRestart.length
    ? `changes that need a restart of the gateway: ${config.pendingRestart.map((k) => `<code>${escapeHtml(k)}</code>`).join(', ')}`
    : 'no change waits for a restart'
  return `<h2>Config</h2><p>The config file is ${validity}, loaded ${escapeHtml(config.loadedAt)}.</p><p class="pending-restart">${pending}</p>`
}

/** The part of the page that live updates replace. */
export function statusMain (model: StatusModel): string {
  const { report } = model
  const problems = report.problems.length ? `<ul class="problems">${report.problems.map((p) => `<li class="error">${escapeHtml(p)}</li>`).join('')}</ul>` : ''
  const rows = report.backends.map((b) => backendRow(b, model)).join('\n')
  const collisions = report.collisions.length ? `<p class="error">${report.collisions.length} name collisions between backends (see <code>/health</code>)</p>` : ''
  return `<p>Status <strong class="overall">${escapeHtml(report.status)}</strong> · version ${escapeHtml(report.version)} · up ${report.uptimeSeconds} s ·
<span class="sessions">${report.sessions}</span> client session${report.sessions === 1 ? '' : 's'} · auth ${report.auth.enabled ? 'on' : '<span class="error">off</span>'}</p>${problems}
<h2>Backends</h2>
<table><thead><tr><th>backend</th><th>state</th><th>restarts</th><th>tools</th><th>last ${model.windowMinutes} minutes: calls/s (<span style="color:#c14a4a">failed</span>), latency <span style="color:#4a7fc1">p50</span> <span style="color:#d08c2b">p95</span> <span style="color:#c14a4a">p99</span></th></tr></thead>
<tbody>${rows || '<tr><td colspan="5" class="muted">no MCP servers are configured</td></tr>'}</tbody></table>${collisions}
${configSection(report.config)}
<p class="muted">as of ${escapeHtml(model.generatedAt.toISOString())}</p>`
}

/**
 * The page. The one script (allowed by its nonce) opens the event stream and swaps in each new
 * <main>; the HTML it receives is rendered and escaped here, like the first.
 */
export function statusPage (opts: { main: string, nonce: string, eventsPath: string }): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Status · 1MCP Gateway</title>
<style>body{font:15px/1.45 system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.3rem}h2{font-size:1.1rem;margin-top:1.5rem}table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;border-bottom:1px solid #eee;padding:.4rem .5rem}th{font-weight:600;font-size:.85rem;color:#555}
.num{text-align:right}.muted{color:#666;font-size:.85rem}.error{color:#a00}.ok{color:#1a7f37}.state{font-weight:600}
code{background:#f3f3f3;padding:0 .2rem}.replicas{margin:.3rem 0 0;padding-left:1rem;font-size:.85rem}.chart{display:block;margin:.1rem 0}
#live{font-size:.85rem;color:#666}</style></head>
<body><h1>1MCP Gateway status <span id="live">(static)</span></h1>
<main id="status" data-events="${escapeHtml(opts.eventsPath)}">${opts.main}</main>
<script nonce="${escapeHtml(opts.nonce)}">
(() => {
  const main = document.getElementById('status')
  const live = document.getElementById('live')
  const events = new EventSource(main.dataset.events)
  events.addEventListener('status', (e) => { main.innerHTML = JSON.parse(e.data).main; live.textContent = '(live)' })
  events.addEventListener('error', () => { live.textContent = '(reconnecting…)' })
})()
</script></body></html>`
}
