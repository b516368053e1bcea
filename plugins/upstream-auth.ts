import fp from 'fastify-plugin'
import type { Logger } from 'pino'
import { UpstreamAuths } from '../backends/upstream-auth/registry.js'
import { dataDirOf } from './data-dir.js'

declare module 'fastify' {
  interface FastifyInstance { upstreamAuth: UpstreamAuths }
}

/**
 * The gateway's OAuth logins to remote servers that answer 401 with resource metadata (the owner's,
 * and each user's for `credentials: "per-user"` servers), kept encrypted in the auth data folder
 * (`upstream-tokens.enc`, key `upstream-tokens.key`).
 */
export default fp<{ baseDir?: string }>(async (app, opts) => {
  const dataDir = dataDirOf(app.gatewayConfig.current.auth, opts.baseDir)
  const auths = await UpstreamAuths.open(dataDir, app.log.child({ plugin: 'upstream-auth' }) as Logger)
  app.decorate('upstreamAuth', auths)
  auths.baseUrl = () => app.auth.urls.base()
  app.backends.authFor = (name, config) => auths.backendAuth(name, config)
  app.backends.userAuthFor = (name, config, user) => auths.users(name, config)?.user(user)
  app.addHook('onClose', () => auths.close())
}, { name: 'upstream-auth', dependencies: ['backends', 'auth'], fastify: '5.x' })
