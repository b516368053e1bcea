const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])
const MAX_LENGTH = 2000
/**
 * The app schemes of MCP clients in wide use that predate RFC 8252's reverse-DNS rule (Cursor
 * registers `cursor://anysphere.cursor-mcp/oauth/callback`): these apps own them, and no browser or
 * system gives them a meaning of its own.
 */
const MCP_CLIENT_SCHEMES = new Set(['cursor:', 'vscode:', 'vscode-insiders:'])

/** What is wrong with the scheme and host of a parsed redirect URI, if anything. */
function schemeProblem (url: URL): string | undefined {
  if (url.protocol === 'https:') return undefined
  if (url.protocol === 'http:') return LOOPBACK.has(url.hostname) ? undefined : 'must use https unless it is a loopback address'
  // a private-use scheme must be a reverse domain name: the schemes browsers and systems give a
  // meaning to (javascript:, data:, file:, view-source:, chrome:, ms-msdt:…) have no dot
  if (url.protocol.slice(0, -1).includes('.')) return undefined
  if (MCP_CLIENT_SCHEMES.has(url.protocol)) return undefined
  return `must use https, http on a loopback address, or a reverse-DNS private-use scheme such as com.example.app:/callback, or the app scheme of a known MCP client (cursor:, vscode:) (not ${url.protocol})`
}

/**
 * A redirect URI as the gateway stores and compares it: its WHATWG URL serialisation (what a browser
 * navigates to), so `https:evil.example` is `https://evil.example/` on the consent page and in the
 * redirect. Allowed: https; http on a loopback address (native apps, RFC 8252 §7.3); a reverse-DNS
 * private-use scheme (RFC 8252 §7.1: `com.example.app:/callback`). Never a fragment, never credentials.
 */
export function checkRedirectUri (uri: string): { uri: string } | { problem: string } {
  if (uri.length > MAX_LENGTH) return { problem: 'is too long' }
  let url: URL
  try {
    url = new URL(uri)
  } catch {
    return { problem: 'is not an absolute URI' }
  }
  if (url.hash || uri.includes('#')) return { problem: 'must not have a fragment' }
  if (url.username || url.password) return { problem: 'must not carry credentials' }
  const problem = schemeProblem(url)
  if (problem) return { problem }
  return url.href.length > MAX_LENGTH ? { problem: 'is too long once normalised' } : { uri: url.href }
}

/**
 * The registered redirect URI that `asked` names, in its stored form, or undefined when none does:
 * both sides normalised, so a URI registered before normalisation, or sent as `http://127.0.0.1:8080`
 * for a stored `http://127.0.0.1:8080/`, still matches, and one that is refused today never does.
 */
export function matchRedirectUri (registered: string[], asked: string): string | undefined {
  const wanted = checkRedirectUri(asked)
  if (!('uri' in wanted)) return undefined
  return registered.map(checkRedirectUri).find((r): r is { uri: string } => 'uri' in r && r.uri === wanted.uri)?.uri
}
