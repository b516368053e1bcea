import type { FastifyInstance } from 'fastify'
import rateLimit from '@fastify/rate-limit'
import underPressure from '@fastify/under-pressure'
import { RpcCode } from '../backends/errors.js'
import { httpRpcError } from './errors.js'
import { DEFAULTS } from '../schemas/config.js'

/**
 * Per-client rate limits (keyed by the token's subject and client id when auth is on, else the address; 429 with
 * Retry-After) and load shedding when the event loop lags (503 with Retry-After), for the MCP routes only:
 * /health must answer even when the gateway is saturated.
 */
export async function registerLoadProtection (app: FastifyInstance): Promise<void> {
  const config = app.gatewayConfig.current
  if (config.rateLimit !== false) {
    const { max, timeWindowMs } = { ...DEFAULTS.rateLimit, ...config.rateLimit }
    await app.register(rateLimit, {
      max,
      timeWindow: timeWindowMs,
      hook: 'preHandler',
      // the x-ratelimit-* headers go on the 429 answer (with Retry-After), not on every answer below the limit:
      // MCP clients do not read them, and three more headers on each call were measurable
      addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
      // one budget per token subject and client: every client the owner approved has the subject
      // `owner`, and one client's burst must not rate-limit the others
      keyGenerator: (request) => request.auth ? `sub:${request.auth.subject}\nclient:${request.auth.clientId}` : `ip:${request.ip}`,
      errorResponseBuilder: (_request, context) => Object.assign(
        new Error(`Too Many Requests: at most ${context.max} requests per ${Math.round(timeWindowMs / 1000)} s; retry in ${context.after}`),
        { statusCode: 429 }
      )
    })
  }
  if (config.loadShedding !== false) {
    const { maxEventLoopDelayMs, retryAfterSeconds } = { ...DEFAULTS.loadShedding, ...config.loadShedding }
    await app.register(underPressure, {
      maxEventLoopDelay: maxEventLoopDelayMs,
      retryAfter: retryAfterSeconds,
      // under-pressure reads a sample with no tick in it as infinite lag: sample no more often than the
      // lag we act on, so a short pause (start-up, a GC) is not mistaken for overload
      sampleInterval: Math.max(100, maxEventLoopDelayMs),
      pressureHandler: (_request, reply, type, value) => {
        httpRpcError(reply.header('retry-after', String(retryAfterSeconds)), 503, RpcCode.Overloaded, `Service Unavailable: the gateway is overloaded (${type} ${value}); retry in ${retryAfterSeconds} s`)
      }
    })
  }
}
