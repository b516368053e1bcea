import type { Client, ProtocolEra } from '@modelcontextprotocol/client'
import type { ServerConfig } from '../schemas/config.js'
import { DEFAULTS } from '../schemas/config.js'

/** What the heartbeat needs of its backend. */
export interface PingedBackend {
  readonly client?: Client
  readonly state: string
  readonly era: ProtocolEra
  readonly config: ServerConfig
  recycle (reason: string): void
}

/** Pings the backend periodically; one that does not answer is recycled. Returns the timer (none when pings are off). */
export function startPinging (backend: PingedBackend): NodeJS.Timeout | undefined {
  const interval = backend.config.pingInterval ?? DEFAULTS.server.pingInterval
  if (interval === 0) return undefined
  const client = backend.client
  const timer = setInterval(() => {
    if (backend.client !== client || backend.state !== 'ready') return
    const timeout = Math.min(10_000, interval)
    // 2026-07-28 has no ping: a 2026 backend is asked server/discover, which it must always answer
    const check = backend.era === 'modern' ? client?.discover({ timeout }) : client?.ping({ timeout })
    check?.catch((err: Error) => {
      if (backend.client === client) backend.recycle(`did not answer ${backend.era === 'modern' ? 'server/discover' : 'ping'} within ${timeout} ms (${err.message})`)
    })
  }, interval)
  timer.unref()
  return timer
}
