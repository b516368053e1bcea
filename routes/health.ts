import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { HealthReport, Readiness } from '../schemas/health.js'
import { hostGuard } from './host-guard.js'

/**
 * `/health` (the full report), `/health/live` (the process answers) and `/health/ready`. No auth.
 * The report names backends and their errors, so it has the Host check of `/mcp` (DNS rebinding);
 * the two probes do not: orchestrators call them by the pod's address, and they tell nothing.
 */
const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/health', {
    onRequest: hostGuard(app),
    schema: { response: { 200: HealthReport, 503: HealthReport } }
  }, async (_request, reply) => {
    const report = app.health.report()
    return reply.code(report.status === 'unhealthy' ? 503 : 200).header('cache-control', 'no-store').send(report)
  })

  app.get('/health/live', {
    schema: { response: { 200: Type.Object({ status: Type.Literal('ok') }) } }
  }, async () => ({ status: 'ok' as const }))

  app.get('/health/ready', {
    schema: { response: { 200: Readiness, 503: Readiness } }
  }, async (_request, reply) => {
    const readiness = app.health.readiness()
    return reply.code(readiness.ready ? 200 : 503).header('cache-control', 'no-store').send(readiness)
  })
}

export default healthRoutes
