import fp from 'fastify-plugin'
import { redactError, GATEWAY_INFO } from '../backends/backend.js'
import { exposedName } from '../mcp/capability-names.js'
import { countToolTokens } from './tool-tokens.js'
import type { HealthReport, Readiness } from '../schemas/health.js'

declare module 'fastify' {
  interface FastifyInstance { health: HealthService }
}

export interface HealthService {
  report: () => HealthReport
  readiness: () => Readiness
}

/** Readiness and the health report operators curl. */
export default fp(async (app) => {
  const startedAt = Date.now()
  const toolTokens = new Map<string, number>()
  let counting = Promise.resolve()

  // Counted when a backend's tools change, so /health itself does no work.
  app.capabilities.on('changed', (kinds, names) => {
    if (!kinds.includes('tools')) return
    counting = counting.then(async () => {
      for (const name of names) {
        const tools = app.capabilities.list('tools', { single: name }).map((t) => ({ ...t, name: exposedName(name, String(t.name)) }))
        if (tools.length === 0) toolTokens.delete(name)
        else toolTokens.set(name, await countToolTokens(tools))
      }
    }).catch((err) => app.log.warn({ err }, 'counting tool tokens failed'))
  })

  function report (): HealthReport {
    const backends = [...app.backends.all()].map((b) => ({
      name: b.name,
      transport: b.transportName,
      ...(b.protocolVersion ? { protocol: b.protocolVersion } : {}),
      state: b.state,
      since: new Date(b.stateSince).toISOString(),
      tools: app.capabilities.toolCount(b.name),
      toolTokens: toolTokens.get(b.name) ?? 0,
      restarts: b.restarts,
      tags: b.config.tags ?? [],
      ...(b.lastError ? { lastError: redactError(b.lastError), lastErrorAt: b.lastErrorAt } : {}),
      replicas: b.health().map((r) => r.lastError ? { ...r, lastError: redactError(r.lastError) } : r)
    }))
    const ready = backends.filter((b) => b.state === 'ready').length
    const configStatus = app.gatewayConfig.status
    const problems = healthProblems(backends.length, ready, configStatus.valid, app.capabilities.collisions.length)
    let status: HealthReport['status'] = problems.length === 0 ? 'healthy' : 'degraded'
    if (backends.length > 0 && ready === 0) status = 'unhealthy'
    return {
      status,
      problems,
      version: GATEWAY_INFO.version,
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      auth: { enabled: app.auth.enabled },
      sessions: app.sessions.size,
      backends,
      collisions: app.capabilities.collisions,
      config: {
        valid: configStatus.valid,
        loadedAt: configStatus.loadedAt,
        pendingRestart: configStatus.pendingRestart,
        ...(configStatus.error ? { error: redactError(configStatus.error), errorAt: configStatus.errorAt } : {})
      }
    }
  }

  // Ready means "send me traffic": the gateway serves (the last good config, if an edit was bad) and,
  // when it has backends, at least one of them is ready. Config validity is reported by /health.
  function readiness (): Readiness {
    const backends = [...app.backends.all()]
    if (backends.length > 0 && !backends.some((b) => b.state === 'ready')) return { ready: false, reason: 'no backend is ready' }
    return { ready: true }
  }

  app.decorate('health', { report, readiness })
}, { name: 'health', dependencies: ['backends', 'config', 'sessions'], fastify: '5.x' })

/** Why the gateway is not `healthy`, each in words an operator can act on. */
function healthProblems (backends: number, ready: number, configValid: boolean, collisions: number): string[] {
  const problems: string[] = []
  if (backends === 0) problems.push('no MCP servers are configured: add one to "mcpServers" in the config file')
  else if (ready === 0) problems.push('no backend is ready')
  else if (ready < backends) problems.push(`${backends - ready} of ${backends} backends are not ready`)
  if (!configValid) problems.push('the config file is invalid (see config.error); the last good config is in force')
  if (collisions > 0) problems.push(`${collisions} name collisions between backends (see collisions)`)
  return problems
}
