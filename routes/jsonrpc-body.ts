import type { FastifyInstance, FastifyReply } from 'fastify'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/client'
import type { RpcError } from '../backends/errors.js'
import { JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from '../schemas/jsonrpc.js'

export const isRequest = TypeCompiler.Compile(JsonRpcRequest)
export const isNotification = TypeCompiler.Compile(JsonRpcNotification)
export const isResponse = TypeCompiler.Compile(JsonRpcResponse)

/** A body that was not JSON: answered with JSON-RPC -32700 rather than Fastify's 400. */
export class Unparsable {
  constructor (readonly reason: string) {}
}

/** In this route scope, a JSON body that fails to parse becomes an `Unparsable` for the handler to answer. */
export function parseJsonLeniently (app: FastifyInstance): void {
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, JSON.parse(body as string))
    } catch (err) {
      done(null, new Unparsable((err as Error).message))
    }
  })
}

export function rpcError (id: RequestId | null, err: RpcError): JSONRPCMessage {
  return { jsonrpc: '2.0', id: id as RequestId, error: err.toJSON() }
}

export function httpRpcError (reply: FastifyReply, status: number, code: number, message: string): FastifyReply {
  return reply.code(status).send({ jsonrpc: '2.0', id: null, error: { code, message } })
}

/** A client's answer to a request the gateway sent it. */
export interface ClientAnswer { id: RequestId, result?: Record<string, unknown>, error?: { code: number, message: string, data?: unknown } }
