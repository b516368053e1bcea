import { RpcError } from '../backends/errors.js'

/** protocol 2026-07-28: the request's headers and body disagree */
export const HEADER_MISMATCH = -32020

interface Declaration { path: string[], header: string, numeric: boolean }

const BASE64_VALUE = /^=\?base64\?(.*)\?=$/
const CANONICAL_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const DECIMAL = /^-?\d+(\.\d+)?$/

/**
 * The tool parameters a client must mirror into `Mcp-Param-<Name>` headers (SEP-2243): properties
 * reached from the root through `properties` alone whose schema names an `x-mcp-header`.
 */
export function headerDeclarations (schema: unknown, path: string[] = []): Declaration[] {
  if (schema === null || typeof schema !== 'object') return []
  const node = schema as { 'x-mcp-header'?: unknown, type?: unknown, properties?: Record<string, unknown> }
  const found: Declaration[] = []
  if (path.length > 0 && typeof node['x-mcp-header'] === 'string' && node['x-mcp-header'] !== '') {
    found.push({ path, header: node['x-mcp-header'], numeric: node.type === 'integer' || node.type === 'number' })
  }
  for (const [key, child] of Object.entries(node.properties ?? {})) found.push(...headerDeclarations(child, [...path, key]))
  return found
}

/** A header value as sent: plain, or `=?base64?…?=` for what a header cannot carry; undefined when the encoding is broken. */
function decodeHeader (value: string): string | undefined {
  const encoded = BASE64_VALUE.exec(value)?.[1]
  if (encoded === undefined) return value
  if (!CANONICAL_BASE64.test(encoded)) return undefined
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(encoded, 'base64'))
  } catch {
    return undefined
  }
}

function primitive (value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (typeof value === 'boolean') return String(value)
  if (typeof value === 'number' && Number.isFinite(value)) return String(value)
  return undefined
}

function valueAt (root: unknown, path: string[]): unknown {
  let node = root
  for (const key of path) node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined
  return node
}

/**
 * Checks a 2026 `tools/call`'s `Mcp-Param-*` headers against its arguments, as an intermediary must:
 * a parameter given in the body needs its header, with the same value. Throws an RpcError
 * (-32020, for an HTTP 400) naming the header; the gateway checks before anything reaches a backend.
 */
export function checkParamHeaders (inputSchema: unknown, args: unknown, header: (name: string) => string | undefined): void {
  for (const declaration of headerDeclarations(inputSchema)) {
    const name = `mcp-param-${declaration.header.toLowerCase()}`
    const body = valueAt(args, declaration.path)
    const expected = primitive(body)
    if (expected === undefined) continue
    const sent = header(name)
    const where = `Mcp-Param-${declaration.header}`
    if (sent === undefined) throw mismatch(where, `the body carries ${declaration.path.join('.')} but the ${where} header is absent`)
    const decoded = decodeHeader(sent)
    if (decoded === undefined) throw mismatch(where, `the ${where} header is not valid =?base64?…?= encoding`)
    const same = declaration.numeric && typeof body === 'number' && DECIMAL.test(decoded) ? Number(decoded) === body : decoded === expected
    if (!same) throw mismatch(where, `the ${where} header says ${JSON.stringify(decoded)} but the body carries ${JSON.stringify(body)}`)
  }
}

function mismatch (header: string, detail: string): RpcError {
  return new RpcError(HEADER_MISMATCH, `Bad Request: the request headers and body disagree: ${detail}`, { mismatch: { header } })
}
