// The gateway as cli/ may use it (eslint.config.js holds cli/ to this file, app.ts and server.ts):
// where the config is and whether it is valid, its schema and defaults, the tag filter a preset or a
// `?tags=` query uses, how a tool is named and counted, and the private atomic file writes the
// gateway uses for its own files. Every CLI command loads this file, so it re-exports nothing that
// builds or serves the app (no Fastify instance, no routes).
// Running the gateway is app.ts (`buildApp`, the package's main export) and server.ts (`serve`),
// each imported lazily by the one command that needs it.
export type { GatewayConfig, Preset, ServerConfig } from './schemas/config.js'
export { DEFAULT_HOST, DEFAULT_PORT, DEFAULTS } from './schemas/config.js'
export type { HealthReport } from './schemas/health.js'
export { editDistance, locateConfig, userConfigDir, validateConfigTemplate, type ConfigLocation } from './plugins/config-load.js'
export { compileTagFilter } from './mcp/tag-filter.js'
export { TagFilterError } from './mcp/errors.js'
export { GATEWAY_INFO, transportKind } from './backends/backend.js'
export { exposedName } from './mcp/capability-names.js'
export { countToolTokens } from './plugins/tool-tokens.js'
export { readJson, writeFileAtomic, writeJsonAtomic } from './auth/files.js'
