import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The benchmark's MCP server (stdio, or Streamable HTTP with `http PORT`). */
export const FIXTURE = join(resolve(fileURLToPath(new URL('..', import.meta.url))), 'bench/fixtures/bench-server.mjs')

/** The rate limiter and load shedding stay on the path (their cost is measured) but never refuse the load. */
export const PROTECTION = { rateLimit: { max: 1_000_000_000, timeWindowMs: 60_000 }, loadShedding: { maxEventLoopDelayMs: 60_000 } }

/** The fixture as a stdio server in a gateway config. */
export function fixtureServer (name: string, toolCount?: number) {
  return { command: process.execPath, args: [FIXTURE], env: { FIXTURE_NAME: name, ...(toolCount ? { TOOL_COUNT: String(toolCount) } : {}) } }
}
