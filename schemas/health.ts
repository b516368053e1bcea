import { Type, type Static } from '@sinclair/typebox'

export const BackendHealth = Type.Object({
  name: Type.String(),
  transport: Type.String(),
  protocol: Type.Optional(Type.String({ description: 'the protocol version spoken with it while connected (2026-07-28, or the 2025 version initialize agreed)' })),
  state: Type.String(),
  since: Type.String({ description: 'when it entered this state' }),
  tools: Type.Integer(),
  toolTokens: Type.Integer({ description: 'LLM tokens (o200k_base) of the tool definitions clients see' }),
  restarts: Type.Integer(),
  tags: Type.Array(Type.String()),
  lastError: Type.Optional(Type.String()),
  lastErrorAt: Type.Optional(Type.String()),
  replicas: Type.Optional(Type.Array(Type.Object({
    replica: Type.Integer({ description: '1-based' }),
    state: Type.String(),
    active: Type.Integer({ description: 'calls in flight' }),
    restarts: Type.Integer(),
    pid: Type.Optional(Type.Integer()),
    url: Type.Optional(Type.String({ description: 'origin and path only' })),
    breaker: Type.Optional(Type.String({ description: 'remote: closed, open or half-open' })),
    lastError: Type.Optional(Type.String())
  }), { description: 'each connection of the server (replicas: N); one for most' }))
})
export type BackendHealth = Static<typeof BackendHealth>

export const HealthReport = Type.Object({
  status: Type.Union([Type.Literal('healthy'), Type.Literal('degraded'), Type.Literal('unhealthy')]),
  problems: Type.Array(Type.String(), { description: 'why the status is not healthy; empty when it is' }),
  version: Type.String(),
  uptimeSeconds: Type.Number(),
  auth: Type.Object({ enabled: Type.Boolean() }),
  sessions: Type.Integer(),
  backends: Type.Array(BackendHealth),
  collisions: Type.Array(Type.Object({ kind: Type.String(), name: Type.String(), backends: Type.Array(Type.String()) })),
  config: Type.Object({
    valid: Type.Boolean(),
    loadedAt: Type.String(),
    error: Type.Optional(Type.String()),
    errorAt: Type.Optional(Type.String()),
    pendingRestart: Type.Array(Type.String())
  })
})
export type HealthReport = Static<typeof HealthReport>

export const Readiness = Type.Object({
  ready: Type.Boolean(),
  reason: Type.Optional(Type.String())
})
export type Readiness = Static<typeof Readiness>
