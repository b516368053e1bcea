const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])
const FORBIDDEN_SCHEMES = new Set(['javascript:', 'data:', 'file:', 'vbscript:', 'about:', 'blob:', 'filesystem:'])

/**
 * Why a redirect URI cannot be registered, or undefined when it can: https anywhere, http only on
 * loopback (native apps, RFC 8252), or a private-use scheme; never a fragment.
 */
export function redirectUriProblem (uri: string): string | undefined {
  if (uri.length > 2000) return 'is too long'
  let url: URL
  try {
    url = new URL(uri)
  } catch {
    return 'is not an absolute URI'
  }
  if (url.hash || uri.includes('#')) return 'must not have a fragment'
  if (url.protocol === 'https:') return undefined
  if (url.protocol === 'http:') return LOOPBACK.has(url.hostname) ? undefined : 'must use https unless it is a loopback address'
  if (FORBIDDEN_SCHEMES.has(url.protocol)) return `must not use the ${url.protocol} scheme`
  return undefined
}
