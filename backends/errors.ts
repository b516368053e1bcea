import { ProtocolError, SdkError, SdkErrorCode, SdkHttpError } from '@modelcontextprotocol/client'

/** JSON-RPC error codes the gateway answers with. */
export const RpcCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** the backend is not connected, or went away mid-call */
  BackendUnavailable: -32000,
  RequestTimeout: -32001,
  /** the gateway is at a limit (calls in flight, sessions) */
  Overloaded: -32003,
  /** protocol 2026-07-28: the request needs a client capability the client did not declare */
  MissingClientCapability: -32021,
  /** 2025-11-25: the request needs the user to complete a URL-mode elicitation first (`data.elicitations`) */
  UrlElicitationRequired: -32042
} as const

/** A failure that reaches the client as a JSON-RPC error object. */
export class RpcError extends Error {
  constructor (readonly code: number, message: string, readonly data?: unknown) {
    super(message)
    this.name = 'RpcError'
  }

  toJSON (): { code: number, message: string, data?: unknown } {
    return this.data === undefined ? { code: this.code, message: this.message } : { code: this.code, message: this.message, data: this.data }
  }
}

const SDK_PREFIX = /^MCP error -?\d+: /

/**
 * Turns what a backend request threw into an RpcError that keeps the backend's own
 * code, message and data and says which backend it came from.
 */
export function backendError (backend: string, err: unknown, unavailableReason?: string): RpcError {
  if (err instanceof RpcError) return err
  if (err instanceof ProtocolError) return new RpcError(err.code, err.message.replace(SDK_PREFIX, ''), withBackend(backend, err.data))
  if (err instanceof SdkError) return fromSdkError(backend, err, unavailableReason)
  const message = err instanceof Error ? err.message : String(err)
  return new RpcError(RpcCode.InternalError, `backend '${backend}' failed: ${message}`, { backend })
}

/** The SDK's own failures (the connection, a timeout) rather than an answer from the backend. */
function fromSdkError (backend: string, err: SdkError, unavailableReason?: string): RpcError {
  if (err.code === SdkErrorCode.ConnectionClosed || err.code === SdkErrorCode.NotConnected) {
    return new RpcError(RpcCode.BackendUnavailable, `backend '${backend}' is unavailable: ${unavailableReason ?? 'connection closed'}`, { backend })
  }
  if (err.code === SdkErrorCode.RequestTimeout) {
    const timeout = (err.data as { timeout?: number } | undefined)?.timeout
    // the SDK reports an aborted request as a timeout without one: the abort's reason is the message
    if (timeout === undefined) return new RpcError(RpcCode.RequestTimeout, `backend '${backend}': the request was cancelled (${err.message})`, { backend })
    return new RpcError(RpcCode.RequestTimeout, `backend '${backend}' did not answer within ${timeout} ms; the request was cancelled`, { backend, timeout })
  }
  return new RpcError(RpcCode.InternalError, `backend '${backend}' failed: ${err.message.replace(SDK_PREFIX, '')}`, { backend })
}

/** The backend's own error data, tagged with the backend's name (kept beside it when it is not an object). */
function withBackend (backend: string, data: unknown): unknown {
  if (data === undefined) return { backend }
  if (data !== null && typeof data === 'object' && !Array.isArray(data)) return { ...data, backend }
  return { backend, backendData: data }
}

/** A failure of the connection itself (as opposed to an answer from the backend). */
export function isConnectionFailure (err: unknown): boolean {
  if (err instanceof RpcError) return false
  if (err instanceof SdkHttpError) return err.status === 404 || err.status >= 500
  if (err instanceof SdkError) return err.code === SdkErrorCode.ConnectionClosed || err.code === SdkErrorCode.SendFailed
  return isNetworkError(err)
}

/** fetch and socket failures: the remote end could not be reached at all. */
function isNetworkError (err: unknown): boolean {
  return err instanceof TypeError || (err as NodeJS.ErrnoException)?.code === 'ECONNREFUSED' || /fetch failed|ECONNREFUSED|socket|network/i.test(String((err as Error)?.message))
}

/** Error text for /health and logs: no absolute paths, no credentials in URLs (user info, or a token, code or state in the query). */
export function redactError (message: string): string {
  return message
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/\s:@]+(:[^@\s/]*)?@/gi, '$1***@')
    .replace(/([?&](?:token|code|state|access_token|refresh_token)=)[^&#\s'"]+/gi, '$1[redacted]')
    .replace(/(^|[\s'"(=])\/(?:[^\s'"():]+\/)+([^\s'"():/]+)/g, '$1…/$2')
}
