import type { BackendPool } from '../../backends/pool.js'
import type { CapabilityIndex } from '../capabilities.js'
import type { SessionRegistry } from '../sessions.js'
import type { GatewayConfig } from '../../schemas/config.js'
import type { Tracing } from '../tracing.js'
import type { UserGrants } from '../../backends/upstream-auth/per-user.js'

/** What the dispatcher works with, named: no Fastify instance as a service locator. */
export interface DispatchDeps {
  backends: BackendPool
  capabilities: CapabilityIndex
  sessions: SessionRegistry
  /** the config as it is now (it is hot-reloaded) */
  config: () => GatewayConfig
  log: { debug: (details: object, message: string) => void }
  /** set only when tracing is configured (plugins/tracing.ts) */
  tracing?: Tracing
  /** the single-use links users authorize `credentials: "per-user"` servers by (plugins/upstream-auth.ts) */
  userGrants?: UserGrants
}

export type Params = Record<string, unknown>
