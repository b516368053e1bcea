import type { Params } from './dispatch/deps.js'

/** What the request span of one MCP request is told (never argument values, never a token). */
export interface RequestTraceInfo {
  method: string
  params: Params
  /** the client's session (only its first 8 characters are recorded, as in the logs) */
  sessionId: string
  protocolVersion?: string
  requestId: string | number
  /** the W3C `traceparent` HTTP header of the request, when there is one */
  traceparent?: string
  /** the request's channel: a backend's server→client rounds for this call are its children */
  channel: object
  /** the backend that served the call, once known */
  backend: () => string | undefined
}

/**
 * Tracing hooks of the MCP core. Absent (undefined) when tracing is off, so the hot path pays one
 * `if`; the OpenTelemetry implementation (mcp/tracing-otel.ts) is loaded only when configured.
 */
export interface Tracing {
  /** one span per MCP request, continuing the client's trace (params._meta.traceparent or the header) */
  request: <T>(info: RequestTraceInfo, run: () => Promise<T>) => Promise<T>
  /** a child span for the call to a backend; `run` gets params whose `_meta.traceparent` carries it */
  backendCall: <T>(backend: string, method: string, params: Params, run: (params: Params) => Promise<T>) => Promise<T>
  /** a child span for a server→client round (sampling, elicitation, roots) made for the call on `channel` */
  clientRound: <T>(channel: object | undefined, method: string, run: () => Promise<T>) => Promise<T>
  /** a span for the token check of an HTTP request, ended by the returned function */
  tokenCheck: (traceparent: string | undefined) => (outcome: string) => void
  /** exports what is left */
  shutdown: () => Promise<void>
}
