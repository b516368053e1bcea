/**
 * The MCP protocol versions the gateway speaks, in one place. Two generations: the session-based one
 * (2024-11-05 … 2025-11-25: `initialize`, `Mcp-Session-Id`) and the stateless 2026-07-28 one (every
 * request carries its version and client capabilities in `_meta`; no session).
 */

/** The newest session-based version, answered to a client that asks for one we do not know. */
export const LATEST_SESSION_VERSION = '2025-11-25'

/** Every session-based version, newest first. */
export const SESSION_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05']

/** The stateless generation. */
export const STATELESS_VERSION = '2026-07-28'

/** The version an `initialize` gets: the one asked for when we speak it, else the newest. */
export function negotiateVersion (requested: unknown): string {
  return typeof requested === 'string' && SESSION_VERSIONS.includes(requested) ? requested : LATEST_SESSION_VERSION
}

/** Priming events (an id with empty data, SEP-1699) came with 2025-11-25: older clients fail to parse the empty data. */
export function supportsPriming (version: string): boolean {
  return version >= '2025-11-25'
}
