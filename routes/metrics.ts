import type { FastifyPluginAsync } from 'fastify'

/** `/metrics`: Prometheus text format. No auth, like /health: keep the gateway on loopback or filter it at the proxy. */
const metricsRoutes: FastifyPluginAsync = async (app) => {
  app.get('/metrics', async (_request, reply) => {
    const body = await app.metrics.registry.metrics()
    return reply.header('content-type', app.metrics.registry.contentType).header('cache-control', 'no-store').send(body)
  })
}

export default metricsRoutes
