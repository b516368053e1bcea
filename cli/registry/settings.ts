import type { Io } from '../command.js'
import { readConfigFile, resolveConfigPath } from '../config-file.js'
import type { GatewayConfig } from '../../api.js'
import { RegistryClient, defaultCacheDir } from './client.js'

/** The flags every registry command takes. */
export const REGISTRY_OPTIONS = {
  config: { type: 'string' as const },
  'registry-url': { type: 'string' as const },
  'cache-dir': { type: 'string' as const },
  refresh: { type: 'boolean' as const },
  json: { type: 'boolean' as const }
}

export const REGISTRY_OPTIONS_HELP = `  --registry-url URL   the registry (default: "registry": { "url" } in the config, else the official one)
  --refresh            ask the registry even when the cache is fresh
  --cache-dir DIR      where answers are cached (ONEMCP_CACHE_DIR; default ~/.cache/1mcp/registry)
  --json               machine-readable output
  --config FILE        the gateway's config file (ONEMCP_CONFIG; default ./config.json)
`

export interface RegistryFlags {
  config?: string
  'registry-url'?: string
  'cache-dir'?: string
  refresh?: boolean
}

/** The config (when there is one): its `registry` settings and, for install, its servers. */
export async function loadConfig (flags: RegistryFlags, io: Io): Promise<{ path: string, doc?: GatewayConfig }> {
  const path = resolveConfigPath(flags.config, io.env, io.cwd)
  const file = await readConfigFile(path, { allowMissing: true })
  return { path, doc: file.exists ? file.doc : undefined }
}

/** A client set up from the flags, then the config's `registry` key, then the defaults. Notices go to stderr. */
export function clientFor (flags: RegistryFlags, doc: GatewayConfig | undefined, io: Io): RegistryClient {
  const settings = doc?.registry ?? {}
  const cacheDir = flags['cache-dir'] ?? defaultCacheDir(io.env)
  return new RegistryClient({
    url: flags['registry-url'] ?? io.env.ONEMCP_REGISTRY_URL ?? settings.url,
    cacheDir,
    cacheTtlMs: settings.cacheTtlMs,
    maxStaleMs: settings.maxStaleMs,
    refresh: flags.refresh === true,
    onNotice: (message) => io.err(`1mcp: note: ${message}\n`)
  })
}

/** `io.reg/weather@1.2.0` → name and version (`latest` when none is given). */
export function parseRef (ref: string): { name: string, version: string } {
  const slash = ref.indexOf('/')
  const at = ref.indexOf('@', slash + 1)
  if (at === -1) return { name: ref, version: 'latest' }
  return { name: ref.slice(0, at), version: ref.slice(at + 1) || 'latest' }
}
