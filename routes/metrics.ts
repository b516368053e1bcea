import type { FastifyPluginAsync } from 'fastify'

/** `/metrics`: Prometheus text format, behind the same Bearer token check as the MCP endpoints when auth is on. */
const metricsRoutes: FastifyPluginAsync = async (app) => {
  if (app.auth.enabled) app.addHook('onRequest', app.auth.protect)
  app.get('/metrics', async (_request, reply) => {
    const body = await app.metrics.registry.metrics()
    return reply.header('content-type', app.metrics.registry.contentType).header('cache-control', 'no-store').send(body)
  })
}

export default metricsRoutes
