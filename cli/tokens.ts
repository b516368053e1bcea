import { exposedName, countToolTokens } from '../api.js'
import { readConfigFile } from './config-file.js'
import { CliError } from './errors.js'

export interface TokenRow { name: string, state: string, tools: number, tokens: number | null, tags: string[] }

/**
 * Starts the config's servers in-process (no HTTP listener), lists their tools as the gateway
 * exposes them and counts their tokens.
 */
export async function measureToolTokens (path: string, timeoutMs: number): Promise<TokenRow[]> {
  await readConfigFile(path)
  const { buildApp } = await import('../app.js')
  const app = await buildApp({ configPath: path, noAuth: true, logger: false, watch: false })
  try {
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs) })
    const started = (async () => {
      await app.ready()
      await app.backends.settled()
      await app.capabilities.settled()
      return 'started' as const
    })()
    const outcome = await Promise.race([started, timedOut])
    clearTimeout(timer)
    if (outcome === 'timeout' && app.backends.size === 0) throw new CliError(`the servers did not start within ${timeoutMs} ms`, 'pass a longer --timeout')
    const rows: TokenRow[] = []
    for (const backend of app.backends.all()) {
      const tools = app.capabilities.list('tools', { single: backend.name }).map((t) => ({ ...t, name: exposedName(backend.name, String(t.name)) }))
      const ready = backend.state === 'ready'
      rows.push({ name: backend.name, state: backend.state, tools: tools.length, tokens: ready ? await countToolTokens(tools) : null, tags: backend.config.tags ?? [] })
    }
    return rows
  } finally {
    await app.close()
  }
}
