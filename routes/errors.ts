import type { FastifyReply } from 'fastify'
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/client'
import type { RpcError } from '../backends/errors.js'
import { httpErrorBody } from '../schemas/errors.js'

// The HTTP errors of routes/: an endpoint that speaks JSON-RPC answers a JSON-RPC error; every other
// refusal has the one body of schemas/errors.ts, `{ statusCode, code?, error, message }` (Fastify's own),
// so a client or an operator reads one form whatever refused. The OAuth endpoints answer RFC 6749's `{ error, error_description }`
// (auth/errors.ts, OAuthError).

/** A refusal with a status that is not the JSON-RPC kind. */
export class ScopeError extends Error {
  constructor (message: string, readonly statusCode: number) {
    super(message)
    this.name = 'ScopeError'
  }
}

/** Sends the one HTTP error body (schemas/errors.ts). */
export function sendHttpError (reply: FastifyReply, status: number, message: string, code?: string): FastifyReply {
  return reply.code(status).send(httpErrorBody(status, message, code))
}

/** A JSON-RPC error response to request `id`. */
export function rpcError (id: RequestId | null, err: RpcError): JSONRPCMessage {
  return { jsonrpc: '2.0', id: id as RequestId, error: err.toJSON() }
}

/** Sends a JSON-RPC error with an HTTP status, to no request in particular (`id: null`). */
export function httpRpcError (reply: FastifyReply, status: number, code: number, message: string): FastifyReply {
  return reply.code(status).send({ jsonrpc: '2.0', id: null, error: { code, message } })
}
