import { lookup as dnsLookup } from 'node:dns/promises'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { BlockList, isIP, type LookupFunction } from 'node:net'
import { ClientMetadataError } from './errors.js'

/** Addresses a client_id URL must never make the gateway fetch from (SSRF). */
const BLOCKED = new BlockList()
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4]
] as const) BLOCKED.addSubnet(net, prefix, 'ipv4')
for (const [net, prefix] of [
  ['::', 128], ['::1', 128], ['64:ff9b::', 96], ['100::', 64], ['2001:db8::', 32], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8]
] as const) BLOCKED.addSubnet(net, prefix, 'ipv6')

/** Whether an IP address is private, loopback, link-local or otherwise not on the public internet. */
export function isNonPublicAddress (address: string): boolean {
  const family = isIP(address)
  if (family === 4) return BLOCKED.check(address, 'ipv4')
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
    if (mapped) return BLOCKED.check(mapped[1], 'ipv4')
    return BLOCKED.check(address, 'ipv6')
  }
  return true
}

/** Loopback addresses (IPv4-mapped ones included: BlockList checks those against the IPv4 rule). */
const LOOPBACK = new BlockList()
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4')
LOOPBACK.addAddress('::1', 'ipv6')

function isLoopbackAddress (address: string): boolean {
  const family = isIP(address)
  return family !== 0 && LOOPBACK.check(address, family === 4 ? 'ipv4' : 'ipv6')
}

/** Whether the gateway may connect to an address: public ones, and loopback ones only in loopback (development) mode. */
function mayConnect (address: string, policy: FetchPolicy): boolean {
  return !isNonPublicAddress(address) || (policy.allowLoopback && isLoopbackAddress(address))
}

export interface ClientMetadataDocument {
  client_id: string
  client_name?: string
  client_uri?: string
  logo_uri?: string
  redirect_uris: string[]
  grant_types?: string[]
  response_types?: string[]
  token_endpoint_auth_method?: string
  scope?: string
}

export interface FetchPolicy {
  /** the gateway runs on loopback (development): http and loopback addresses are allowed, never private or link-local ones */
  allowLoopback: boolean
  timeoutMs?: number
  maxBytes?: number
}

/**
 * The one answer to every failure between the URL check and a JSON document in hand: which address
 * was refused, which port is closed or which status came back must not reach the client (an SSRF
 * oracle). The reason goes to the audit log as `detail`.
 */
export const FETCH_FAILED = 'the client metadata document could not be fetched from the client_id URL'

/** A failure while fetching, reported as `FETCH_FAILED` with the real reason as its detail. */
function unreachable (err: unknown): ClientMetadataError {
  return new ClientMetadataError(FETCH_FAILED, err instanceof ClientMetadataError ? err.detail : (err as Error).message)
}

/** Whether a client_id looks like a Client ID Metadata Document URL (so we should fetch it). */
export function isMetadataDocumentUrl (clientId: string): boolean {
  return /^https?:\/\//i.test(clientId)
}

function checkUrl (clientId: string, policy: FetchPolicy): URL {
  let url: URL
  try {
    url = new URL(clientId)
  } catch {
    throw new ClientMetadataError('client_id is not a valid URL')
  }
  const problem = urlProblem(url, clientId, policy)
  if (problem) throw new ClientMetadataError(problem)
  return url
}

function urlProblem (url: URL, clientId: string, policy: FetchPolicy): string | undefined {
  if (url.protocol !== 'https:' && !(policy.allowLoopback && url.protocol === 'http:')) return 'a client_id URL must use https'
  if (url.username || url.password) return 'a client_id URL must not carry credentials'
  if (url.hash) return 'a client_id URL must not have a fragment'
  if (url.pathname === '/' || url.pathname === '') return 'a client_id URL must have a path'
  if (url.href !== clientId) return 'a client_id URL must be in normal form'
  return undefined
}

/** Resolves the host once, refuses addresses the policy forbids, and pins the connection to what was checked. */
async function resolvePinned (hostname: string, policy: FetchPolicy): Promise<LookupFunction> {
  const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname
  const addresses = isIP(host) ? [{ address: host, family: isIP(host) }] : await dnsLookup(host, { all: true, verbatim: true })
  if (addresses.length === 0) throw new ClientMetadataError(`${host} does not resolve`)
  const bad = addresses.find((a) => !mayConnect(a.address, policy))
  if (bad) throw new ClientMetadataError(`refused without connecting: ${host} resolves to ${bad.address}, not a public address${policy.allowLoopback ? ' or loopback' : ''}`)
  const chosen = addresses[0]
  return ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all) callback(null, [{ address: chosen.address, family: chosen.family }])
    else callback(null, chosen.address, chosen.family)
  }) as unknown as LookupFunction
}

function readBody (res: IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    res.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBytes) {
        res.destroy()
        reject(new ClientMetadataError(`the document is larger than ${maxBytes} bytes`))
        return
      }
      chunks.push(chunk)
    })
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    res.on('error', reject)
  })
}

/** GETs the document over a connection pinned to the checked address, bounded in time (as a whole) and size. */
function download (url: URL, lookup: LookupFunction, policy: FetchPolicy): Promise<string> {
  const timeoutMs = policy.timeoutMs ?? 5000
  const maxBytes = policy.maxBytes ?? 5 * 1024
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise<string>((resolve, reject) => {
    const req = send(url, { method: 'GET', lookup, headers: { accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) }, (res) => {
      const problem = res.statusCode !== 200
        ? `answered ${res.statusCode ?? 'nothing'}`
        : /^application\/([a-z.+-]*\+)?json\b/i.test(res.headers['content-type'] ?? '') ? undefined : 'answered something other than JSON'
      if (problem) {
        res.resume()
        reject(new ClientMetadataError(problem))
        return
      }
      readBody(res, maxBytes).then(resolve, reject)
    })
    req.on('error', (err) => reject(err.name === 'AbortError' ? new ClientMetadataError(`took over ${timeoutMs} ms`) : err))
    req.end()
  })
}

/**
 * Fetches and checks a Client ID Metadata Document: https only, public addresses only (and loopback
 * when the gateway runs on loopback for development; never private or link-local ones), no
 * redirects, bounded in size and time, and the document must name itself as the client_id. Any
 * failure to get a JSON document is the one generic `FETCH_FAILED` (the reason is its `detail`).
 */
export async function fetchClientMetadata (clientId: string, policy: FetchPolicy): Promise<ClientMetadataDocument> {
  const url = checkUrl(clientId, policy)
  let doc: unknown
  try {
    const text = await download(url, await resolvePinned(url.hostname, policy), policy)
    doc = JSON.parse(text)
  } catch (err) {
    throw unreachable(err)
  }
  return checkDocument(doc, clientId)
}

/** A metadata-document client is a public client: no secret, no other authentication method. */
function checkPublicClient (d: Record<string, unknown>): void {
  if (d.client_secret !== undefined || d.client_secret_expires_at !== undefined) throw new ClientMetadataError('a client metadata document must not carry a client secret')
  const method = d.token_endpoint_auth_method ?? 'none'
  if (method !== 'none') throw new ClientMetadataError(`token_endpoint_auth_method ${String(method)} is not supported for metadata-document clients (only none)`)
}

function checkDocument (doc: unknown, clientId: string): ClientMetadataDocument {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new ClientMetadataError('the client metadata document is not an object')
  const d = doc as Record<string, unknown>
  if (d.client_id !== clientId) throw new ClientMetadataError('the client metadata document names another client_id')
  if (!Array.isArray(d.redirect_uris) || d.redirect_uris.length === 0 || !d.redirect_uris.every((u) => typeof u === 'string')) {
    throw new ClientMetadataError('the client metadata document has no redirect_uris')
  }
  checkPublicClient(d)
  const str = (v: unknown) => typeof v === 'string' ? v : undefined
  const strs = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string') ? v as string[] : undefined
  return {
    client_id: clientId,
    client_name: str(d.client_name),
    client_uri: str(d.client_uri),
    logo_uri: str(d.logo_uri),
    redirect_uris: d.redirect_uris as string[],
    grant_types: strs(d.grant_types),
    response_types: strs(d.response_types),
    token_endpoint_auth_method: 'none',
    scope: str(d.scope)
  }
}
