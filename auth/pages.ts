import { ALL_SERVERS_SCOPE, TAG_PREFIX } from './scopes.js'

/**
 * Headers for every page the owner sees: no framing, no scripts, no caching, no referrer to other
 * origins. `same-origin` rather than `no-referrer`: under `no-referrer` a browser sends `Origin: null`
 * with the page's own form posts, and the login and consent posts are checked by their Origin.
 */
export const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store'
} as const

export function escapeHtml (value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

function page (title: string, body: string, head = ''): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">${head}
<title>${escapeHtml(title)} · 1MCP Gateway</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#222}
h1{font-size:1.3rem}code{background:#f3f3f3;padding:0 .2rem}.box{border:1px solid #ddd;border-radius:6px;padding:1rem;margin:1rem 0}
button{font-size:1rem;padding:.4rem 1rem;margin-right:.5rem}input[type=password]{font-size:1rem;width:100%;padding:.3rem}
label{display:block;margin:.2rem 0}.muted{color:#666;font-size:.9rem}.error{color:#a00}</style></head>
<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`
}

/** What the owner is asked to approve: which client, where the code goes, and for which resource (RFC 8707). */
export interface ClientView {
  clientId: string
  name?: string
  redirectUri: string
  resource: string
}

function describeClient (client: ClientView): string {
  return `<div class="box"><strong>${escapeHtml(client.name ?? 'An unnamed client')}</strong>
<div class="muted">client id <code>${escapeHtml(client.clientId)}</code><br>
the answer goes to <code>${escapeHtml(client.redirectUri)}</code><br>
access to <code>${escapeHtml(client.resource)}</code></div></div>`
}

export function describeScope (scope: string): string {
  if (scope === ALL_SERVERS_SCOPE) return 'every MCP server of this gateway'
  if (scope.startsWith(TAG_PREFIX)) return `the MCP servers tagged <code>${escapeHtml(scope.slice(TAG_PREFIX.length))}</code>`
  return escapeHtml(scope)
}

/** `basePath`: the path of the public base URL (`/gw` for `https://host/gw`), where the forms post. */
export function loginPage (opts: { requestId: string, csrf: string, client: ClientView, basePath: string, error?: string }): string {
  return page('Log in to approve access', `${describeClient(opts.client)}
<p>This client asks for access to the MCP servers of this gateway. Enter the owner passphrase to continue.</p>
${opts.error ? `<p class="error">${escapeHtml(opts.error)}</p>` : ''}
<form method="post" action="${escapeHtml(opts.basePath)}/authorize/login">
<input type="hidden" name="request_id" value="${escapeHtml(opts.requestId)}">
<input type="hidden" name="csrf_token" value="${escapeHtml(opts.csrf)}">
<label for="passphrase">Owner passphrase</label>
<input type="password" id="passphrase" name="passphrase" autocomplete="current-password" autofocus required>
<p><button type="submit">Log in</button></p></form>`)
}

/** The owner's login to the status page (no client involved): the passphrase, posted to `<basePath>/status/login`. */
export function statusLoginPage (opts: { basePath: string, error?: string }): string {
  return page('Log in to the status page', `<p>Enter the owner passphrase to see the gateway's status.</p>
${opts.error ? `<p class="error">${escapeHtml(opts.error)}</p>` : ''}
<form method="post" action="${escapeHtml(opts.basePath)}/status/login">
<label for="passphrase">Owner passphrase</label>
<input type="password" id="passphrase" name="passphrase" autocomplete="current-password" autofocus required>
<p><button type="submit">Log in</button></p></form>`)
}

export function consentPage (opts: { requestId: string, csrf: string, client: ClientView, basePath: string, scopes: string[], subject: string }): string {
  const boxes = opts.scopes.map((s) => `<label><input type="checkbox" name="scope" value="${escapeHtml(s)}" checked> ${describeScope(s)} <span class="muted">(<code>${escapeHtml(s)}</code>)</span></label>`).join('\n')
  return page('Allow access?', `${describeClient(opts.client)}
<p>Signed in as <code>${escapeHtml(opts.subject)}</code>. The client asks to use:</p>
<form method="post" action="${escapeHtml(opts.basePath)}/authorize/consent">
<input type="hidden" name="request_id" value="${escapeHtml(opts.requestId)}">
<input type="hidden" name="csrf_token" value="${escapeHtml(opts.csrf)}">
<div class="box">${boxes}</div>
<p class="muted">Untick what it should not get. Only approve clients you started yourself.</p>
<p><button type="submit" name="decision" value="approve">Allow</button><button type="submit" name="decision" value="deny">Deny</button></p></form>`)
}

export function errorPage (title: string, message: string): string {
  return page(title, `<p class="error">${escapeHtml(message)}</p><p class="muted">Close this window and start again from the client.</p>`)
}

/** A page that tells the owner something went well. */
export function noticePage (title: string, message: string): string {
  return page(title, `<p>${escapeHtml(message)}</p><p class="muted">You can close this window.</p>`)
}

/**
 * A page that sends the browser on to another site's `url` (a refresh, and a link where refreshes
 * are off): a form of ours may not redirect there itself under the status page's `form-action 'self'`.
 */
export function onwardPage (title: string, message: string, url: string): string {
  return page(title, `<p>${escapeHtml(message)}</p><p><a class="onward" href="${escapeHtml(url)}">Continue</a></p>`, `<meta http-equiv="refresh" content="0; url=${escapeHtml(url)}">`)
}
