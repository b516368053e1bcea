import { Type, type Static } from '@sinclair/typebox'
import { AuthSettings } from './auth.js'

/**
 * Every default of the config file, declared once. The schemas below carry each as their `default`
 * (docs/configuration.md is generated from them, test/config/config-reference.test.ts fails on drift) and
 * the code reads them from here, never from a literal of its own.
 */
export const DEFAULTS = {
  port: 3050,
  host: '127.0.0.1',
  bodyLimit: 4 * 1024 * 1024,
  receiveTimeoutMs: 30_000,
  pageSize: 1000,
  preset: { discovery: 'none' },
  reloadDebounceMs: 300,
  shutdownGraceMs: 10_000,
  logLevel: 'info',
  server: {
    connectionTimeout: 30_000,
    requestTimeout: 60_000,
    pingInterval: 30_000,
    maxInFlight: 100,
    maxQueuedMessages: 4096,
    maxMessageBytes: 10 * 1024 * 1024,
    sessionMode: 'shared',
    credentials: 'shared',
    protocol: 'auto',
    replicas: 1
  },
  breaker: { consecutiveFailures: 5, failureRate: 0.5, window: 20, halfOpenAfterMs: 5000 },
  restart: { maxRetries: 10, initialDelayMs: 100, maxDelayMs: 30_000, stableAfterMs: 60_000 },
  sessions: { idleTimeoutMs: 30 * 60_000, max: 10_000, replayBufferSize: 200, inputTimeoutMs: 120_000 },
  rateLimit: { max: 6000, timeWindowMs: 60_000 },
  loadShedding: { maxEventLoopDelayMs: 1000, retryAfterSeconds: 5 },
  registry: { url: 'https://registry.modelcontextprotocol.io', cacheTtlMs: 60 * 60 * 1000, maxStaleMs: 7 * 24 * 60 * 60 * 1000 }
} as const

export const DEFAULT_PORT = DEFAULTS.port
export const DEFAULT_HOST = DEFAULTS.host

const Milliseconds = (description: string, minimum = 1, byDefault?: number) =>
  Type.Integer({ minimum, maximum: 24 * 3600 * 1000, description, ...(byDefault === undefined ? {} : { default: byDefault }) })

export const RestartPolicy = Type.Object({
  maxRetries: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000, description: 'consecutive failed starts before the backend is parked as crash-loop', default: DEFAULTS.restart.maxRetries })),
  initialDelayMs: Type.Optional(Milliseconds('first restart delay', 1, DEFAULTS.restart.initialDelayMs)),
  maxDelayMs: Type.Optional(Milliseconds('upper bound of the exponential backoff', 1, DEFAULTS.restart.maxDelayMs)),
  stableAfterMs: Type.Optional(Milliseconds('time ready after which the failure counter resets', 1, DEFAULTS.restart.stableAfterMs))
}, { additionalProperties: false, description: 'how a backend that exits or fails is restarted' })
export type RestartPolicy = Static<typeof RestartPolicy>

export const BreakerSettings = Type.Object({
  consecutiveFailures: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, description: 'outages in a row (unreachable, gone mid-call, timed out) that open the breaker', default: DEFAULTS.breaker.consecutiveFailures })),
  failureRate: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'share of outages among the last `window` calls that opens the breaker', default: DEFAULTS.breaker.failureRate })),
  window: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, description: 'calls the failure rate is measured over', default: DEFAULTS.breaker.window })),
  halfOpenAfterMs: Type.Optional(Milliseconds('time open (calls fail at once) before one probe call is let through', 1, DEFAULTS.breaker.halfOpenAfterMs))
}, { additionalProperties: false, description: 'remote servers: the circuit breaker in front of each connection' })
export type BreakerSettings = Static<typeof BreakerSettings>

/** How the gateway logs in to a remote server that answers 401 with its resource metadata (the MCP authorization flow). */
export const UpstreamOAuth = Type.Object({
  clientId: Type.Optional(Type.String({ minLength: 1, description: 'a client id registered with the server\'s authorization server; without one the gateway uses clientMetadataUrl where the server supports it, else dynamic registration' })),
  clientSecret: Type.Optional(Type.String({ minLength: 1, description: 'its secret, for a confidential client (substituted from the environment like any value)' })),
  clientMetadataUrl: Type.Optional(Type.String({ pattern: '^https://', description: 'the https URL of the gateway\'s Client ID Metadata Document, used as its client id where the authorization server supports it' })),
  scopes: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'the scopes to ask for; default: those the server\'s metadata lists' })),
  clientCredentials: Type.Optional(Type.Boolean({ description: 'machine to machine: the gateway gets its token itself with the client credentials grant (clientId and clientSecret required) at the authorization server the server\'s metadata names, and again before it expires or on a 401; no login, never needs-auth' })),
  issuer: Type.Optional(Type.String({ pattern: '^https?://', description: 'with clientCredentials: the issuer of the authorization server the client is registered with; the secret is sent to no other (default: the one the server\'s metadata names)' }))
}, { additionalProperties: false, description: 'log in to this remote server as an OAuth client (`1mcp auth login <server>`, or the client credentials grant); the tokens are kept encrypted in auth.dataDir (client credentials tokens in memory only)' })
export type UpstreamOAuth = Static<typeof UpstreamOAuth>

export const ServerConfig = Type.Object({
  type: Type.Optional(Type.Union([
    Type.Literal('stdio'),
    Type.Literal('http'),
    Type.Literal('streamable-http'),
    Type.Literal('streamableHttp'),
    Type.Literal('sse')
  ], { description: 'transport; inferred when absent: command → stdio, url → Streamable HTTP (falling back to SSE)' })),
  command: Type.Optional(Type.String({ minLength: 1, description: 'a stdio server: the program the gateway starts as a child process, in its own process group' })),
  args: Type.Optional(Type.Array(Type.String(), { description: 'its arguments' })),
  env: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'its environment, on top of PATH, HOME and a few basics (nothing else of the gateway\'s environment)' })),
  cwd: Type.Optional(Type.String({ description: 'its working directory; relative to the config file\'s folder, which is also the default' })),
  url: Type.Optional(Type.String({ pattern: '^https?://', description: 'a remote server: its Streamable HTTP (or SSE) endpoint' })),
  urls: Type.Optional(Type.Array(Type.String({ pattern: '^https?://' }), { minItems: 1, maxItems: 64, description: 'a remote server: equivalent endpoints, one replica each (instead of url)' })),
  replicas: Type.Optional(Type.Integer({ minimum: 1, maximum: 64, description: 'connections to keep (stdio: child processes); calls go to the least-loaded ready one. With urls: the number of urls by default, spread over them', default: DEFAULTS.server.replicas })),
  retryTools: Type.Optional(Type.Boolean({ description: 'a tool call whose replica died or timed out is retried once on a sibling: by default when the tool says readOnlyHint or idempotentHint; true for every tool, false for none' })),
  breaker: Type.Optional(BreakerSettings),
  headers: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'headers sent with every request to the remote server' })),
  oauth: Type.Optional(UpstreamOAuth),
  tags: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z0-9_.:-]+$' }), { description: 'labels for filtering (/mcp?tags=a,b) and for scopes (tag:<tag>)' })),
  disabled: Type.Optional(Type.Boolean({ description: 'keep the entry but do not start it' })),
  disabledTools: Type.Optional(Type.Array(Type.String(), { description: 'tool names not to expose' })),
  toolDescriptions: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'tool name → the description clients see instead of the server\'s own' })),
  description: Type.Optional(Type.String({ description: 'what the server is for, shown by `1mcp mcp list`' })),
  connectionTimeout: Type.Optional(Milliseconds('time allowed to connect and initialize, ms', 1, DEFAULTS.server.connectionTimeout)),
  requestTimeout: Type.Optional(Milliseconds('time allowed per request, ms; progress resets it', 1, DEFAULTS.server.requestTimeout)),
  pingInterval: Type.Optional(Milliseconds('health-check ping period, ms; 0 turns it off', 0, DEFAULTS.server.pingInterval)),
  maxInFlight: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, description: 'calls in flight to this backend before new ones queue', default: DEFAULTS.server.maxInFlight })),
  maxQueuedMessages: Type.Optional(Type.Integer({ minimum: 16, maximum: 1000000, description: 'messages from the backend waiting to be handled before the gateway stops reading from it (stdio)', default: DEFAULTS.server.maxQueuedMessages })),
  maxMessageBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 1024 * 1024 * 1024, description: 'stdio: the largest message (one line) the backend may send, bytes', default: DEFAULTS.server.maxMessageBytes })),
  restart: Type.Optional(RestartPolicy),
  sessionMode: Type.Optional(Type.Union([Type.Literal('shared'), Type.Literal('per-client')], { description: 'shared: one backend connection for all clients; per-client: one per client session', default: DEFAULTS.server.sessionMode })),
  credentials: Type.Optional(Type.Union([Type.Literal('shared'), Type.Literal('per-user')], {
    description: 'remote servers that need OAuth: shared: the owner logs the gateway in once (`1mcp auth login`) for every client; per-user: each gateway user (token subject and client) authorizes on their first call (URL elicitation) and their calls go out with their own upstream token, on a connection of their own',
    default: DEFAULTS.server.credentials
  })),
  protocol: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('legacy')], {
    description: 'auto: probe with server/discover and speak 2026-07-28 to a backend that offers it, else the 2025 handshake; legacy: the 2025 handshake only',
    default: DEFAULTS.server.protocol
  }))
}, { additionalProperties: false })
export type ServerConfig = Static<typeof ServerConfig>

export const SessionSettings = Type.Object({
  idleTimeoutMs: Type.Optional(Milliseconds('a session unused this long is ended', 1, DEFAULTS.sessions.idleTimeoutMs)),
  max: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000000, description: 'most sessions open at once', default: DEFAULTS.sessions.max })),
  maxPerClient: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000000, description: 'most sessions and /sse streams one token subject and client may hold (default: a quarter of max)' })),
  replayBufferSize: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000, description: 'SSE events kept per session for Last-Event-ID resumption', default: DEFAULTS.sessions.replayBufferSize })),
  inputTimeoutMs: Type.Optional(Milliseconds('how long a 2026-07-28 call that asked its client for input waits for the retry before it is cancelled', 1, DEFAULTS.sessions.inputTimeoutMs)),
  key: Type.Optional(Type.String({ minLength: 32, description: 'the key session ids are sealed with (32 random bytes in base64 or hex: openssl rand -base64 32), the same on every instance behind one load balancer; env ONEMCP_SESSION_KEY; read at start. When unset, each start makes one of its own (one instance works; several need this). Instances that also share auth.dataDir share DELETE and logging/setLevel (markers under <dataDir>/sessions/)' })),
  instanceUrl: Type.Optional(Type.String({ pattern: '^https?://', description: 'where the other instances reach this one directly (not through the load balancer), e.g. http://10.0.0.5:3050: a client\'s answer to a sampling or elicitation request that reaches another instance is passed on here; env ONEMCP_INSTANCE_URL' })),
  previousKey: Type.Optional(Type.String({ minLength: 32, description: 'the key before the current one: ids it sealed are still accepted (key rotation); env ONEMCP_SESSION_KEY_PREVIOUS' }))
}, { additionalProperties: false, description: 'client sessions' })

export const RateLimitSettings = Type.Union([Type.Literal(false), Type.Object({
  max: Type.Optional(Type.Integer({ minimum: 1, description: 'requests per token subject and client per window', default: DEFAULTS.rateLimit.max })),
  timeWindowMs: Type.Optional(Milliseconds('the window', 1, DEFAULTS.rateLimit.timeWindowMs))
}, { additionalProperties: false })], { description: 'MCP requests per client; false turns the limit off' })

export const LoadSheddingSettings = Type.Union([Type.Literal(false), Type.Object({
  maxEventLoopDelayMs: Type.Optional(Milliseconds('event-loop lag above which MCP requests are refused with 503', 1, DEFAULTS.loadShedding.maxEventLoopDelayMs)),
  retryAfterSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600, description: 'the Retry-After those 503s carry', default: DEFAULTS.loadShedding.retryAfterSeconds }))
}, { additionalProperties: false })], { description: 'refuse MCP requests while the event loop lags; false turns it off' })

export const RegistrySettings = Type.Object({
  url: Type.Optional(Type.String({ pattern: '^https?://', description: 'MCP Registry base URL for `1mcp registry` and `1mcp mcp install`', default: DEFAULTS.registry.url })),
  cacheTtlMs: Type.Optional(Milliseconds('registry answers younger than this are served from the cache', 0, DEFAULTS.registry.cacheTtlMs)),
  maxStaleMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 365 * 24 * 3600 * 1000, description: 'when the registry is unreachable, cached answers up to this old are used', default: DEFAULTS.registry.maxStaleMs }))
}, { additionalProperties: false, description: 'the MCP Registry the CLI searches' })

export const Preset = Type.Object({
  filter: Type.String({ minLength: 1, description: 'a tag filter expression: tags joined by and, or, not and parentheses' }),
  description: Type.Optional(Type.String({ description: 'what the preset is for, shown by `1mcp preset list`' })),
  discovery: Type.Optional(Type.Union([Type.Literal('none'), Type.Literal('search')], { description: 'search: the preset\'s tools/list is search_tools, describe_tools and call_tool (docs/discovery.md); ?discovery= overrides it', default: DEFAULTS.preset.discovery }))
}, { additionalProperties: false })
export type Preset = Static<typeof Preset>

export const GatewayConfig = Type.Object({
  $schema: Type.Optional(Type.String({ description: 'a JSON Schema URL for editors; ignored' })),
  mcpServers: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_-]+$' }), ServerConfig, { description: 'the servers, by name (letters, digits, _ and -)' }),
  host: Type.Optional(Type.String({ minLength: 1, description: 'address to bind (loopback by default)', default: DEFAULTS.host })),
  port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, description: 'port to listen on', default: DEFAULTS.port })),
  externalUrl: Type.Optional(Type.String({ pattern: '^https?://', description: 'public base URL when behind a reverse proxy; also accepted as Host and Origin' })),
  trustProxy: Type.Optional(Type.Union([Type.Boolean(), Type.String(), Type.Integer({ minimum: 1 })], { description: 'the reverse proxy\'s address(es), whose X-Forwarded-* headers are believed; never true behind a proxy that passes a client\'s own X-Forwarded-For' })),
  bodyLimit: Type.Optional(Type.Integer({ minimum: 1024, maximum: 64 * 1024 * 1024, description: 'largest request body, bytes', default: DEFAULTS.bodyLimit })),
  receiveTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 3_600_000, description: 'how long a client has to send a whole request, headers and body, ms; a trickled request is answered 408 and its connection closed. Responses (SSE streams included) are not limited by it', default: DEFAULTS.receiveTimeoutMs })),
  allowedHosts: Type.Optional(Type.Array(Type.String(), { description: 'Host header values accepted besides loopback and externalUrl' })),
  allowedOrigins: Type.Optional(Type.Array(Type.String(), { description: 'Origin header values accepted besides loopback and externalUrl' })),
  pageSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, description: 'items per page of a list answer', default: DEFAULTS.pageSize })),
  reloadDebounceMs: Type.Optional(Milliseconds('wait after a file change before reloading', 0, DEFAULTS.reloadDebounceMs)),
  shutdownGraceMs: Type.Optional(Milliseconds('time calls in flight get to finish when the gateway stops (SIGTERM, SIGINT); later ones are cancelled', 0, DEFAULTS.shutdownGraceMs)),
  logLevel: Type.Optional(Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { description: 'the log level', default: DEFAULTS.logLevel })),
  sessions: Type.Optional(SessionSettings),
  rateLimit: Type.Optional(RateLimitSettings),
  loadShedding: Type.Optional(LoadSheddingSettings),
  auth: Type.Optional(AuthSettings),
  plugins: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Fastify plugins to register: paths relative to the config file, or npm packages installed beside it' })),
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
