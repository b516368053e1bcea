import { Type, type Static } from '@sinclair/typebox'
import { AuthSettings } from './auth.js'

export const DEFAULT_PORT = 3050
export const DEFAULT_HOST = '127.0.0.1'

const Milliseconds = (description: string, minimum = 1) =>
  Type.Integer({ minimum, maximum: 24 * 3600 * 1000, description })

export const RestartPolicy = Type.Object({
  maxRetries: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000, description: 'consecutive failed starts before the backend is parked as crash-loop' })),
  initialDelayMs: Type.Optional(Milliseconds('first restart delay')),
  maxDelayMs: Type.Optional(Milliseconds('upper bound of the exponential backoff')),
  stableAfterMs: Type.Optional(Milliseconds('time ready after which the failure counter resets'))
}, { additionalProperties: false })
export type RestartPolicy = Static<typeof RestartPolicy>

export const ServerConfig = Type.Object({
  type: Type.Optional(Type.Union([
    Type.Literal('stdio'),
    Type.Literal('http'),
    Type.Literal('streamable-http'),
    Type.Literal('streamableHttp'),
    Type.Literal('sse')
  ], { description: 'transport; inferred when absent: command → stdio, url → Streamable HTTP (falling back to SSE)' })),
  command: Type.Optional(Type.String({ minLength: 1 })),
  args: Type.Optional(Type.Array(Type.String())),
  env: Type.Optional(Type.Record(Type.String(), Type.String())),
  cwd: Type.Optional(Type.String()),
  url: Type.Optional(Type.String({ pattern: '^https?://' })),
  headers: Type.Optional(Type.Record(Type.String(), Type.String())),
  tags: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z0-9_.:-]+$' }))),
  disabled: Type.Optional(Type.Boolean()),
  disabledTools: Type.Optional(Type.Array(Type.String())),
  toolDescriptions: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'tool name → the description clients see instead of the server\'s own' })),
  description: Type.Optional(Type.String()),
  connectionTimeout: Type.Optional(Milliseconds('time allowed to connect and initialize, ms')),
  requestTimeout: Type.Optional(Milliseconds('time allowed per request, ms; progress resets it')),
  pingInterval: Type.Optional(Milliseconds('health-check ping period, ms; 0 turns it off', 0)),
  maxInFlight: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, description: 'calls in flight to this backend before new ones queue' })),
  maxQueuedMessages: Type.Optional(Type.Integer({ minimum: 16, maximum: 1000000, description: 'messages from the backend waiting to be handled before the gateway stops reading from it (stdio), default 4096' })),
  maxMessageBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 1024 * 1024 * 1024, description: 'stdio: the largest message (one line) the backend may send, bytes; default 10 MB' })),
  restart: Type.Optional(RestartPolicy),
  sessionMode: Type.Optional(Type.Union([Type.Literal('shared'), Type.Literal('per-client')])),
  protocol: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('legacy')], {
    description: 'auto (default): probe with server/discover and speak 2026-07-28 to a backend that offers it, else the 2025 handshake; legacy: the 2025 handshake only'
  }))
}, { additionalProperties: false })
export type ServerConfig = Static<typeof ServerConfig>

export const SessionSettings = Type.Object({
  idleTimeoutMs: Type.Optional(Milliseconds('a session unused this long is ended')),
  max: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000000, description: 'most sessions open at once' })),
  maxPerClient: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000000, description: 'most sessions and /sse streams one token subject and client may hold (default: a quarter of max)' })),
  replayBufferSize: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000, description: 'SSE events kept per session for Last-Event-ID resumption' })),
  inputTimeoutMs: Type.Optional(Milliseconds('how long a 2026-07-28 call that asked its client for input waits for the retry before it is cancelled'))
}, { additionalProperties: false })

export const RateLimitSettings = Type.Union([Type.Literal(false), Type.Object({
  max: Type.Optional(Type.Integer({ minimum: 1, description: 'requests per client per window' })),
  timeWindowMs: Type.Optional(Milliseconds('the window'))
}, { additionalProperties: false })])

export const LoadSheddingSettings = Type.Union([Type.Literal(false), Type.Object({
  maxEventLoopDelayMs: Type.Optional(Milliseconds('event-loop lag above which MCP requests are refused with 503')),
  retryAfterSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 }))
}, { additionalProperties: false })])

export const RegistrySettings = Type.Object({
  url: Type.Optional(Type.String({ pattern: '^https?://', description: 'MCP Registry base URL for `1mcp registry` and `1mcp mcp install`' })),
  cacheTtlMs: Type.Optional(Milliseconds('registry answers younger than this are served from the cache', 0)),
  maxStaleMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 365 * 24 * 3600 * 1000, description: 'when the registry is unreachable, cached answers up to this old are used' }))
}, { additionalProperties: false })

export const Preset = Type.Object({
  filter: Type.String({ minLength: 1, description: 'a tag filter expression: tags joined by and, or, not and parentheses' }),
  description: Type.Optional(Type.String())
}, { additionalProperties: false })
export type Preset = Static<typeof Preset>

export const GatewayConfig = Type.Object({
  $schema: Type.Optional(Type.String()),
  mcpServers: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_-]+$' }), ServerConfig),
  host: Type.Optional(Type.String({ minLength: 1 })),
  port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  externalUrl: Type.Optional(Type.String({ pattern: '^https?://' })),
  trustProxy: Type.Optional(Type.Union([Type.Boolean(), Type.String(), Type.Integer({ minimum: 1 })])),
  bodyLimit: Type.Optional(Type.Integer({ minimum: 1024, maximum: 64 * 1024 * 1024 })),
  receiveTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 3_600_000, description: 'how long a client has to send a whole request, headers and body (default 30000); a trickled request is answered 408 and its connection closed. Responses (SSE streams included) are not limited by it' })),
  allowedHosts: Type.Optional(Type.Array(Type.String())),
  allowedOrigins: Type.Optional(Type.Array(Type.String())),
  pageSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000 })),
  reloadDebounceMs: Type.Optional(Milliseconds('wait after a file change before reloading', 0)),
  shutdownGraceMs: Type.Optional(Milliseconds('time calls in flight get to finish when the gateway stops (SIGTERM, SIGINT); later ones are cancelled', 0)),
  logLevel: Type.Optional(Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)))),
  sessions: Type.Optional(SessionSettings),
  rateLimit: Type.Optional(RateLimitSettings),
  loadShedding: Type.Optional(LoadSheddingSettings),
  auth: Type.Optional(AuthSettings),
  plugins: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  registry: Type.Optional(RegistrySettings),
  presets: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z0-9_-]+$' }), Preset, { description: 'named tag filters, used as /mcp?preset=NAME' }))
}, { additionalProperties: false })
export type GatewayConfig = Static<typeof GatewayConfig>

/** Settings read once at boot: a change to them needs a restart. */
export const RESTART_ONLY_KEYS = ['host', 'port', 'externalUrl', 'trustProxy', 'bodyLimit', 'receiveTimeoutMs', 'plugins', 'auth', 'rateLimit', 'loadShedding', 'shutdownGraceMs'] as const

/**
 * `record[key]` when `key` is the record's own: the lookup for every name that comes from a request
 * (a server, a preset), so `constructor` or `__proto__` never finds what Object.prototype has.
 */
export function ownEntry<T> (record: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined
}
