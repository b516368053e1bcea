import { Type, type Static } from '@sinclair/typebox'
import { STATUS_CODES } from 'node:http'

/**
 * The one body of an HTTP refusal that is neither JSON-RPC (the MCP endpoints answer JSON-RPC errors)
 * nor OAuth (the token and registration endpoints answer RFC 6749's `{ error, error_description }`):
 * Fastify's own shape, so a refusal by a guard, a route or Fastify itself reads the same.
 */
export const HttpErrorBody = Type.Object({
  statusCode: Type.Integer({ minimum: 400, maximum: 599 }),
  /** a stable, machine-readable reason where there is one (`GW_HOST_NOT_ALLOWED`, `invalid_token`) */
  code: Type.Optional(Type.String()),
  /** the status's reason phrase */
  error: Type.String(),
  /** what went wrong and, where it helps, what to do */
  message: Type.String()
})
export type HttpErrorBody = Static<typeof HttpErrorBody>

export function httpErrorBody (statusCode: number, message: string, code?: string): HttpErrorBody {
  const error = STATUS_CODES[statusCode] ?? 'Error'
  return code === undefined ? { statusCode, error, message } : { statusCode, code, error, message }
}
