/**
 * The trace context headers (W3C `traceparent`) of the call in progress, for a remote backend's HTTP
 * requests. Set by the tracing module when tracing is on (mcp/tracing-otel.ts); unset, transports add
 * nothing and wrap no fetch.
 */
export const traceHeaders: { current?: () => Record<string, string> } = {}

/** A fetch that adds the current trace headers, or undefined when tracing is off. */
export function tracedFetch (): typeof fetch | undefined {
  const current = traceHeaders.current
  if (!current) return undefined
  return (input, init) => {
    const headers = new Headers(init?.headers)
    for (const [name, value] of Object.entries(current())) headers.set(name, value)
    return fetch(input, { ...init, headers })
  }
}
