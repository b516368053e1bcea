/**
 * Progressive tool discovery measured (docs/discovery.md): the tokens of the full tools/list against
 * the three discovery tools, the latency of search_tools over 1,000 tools, and retrieval quality
 * (recall@3, hit@3, MRR) on the labelled queries of bench/discovery-queries.json. Real servers
 * (config.json's everything and memory, the echo fixture) behind an in-process gateway on loopback,
 * reached with the SDK client; the 1,000 tools are bench/fixtures/many-tools.mjs.
 *
 *   npm run bench:discovery [-- --json]      (also the last part of `npm run bench`)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { buildApp } from '../app.js'
import { countToolTokens } from '../plugins/tool-tokens.js'
import { ToolSearch, paramNames } from '../mcp/discovery/tool-search.js'
import { quantile } from './load.js'

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)))
const QUERIES = JSON.parse(readFileSync(join(ROOT, 'bench/discovery-queries.json'), 'utf8')) as { queries: Array<{ query: string, relevant: string[] }> }
const SEARCHES = 1000

type Tool = Record<string, unknown>

function realServers (dir: string) {
  const config = JSON.parse(readFileSync(join(ROOT, 'config.json'), 'utf8')) as { mcpServers: Record<string, { args: string[], env?: object }> }
  const servers: Record<string, object> = {}
  for (const [name, server] of Object.entries(config.mcpServers)) {
    servers[name] = { ...server, cwd: ROOT, args: server.args, env: { ...server.env, MEMORY_FILE_PATH: join(dir, 'memory.jsonl') } }
  }
  servers.echo = { command: process.execPath, args: [join(ROOT, 'test/fixtures/echo-server.mjs')], env: { FIXTURE_NAME: 'echo' } }
  return servers
}

async function gateway (servers: Record<string, object>) {
  const app = await buildApp({ noAuth: true, logger: false, config: { mcpServers: servers, loadShedding: false, rateLimit: false } as never })
  await app.listen({ port: 0, host: '127.0.0.1' })
  await app.backends.settled()
  await app.capabilities.settled()
  const address = app.server.address()
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
  const clients: Client[] = []
  const connect = async (path: string) => {
    const client = new Client({ name: 'bench-discovery', version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(`${base}${path}`)))
    clients.push(client)
    return client
  }
  const close = async () => {
    await Promise.allSettled(clients.map((c) => c.close()))
    await app.close()
  }
  return { app, connect, close }
}

async function allTools (client: Client): Promise<Tool[]> {
  const tools: Tool[] = []
  let cursor: string | undefined
  for (let page = 0; page < 100; page++) {
    const result = await client.listTools(cursor ? { cursor } : {})
    tools.push(...result.tools as Tool[])
    cursor = result.nextCursor
    if (!cursor) break
  }
  return tools
}

async function searchNames (client: Client, query: string, limit: number): Promise<string[]> {
  const result = await client.callTool({ name: 'search_tools', arguments: { query, limit } }) as { structuredContent?: { tools: Array<{ name: string }> } }
  return (result.structuredContent?.tools ?? []).map((t) => t.name)
}

interface Quality { queries: number, recallAt3: number, hitAt3: number, mrr: number, misses: string[] }

/** recall@3 (the share of a query's relevant tools in its top 3), hit@3 (one of them is), MRR over the top 10. */
async function quality (search: (query: string) => Promise<string[]>): Promise<Quality> {
  let recall = 0
  let hits = 0
  let reciprocal = 0
  const misses: string[] = []
  for (const { query, relevant } of QUERIES.queries) {
    const ranked = await search(query)
    const top3 = ranked.slice(0, 3)
    recall += relevant.filter((name) => top3.includes(name)).length / Math.min(relevant.length, 3)
    if (relevant.some((name) => top3.includes(name))) hits++
    else misses.push(`${query} → ${top3.join(', ')}`)
    const rank = ranked.findIndex((name) => relevant.includes(name))
    reciprocal += rank < 0 ? 0 : 1 / (rank + 1)
  }
  const n = QUERIES.queries.length
  return { queries: n, recallAt3: recall / n, hitAt3: hits / n, mrr: reciprocal / n, misses }
}

/** search_tools end to end (SDK client → gateway → index), and the index's search alone, over the same queries. */
async function latency (client: Client, tools: Tool[], queries: string[]) {
  const http: number[] = []
  for (let i = 0; i < SEARCHES; i++) {
    const started = performance.now()
    await searchNames(client, queries[i % queries.length], 5)
    http.push(performance.now() - started)
  }
  const index = new ToolSearch(tools.map((t) => ({ name: String(t.name), backend: 'x', original: String(t.name), description: String(t.description ?? ''), params: paramNames(t.inputSchema) })))
  const inProcess: number[] = []
  for (let i = 0; i < SEARCHES; i++) {
    const started = performance.now()
    index.search(queries[i % queries.length], 5)
    inProcess.push(performance.now() - started)
  }
  const buildStarted = performance.now()
  void new ToolSearch(tools.map((t) => ({ name: String(t.name), backend: 'x', original: String(t.name), description: String(t.description ?? '') })))
  const buildMs = performance.now() - buildStarted
  const p = (values: number[], q: number) => quantile(values.sort((a, b) => a - b), q)
  return { tools: index.size, httpP50Ms: p(http, 0.5), httpP99Ms: p(http, 0.99), indexP50Ms: p(inProcess, 0.5), indexP99Ms: p(inProcess, 0.99), rebuildMs: buildMs }
}

const fmt = (n: number, digits = 2) => n.toFixed(digits)

export async function discoveryBench (json = false): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), '1mcp-discovery-'))
  const say = (text: string) => { if (!json) process.stderr.write(`  ${text}\n`) }
  try {
    say('discovery: starting a gateway with everything, memory and the echo fixture')
    const real = await gateway(realServers(dir))
    const full = await allTools(await real.connect('/mcp'))
    const discovering = await real.connect('/mcp?discovery=search')
    const meta = (await discovering.listTools()).tools as Tool[]
    const tokens = { fullTools: full.length, fullTokens: await countToolTokens(full), discoveryTools: meta.length, discoveryTokens: await countToolTokens(meta) }
    const realQuality = await quality((q) => searchNames(discovering, q, 10))
    await real.close()

    say('discovery: the same with 1,000 synthetic tools beside them (bench/fixtures/many-tools.mjs)')
    const big = await gateway({ ...realServers(dir), many: { command: process.execPath, args: [join(ROOT, 'bench/fixtures/many-tools.mjs')], env: { TOOL_COUNT: '1000' } } })
    const bigFull = await allTools(await big.connect('/mcp'))
    const bigDiscovering = await big.connect('/mcp?discovery=search')
    const bigTokens = { fullTools: bigFull.length, fullTokens: await countToolTokens(bigFull) }
    const crowdedQuality = await quality((q) => searchNames(bigDiscovering, q, 10))
    const synthetic = bigFull.filter((t) => String(t.name).startsWith('many_1mcp_'))
    const speed = await latency(bigDiscovering, synthetic, [...QUERIES.queries.map((q) => q.query), 'create a jira ticket', 'refund a stripe payment', 'list kubernetes pods', 'weather forecast'])
    await big.close()

    const report = { tokens, withSynthetic: bigTokens, quality: realQuality, qualityAmong1000More: crowdedQuality, searchOver1000: speed }
    if (json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
      return
    }
    const saved = 100 * (1 - tokens.discoveryTokens / tokens.fullTokens)
    process.stdout.write([
      '',
      'Progressive tool discovery (o200k_base tokens; SDK client over loopback)',
      `  tools/list, default config + echo fixture: ${tokens.fullTools} tools, ${tokens.fullTokens} tokens`,
      `  tools/list with ?discovery=search:        ${tokens.discoveryTools} tools, ${tokens.discoveryTokens} tokens (${fmt(saved, 1)}% fewer)`,
      `  with 1,000 more tools:                    ${bigTokens.fullTools} tools, ${bigTokens.fullTokens} tokens vs the same ${tokens.discoveryTokens}`,
      `  search_tools over ${speed.tools} tools (${SEARCHES} searches): p50 ${fmt(speed.httpP50Ms)} ms, p99 ${fmt(speed.httpP99Ms)} ms end to end; index alone p50 ${fmt(speed.indexP50Ms, 3)} ms, p99 ${fmt(speed.indexP99Ms, 3)} ms; rebuild ${fmt(speed.rebuildMs, 1)} ms`,
      `  retrieval, ${realQuality.queries} labelled queries: recall@3 ${fmt(realQuality.recallAt3, 3)}, hit@3 ${fmt(realQuality.hitAt3, 3)}, MRR ${fmt(realQuality.mrr, 3)}`,
      `  the same among 1,000 more tools:         recall@3 ${fmt(crowdedQuality.recallAt3, 3)}, hit@3 ${fmt(crowdedQuality.hitAt3, 3)}, MRR ${fmt(crowdedQuality.mrr, 3)}`,
      ...realQuality.misses.map((m) => `    miss: ${m}`),
      ''
    ].join('\n'))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await discoveryBench(process.argv.includes('--json'))
}
