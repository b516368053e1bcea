/**
 * Resource URIs on the aggregated endpoint (docs/naming.md). A backend's URI is exposed as it is
 * whenever a client reading it back bare reaches that backend again: that backend alone lists it, or
 * (a URI no list names: a template's expansion, a tool's resource_link) that backend alone uses its
 * origin, the scheme and authority. Every other URI is exposed in the gateway's own form,
 * `onemcp://<server>/<the backend's URI>`: the backend's URI follows the server's name verbatim (a
 * URI's characters are all allowed in a path, query and fragment but the brackets of an IP literal:
 * in the backend URI's authority alone, `[`, `]` and `%` are percent-encoded), so the form is a valid URI whenever the backend's is, it is reversed by
 * cutting the prefix, and a template wrapped the same way expands to the wrapped expansion: the RFC 6570
 * expressions stay where they were. Routing a URI is a prefix check or two Map lookups.
 */

/** The scheme of the gateway's own form. Backend URIs of this scheme are always wrapped, so it is never ambiguous. */
export const GATEWAY_SCHEME = 'onemcp'
const PREFIX = `${GATEWAY_SCHEME}://`

/** A URI's scheme and, when it has one, its authority: `demo://resource/x` → `demo://resource`. */
const ORIGIN = /^([A-Za-z][A-Za-z0-9+.-]*):(\/\/[^/?#{]*)?/
/** the RFC 6570 operators whose expansion starts with a delimiter that ends an authority */
const AFTER_AUTHORITY = new Set(['/', '?', '#'])
/** an authority: from `scheme://` to the first `/`, `?` or `#` */
const AUTHORITY = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/?#]*)/

export interface UriTarget {
  backend: string
  /** the backend's own URI (or template) */
  original: string
}

const ESCAPE: Record<string, string> = { '%': '%25', '[': '%5B', ']': '%5D' }
const UNESCAPE: Record<string, string> = { '%25': '%', '%5B': '[', '%5D': ']' }

/** `onemcp://<backend>/<original>`. */
export function wrapUri (backend: string, original: string): string {
  return `${PREFIX}${backend}/${mapAuthority(original, (a) => a.replace(/[%[\]]/g, (c) => ESCAPE[c]))}`
}

/** The backend and original URI of the gateway's own form, or undefined for any other URI. */
export function unwrapUri (uri: string): UriTarget | undefined {
  if (uri.slice(0, PREFIX.length).toLowerCase() !== PREFIX) return undefined
  const slash = uri.indexOf('/', PREFIX.length)
  if (slash <= PREFIX.length) return undefined
  const original = mapAuthority(uri.slice(slash + 1), (a) => a.replace(/%(25|5B|5D)/gi, (c) => UNESCAPE[c.toUpperCase()]))
  return { backend: uri.slice(PREFIX.length, slash), original }
}

/** Rewrites the authority of a URI with `map` (only a URI with a bracket or a percent sign pays for the match). */
function mapAuthority (uri: string, map: (authority: string) => string): string {
  if (!/[[\]%]/.test(uri)) return uri
  const match = AUTHORITY.exec(uri)
  return match ? match[1] + map(match[2]) + uri.slice(match[0].length) : uri
}

/**
 * The origin every URI (or every expansion of a template) starts with, lower-cased scheme first; none
 * for the gateway's own scheme, nor for a template whose expressions can change the origin (an
 * expression in the scheme or authority, or right after a scheme with no authority).
 */
export function originOf (text: string, template = false): string | undefined {
  const match = ORIGIN.exec(text)
  if (!match) return undefined
  const scheme = match[1].toLowerCase()
  if (scheme === GATEWAY_SCHEME) return undefined
  if (template && !originIsLiteral(text, match[0].length, match[2] !== undefined)) return undefined
  return `${scheme}:${match[2] ?? ''}`
}

function originIsLiteral (template: string, end: number, hasAuthority: boolean): boolean {
  const next = template.charAt(end)
  if (hasAuthority) return next !== '{' || AFTER_AUTHORITY.has(template.charAt(end + 1))
  return next !== '{' && next !== '/'
}

interface Listing {
  resources: Array<Record<string, unknown>>
  resourceTemplates: Array<Record<string, unknown>>
}

/**
 * Who owns which resource URIs: built from the backends' lists whenever a list changes, then
 * consulted by Map lookups only.
 */
export class UriIndex {
  /** each listed URI and template → the backends listing it */
  private readonly listed = new Map<string, string[]>()
  /** each origin → the backends whose URIs or templates use it */
  private readonly origins = new Map<string, string[]>()

  constructor (catalogs: Iterable<[string, Listing]> = []) {
    for (const [backend, catalog] of catalogs) {
      for (const item of catalog.resources) this.add(backend, item.uri, false)
      for (const item of catalog.resourceTemplates) this.add(backend, item.uriTemplate, true)
    }
  }

  private add (backend: string, text: unknown, template: boolean): void {
    if (typeof text !== 'string') return
    addOwner(this.listed, text, backend)
    const origin = originOf(text, template)
    if (origin !== undefined) addOwner(this.origins, origin, backend)
  }

  /** The backends that may own a bare URI: those listing it, else those using its origin. */
  owners (uri: string): string[] {
    const listed = this.listed.get(uri)
    if (listed) return listed
    const origin = originOf(uri)
    return (origin === undefined ? undefined : this.origins.get(origin)) ?? []
  }

  /** The backend and original URI a client's URI names, when exactly one backend owns it. */
  resolve (uri: string): UriTarget | undefined {
    const wrapped = unwrapUri(uri)
    if (wrapped) return wrapped
    const owners = this.owners(uri)
    return owners.length === 1 ? { backend: owners[0], original: uri } : undefined
  }

  /** The URI a client is given for a backend's URI: the original when it routes back there, else the gateway's form. */
  expose (backend: string, original: string): string {
    const owners = this.owners(original)
    return owners.length === 1 && owners[0] === backend && originOf(original) !== undefined ? original : wrapUri(backend, original)
  }

  /** The template a client is given: the original when every expansion routes back to its backend, else the gateway's form. */
  exposeTemplate (backend: string, template: string): string {
    const origin = originOf(template, true)
    const owners = origin === undefined ? undefined : this.origins.get(origin)
    return owners?.length === 1 && owners[0] === backend ? template : wrapUri(backend, template)
  }
}

function addOwner (map: Map<string, string[]>, key: string, backend: string): void {
  const owners = map.get(key)
  if (!owners) map.set(key, [backend])
  else if (!owners.includes(backend)) owners.push(backend)
}
