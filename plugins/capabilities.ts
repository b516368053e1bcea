import fp from 'fastify-plugin'
import type { Logger } from 'pino'
import { ownEntry } from '../schemas/config.js'
import { CapabilityIndex } from '../mcp/capabilities.js'
import { KIND_OF_NOTIFICATION } from '../mcp/capability-names.js'

declare module 'fastify' {
  interface FastifyInstance { capabilities: CapabilityIndex }
}

export default fp(async (app) => {
  const index = new CapabilityIndex(app.backends, app.log.child({ plugin: 'capabilities' }) as Logger)
  app.decorate('capabilities', index)
  // A backend that is restarting keeps its entries, so a call to it fails naming the backend and
  // clients see no list churn; only a backend that is gone or parked leaves the index.
  app.backends.on('state', (backend, state) => {
    if (state === 'ready') {
      void index.refresh(backend)
    } else if (state === 'stopped' || state === 'crash-loop' || state === 'needs-auth') {
      index.drop(backend.name)
    }
  })
  app.backends.on('updated', (backend) => index.reindex([backend.name]))
  app.backends.on('notification', (backend, notification) => {
    const kinds = ownEntry(KIND_OF_NOTIFICATION, notification.method)
    if (kinds) void index.refresh(backend, kinds)
  })
}, { name: 'capabilities', dependencies: ['backends'], fastify: '5.x' })
