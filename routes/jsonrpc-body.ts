import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { RequestId } from '@modelcontextprotocol/client'
import { RpcCode } from '../backends/errors.js'
import { JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from '../schemas/jsonrpc.js'
import { httpRpcError } from './errors.js'

export const isResponse = TypeCompiler.Compile(JsonRpcResponse)

/**
 * The checks on the path of every message, written out: exactly what TypeCompiler makes of
 * JsonRpcRequest / JsonRpcNotification (test/http/jsonrpc-guards.test.ts holds them to it), without the
 * compiled `Type.Record` check, which walks `Object.entries(params)` with a key pattern that always
 * passes: an array and a closure per key, per call (7% of the gateway's CPU at 8x4 in a profile).
 */
type Guard<T> = { Check: (value: unknown) => value is T }
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const isParams = (p: unknown) => p === undefined || (isObject(p) && !(p instanceof Date) && !(p instanceof Uint8Array))
const isMessage = (v: unknown): v is Record<string, unknown> => isObject(v) && v.jsonrpc === '2.0' && typeof v.method === 'string' && v.method.length >= 1 && isParams(v.params)
export const isRequest: Guard<JsonRpcRequest> = { Check: (v): v is JsonRpcRequest => isMessage(v) && (typeof v.id === 'string' || Number.isInteger(v.id)) }
export const isNotification: Guard<JsonRpcNotification> = { Check: (v): v is JsonRpcNotification => isMessage(v) }

/**
 * How deep a JSON-RPC body may nest. Everything that handles a message (the SDK's validation, a
 * re-serialization, a backend's transport) recurses through it: a 20,000-deep `_meta` would overflow
 * the stack there, so it is refused before it is parsed.
 */
export const MAX_JSON_DEPTH = 64

/**
 * A body that cannot be a message: not JSON (-32700, "Parse error"), or nested deeper than
 * MAX_JSON_DEPTH (-32600), answered with a JSON-RPC error rather than Fastify's 400.
 */
export class Unparsable {
  constructor (readonly reason: string, readonly code: number = RpcCode.ParseError) {}

  get message (): string {
    return this.code === RpcCode.ParseError ? `Parse error: ${this.reason}` : `Invalid Request: ${this.reason}`
  }
}

/** Whether JSON text nests objects and arrays deeper than `limit` (one pass, strings skipped). */
export function nestsDeeperThan (text: string, limit: number): boolean {
  let depth = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22) i = stringEnd(text, i)
    else if (c === 0x7b || c === 0x5b) depth++
    else if (c === 0x7d || c === 0x5d) depth--
    if (depth > limit) return true
  }
  return false
}

/** The index of the quote that closes the JSON string opening at `start` (the text's end when none does). */
function stringEnd (text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x5c) i++
    else if (c === 0x22) return i
  }
  return text.length
}

/** In this route scope, a JSON body that fails to parse (or nests too deep) becomes an `Unparsable` for the handler to answer. */
export function parseJsonLeniently (app: FastifyInstance): void {
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = body as string
    if (nestsDeeperThan(text, MAX_JSON_DEPTH)) return done(null, new Unparsable(`the body nests deeper than ${MAX_JSON_DEPTH} levels`, RpcCode.InvalidRequest))
    try {
      done(null, JSON.parse(text))
    } catch (err) {
      done(null, new Unparsable((err as Error).message))
    }
  })
}

/**
 * A request or notification whose `id` is neither a string nor an integer (null, 1.5, an object, an
 * array, a boolean): an Invalid Request, answered with id null (JSON-RPC 2.0 §5), never taken for
 * a notification (which would leave the client waiting for an answer that never comes).
 */
export function hasInvalidId (body: unknown): boolean {
  if (body === null || typeof body !== 'object' || !Object.hasOwn(body, 'method') || !Object.hasOwn(body, 'id')) return false
  const id = (body as { id: unknown }).id
  return !(typeof id === 'string' || Number.isInteger(id))
}

export const INVALID_ID_MESSAGE = 'Invalid Request: the id must be a string or an integer (a notification has no id at all)'

/** A client's answer to a request the gateway sent it. */
export interface ClientAnswer { id: RequestId, result?: Record<string, unknown>, error?: { code: number, message: string, data?: unknown } }

/** Whether the request's Accept header takes `type`. */
export function accepts (request: FastifyRequest, type: string): boolean {
  const accept = request.headers.accept ?? ''
  return accept.includes(type) || accept.includes('*/*')
}

/** Answers a POST whose headers or body cannot carry one JSON-RPC message; true when it did. */
export function refusePost (request: FastifyRequest, reply: FastifyReply): boolean {
  if (!accepts(request, 'application/json') || !accepts(request, 'text/event-stream')) {
    httpRpcError(reply, 406, RpcCode.InvalidRequest, 'Not Acceptable: the client must accept both application/json and text/event-stream')
  } else if (!/^application\/json\b/i.test(request.headers['content-type'] ?? '')) {
    httpRpcError(reply, 415, RpcCode.InvalidRequest, 'Unsupported Media Type: the body must be application/json')
  } else if (request.body instanceof Unparsable) {
    httpRpcError(reply, 400, request.body.code, request.body.message)
  } else if (Array.isArray(request.body)) {
    httpRpcError(reply, 400, RpcCode.InvalidRequest, 'Invalid Request: JSON-RPC batches are not supported (removed in protocol 2025-06-18)')
  } else if (hasInvalidId(request.body)) {
    httpRpcError(reply, 400, RpcCode.InvalidRequest, INVALID_ID_MESSAGE)
  } else {
    return false
  }
  return true
}
