import { RpcCode, RpcError } from '../backends/errors.js'

// The MCP core's errors, each with what its HTTP route answers.

export class TagFilterError extends Error {
  constructor (message: string, readonly position: number) {
    super(`invalid tag filter: ${message} at position ${position}`)
    this.name = 'TagFilterError'
  }
}

/**
 * No room for another session: the gateway is full (`perClient` false: 503), or this token's subject
 * and client hold their share already (`perClient` true: 429). JSON-RPC -32003 either way.
 */
export class SessionLimitError extends RpcError {
  constructor (message: string, readonly perClient: boolean) {
    super(RpcCode.Overloaded, message)
  }

  get httpStatus (): number { return this.perClient ? 429 : 503 }
}
