import { resolve } from 'node:path'
import { SSEClientTransport, StreamableHTTPClientTransport, type AuthProvider, type Transport } from '@modelcontextprotocol/client'
import type { ServerConfig } from '../schemas/config.js'
import { StdioTransport } from './stdio-transport.js'
import { tracedFetch } from './trace-headers.js'
import { DEFAULTS } from '../schemas/config.js'

export type TransportKind = 'stdio' | 'streamable-http' | 'sse'

export function transportKind (config: ServerConfig): TransportKind {
  switch (config.type) {
    case 'stdio': return 'stdio'
    case 'sse': return 'sse'
    case 'http': case 'streamable-http': case 'streamableHttp': return 'streamable-http'
    default: return config.command ? 'stdio' : 'streamable-http'
  }
}

/** The settings whose change means a new connection; anything else applies in place. */
export function connectionFingerprint (config: ServerConfig): string {
  const { type, command, args, env, cwd, url, headers, connectionTimeout, sessionMode, protocol, oauth, credentials } = config
  return JSON.stringify({ type: type ? transportKind(config) : undefined, command, args, env, cwd, url, headers, connectionTimeout, sessionMode, protocol, oauth, credentials })
}

/** What a stdio child reports beside its messages. */
export interface StdioEvents {
  onStderr: (line: string) => void
  onOversized: (limit: number) => void
}

/**
 * A new transport of `kind` for the backend's current config (read again at each call, since a
 * config change that needs no new connection is applied in place): a child process, Streamable
 * HTTP, or SSE.
 */
export function createTransport (kind: TransportKind, currentConfig: () => ServerConfig, baseDir: string, stdio: StdioEvents, authProvider?: AuthProvider): Transport {
  const config = currentConfig()
  if (kind === 'stdio') {
    if (!config.command) throw new Error('a stdio backend needs "command"')
    return new StdioTransport({
      command: config.command,
      args: config.args,
      env: config.env,
      cwd: resolve(baseDir, config.cwd ?? '.'),
      onStderr: stdio.onStderr,
      maxMessageBytes: () => currentConfig().maxMessageBytes ?? DEFAULTS.server.maxMessageBytes,
      onOversized: stdio.onOversized
    })
  }
  if (!config.url) throw new Error(`a ${kind} backend needs "url"`)
  const url = new URL(config.url)
  const requestInit = { headers: config.headers ?? {} }
  return kind === 'sse'
    ? new SSEClientTransport(url, { requestInit, authProvider, eventSourceInit: { fetch: (u, init) => fetch(u, { ...init, headers: { ...init?.headers as Record<string, string>, ...config.headers } }) } })
    : new StreamableHTTPClientTransport(url, { requestInit, authProvider, fetch: tracedFetch() })
}
