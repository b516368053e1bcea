/** The timed trials: a backend killed with a call in flight, the fixture's own start, a hot reload. */
import { writeFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import type { McpHttp } from './load.js'
import { FIXTURE, fixtureServer } from './fixture.js'
import { poll } from './procs.js'

export interface CrashTrial {
  /** SIGKILL → the call in flight fails */
  detectMs: number
  /** SIGKILL → a new call succeeds */
  recoverMs: number
}

/** SIGKILLs a backend with a call in flight: time until that call fails, and until a new call succeeds. */
export async function crashTrial (client: McpHttp, sid: string, backend: string): Promise<CrashTrial> {
  const pidResult = await client.callTool(sid, `${backend}_1mcp_pid`, {}) as { content: Array<{ text: string }> }
  const pid = Number(pidResult.content[0].text)
  const inflight = client.callTool(sid, `${backend}_1mcp_sleep`, { ms: 20_000 }).then(
    () => { throw new Error(`the call in flight to ${backend} succeeded although its process was killed`) },
    () => performance.now()
  )
  await sleep(100)
  const t0 = performance.now()
  process.kill(pid, 'SIGKILL')
  const failedAt = await Promise.race([inflight, sleep(10_000).then(() => { throw new Error(`the call in flight to ${backend} did not fail within 10 s`) })])
  const recoveredAt = await poll(() => client.callTool(sid, `${backend}_1mcp_echo`, { text: 'again' }).then(() => performance.now()), `${backend} to answer again`, 10_000, 10)
  return { detectMs: failedAt - t0, recoverMs: recoveredAt - t0 }
}

/** The fixture's own start time: spawn to a finished `initialize`, with the SDK client over stdio. */
export async function fixtureStartMs (): Promise<number> {
  const t0 = performance.now()
  const client = new Client({ name: 'bench', version: '1.0.0' })
  const transport = new StdioClientTransport({ command: process.execPath, args: [FIXTURE], env: { FIXTURE_NAME: 'own' } as Record<string, string> })
  await client.connect(transport)
  const ms = performance.now() - t0
  await client.close()
  return ms
}

export interface ReloadTrial {
  /** save → the gateway lists the new server (debounce, read, validate, diff) */
  seenMs: number
  /** save → the new server is ready (its process started and initialized) */
  readyMs: number
  /** save → a call to one of its tools succeeds */
  callableMs: number
}

/**
 * Adds a server to the watched config file: time from the save until its tools answer. Polls every
 * 10 ms, not faster: on a small machine a tighter loop would slow the very start it measures.
 */
export async function reloadTrial (client: McpHttp, origin: string, sid: string, configPath: string, config: { mcpServers: Record<string, unknown> }, name: string): Promise<ReloadTrial> {
  config.mcpServers[name] = fixtureServer(name)
  const t0 = performance.now()
  writeFileSync(configPath, JSON.stringify(config, null, 2))
  let seenMs = NaN
  let readyMs = NaN
  const callableMs = await poll(async () => {
    if (Number.isNaN(readyMs)) {
      const health = await (await fetch(`${origin}/health`)).json() as { backends: Array<{ name: string, state: string }> }
      const entry = health.backends.find((b) => b.name === name)
      if (entry && Number.isNaN(seenMs)) seenMs = performance.now() - t0
      if (entry?.state === 'ready') readyMs = performance.now() - t0
    }
    return client.callTool(sid, `${name}_1mcp_echo`, { text: 'new' }).then(() => performance.now() - t0)
  }, `${name} to be callable`, 30_000, 10)
  return { seenMs, readyMs, callableMs }
}
