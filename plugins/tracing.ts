import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Tracing } from '../mcp/tracing.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** the tracing hooks, or undefined when tracing is off (the default) */
    tracing: Tracing | undefined
  }
}

/** Whether the standard OTEL_* variables ask for traces: an OTLP endpoint is set and the SDK is not disabled. */
export function tracingConfigured (env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false
  if (env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() === 'none') return false
  return Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT)
}

/**
 * OpenTelemetry traces, off unless OTEL_EXPORTER_OTLP_ENDPOINT (or …_TRACES_ENDPOINT) is set. The SDK
 * is imported only then, so a gateway without tracing loads none of it and pays one `if` per call.
 */
export default fp(async (app) => {
  if (!tracingConfigured()) {
    app.decorate('tracing', undefined)
    return
  }
  const { createOtelTracing } = await import('../mcp/tracing-otel.js')
  const tracing = createOtelTracing()
  app.decorate('tracing', tracing)
  app.addHook('onClose', () => tracing.shutdown())
  app.log.info({ endpoint: process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? process.env.OTEL_EXPORTER_OTLP_ENDPOINT }, 'tracing on: spans are exported over OTLP/HTTP')
}, { name: 'tracing', fastify: '5.x' })

type Check = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

/** The token check of `protect` as a span (its outcome: allowed, or the status it answered). */
export function tracedCheck (tracing: Tracing | undefined, check: Check): Check {
  if (!tracing) return check
  return async (request, reply) => {
    const header = request.headers.traceparent
    const end = tracing.tokenCheck(typeof header === 'string' ? header : undefined)
    try {
      await check(request, reply)
    } finally {
      end(reply.sent ? String(reply.statusCode) : 'allowed')
    }
  }
}
