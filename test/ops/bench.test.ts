import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import t from 'tap'
import { McpHttp, runLoad, summarize } from '../../bench/load.js'
import { freePort, start, stop, timeToHttp } from '../../bench/procs.js'
import { alive, startGateway, uncoveredChildEnv } from '../helpers.js'

// A smoke test of the benchmark's parts, so that `npm run bench` does not rot between runs:
// its fixtures answer, its load client speaks MCP to all three endpoints, its processes stop.
const FIXTURE = fileURLToPath(new URL('../../bench/fixtures/bench-server.mjs', import.meta.url))
const CEILING = fileURLToPath(new URL('../../bench/fixtures/ceiling.mjs', import.meta.url))
const FLOOR = fileURLToPath(new URL('../../bench/fixtures/proxy-floor.mjs', import.meta.url))

async function endpoint (t: Test, script: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const port = await freePort()
  const proc = start('fixture', process.execPath, [script, ...args, String(port)], { env })
  t.teardown(() => stop(proc))
  const origin = `http://127.0.0.1:${port}`
  t.ok(await timeToHttp(proc, `${origin}/health/live`, 20_000) > 0, 'it starts')
  const client = new McpHttp(origin, '/mcp', 4)
  t.teardown(() => client.close())
  return { proc, client }
}

async function echoLoad (t: Test, client: McpHttp, tool: string) {
  const sid = await client.initialize()
  const result = await client.callTool(sid, tool, { text: 'hello' }) as { content: Array<{ text: string }> }
  t.equal(result.content[0].text, 'bench: hello')
  const sample = await runLoad({ workers: [sid, sid], durationMs: 200, maxCalls: 50, call: (s) => client.callTool(s, tool, { text: 'x' }) })
  const summary = summarize([sample])
  t.ok(summary.calls > 0 && summary.calls <= 50, 'the call cap holds')
  t.equal(summary.errors, 0, summary.firstError ?? 'no failed calls')
  t.ok(summary.p50 <= summary.p99)
}

t.test('the direct SDK server serves the fixture over Streamable HTTP', async (t) => {
  const { proc, client } = await endpoint(t, FIXTURE, ['http'], { TOOL_COUNT: '60' })
  await echoLoad(t, client, 'echo')
  const sid = await client.initialize()
  const list = await client.request(sid, 'tools/list', {})
  t.equal((list.tools as unknown[]).length, 60, 'TOOL_COUNT tools')
  await client.close()
  await stop(proc)
  t.notOk(alive(proc.child.pid!), 'stopped')
})

t.test('the stdio proxy floor relays calls to the fixture and stops it with itself', async (t) => {
  const { proc, client } = await endpoint(t, FLOOR, [])
  await echoLoad(t, client, 'bench_1mcp_echo')
  const sid = await client.initialize()
  const pid = Number(((await client.callTool(sid, 'bench_1mcp_pid', {})) as { content: Array<{ text: string }> }).content[0].text)
  t.ok(alive(pid), 'its stdio child answers')
  const failed = await client.post({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'bench_1mcp_nope', arguments: {} } }, sid)
  t.ok(failed.message?.error ?? failed.message?.result?.isError, 'an unknown tool is answered, not hung')
  await client.close()
  await stop(proc)
  t.notOk(alive(proc.child.pid!), 'stopped')
  for (let i = 0; i < 50 && alive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.notOk(alive(pid), 'its child stopped too')
})

t.test('the ceiling answers JSON-RPC at once', async (t) => {
  const { client } = await endpoint(t, CEILING, [], { TOOL_COUNT: '1000' })
  await echoLoad(t, client, 'echo')
  const sid = await client.initialize()
  const raw = await client.postRaw({ jsonrpc: '2.0', id: 7, method: 'tools/list', params: {} }, sid)
  t.equal((JSON.parse(raw.text).result.tools as unknown[]).length, 1000)
})

t.test('the fixture over stdio behind the gateway, and the cached list answer', async (t) => {
  const gw = await startGateway(t, {
    config: {
      mcpServers: {
        bench: { command: process.execPath, args: [FIXTURE] },
        many: { command: process.execPath, args: [FIXTURE], env: { FIXTURE_NAME: 'many', TOOL_COUNT: '40' } }
      }
    }
  })
  const client = new McpHttp(gw.base, '/mcp', 4)
  t.teardown(() => client.close())
  await echoLoad(t, client, 'bench_1mcp_echo')
  const sid = await client.initialize()
  const first = await client.postRaw({ jsonrpc: '2.0', id: 'a', method: 'tools/list', params: {} }, sid)
  const second = await client.postRaw({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} }, sid)
  const [a, b] = [JSON.parse(first.text), JSON.parse(second.text)]
  t.equal(a.id, 'a', 'each answer keeps its own id')
  t.equal(b.id, 2)
  t.equal(a.result.tools.length, 43)
  t.same(a.result, b.result, 'the same list both times')
  t.match(second.text, /^\{"jsonrpc":"2\.0","id":2,"result":\{"tools":\[/)
})

t.test('bench:ab measures the gateway CPU per call, and with --alloc what it allocates per call, of two checkouts (here: this one twice)', async (t) => {
  const { execFile } = await import('node:child_process')
  const root = fileURLToPath(new URL('../..', import.meta.url))
  const { code, stdout, stderr } = await new Promise<{ code: number | null, stdout: string, stderr: string }>((resolve) => {
    // its gateways run our TypeScript through tsx: they must not write coverage (see NO_CHILD_COVERAGE)
    const child = execFile(process.execPath, ['--import', 'tsx', 'bench/ab.ts', root, root, '--reps', '1', '--calls', '300', '--alloc'], { cwd: root, timeout: 120_000, env: uncoveredChildEnv() }, (err, out, errText) => {
      resolve({ code: err ? (err as { code?: number }).code ?? 1 : 0, stdout: out, stderr: errText })
    })
    t.teardown(() => { child.kill() })
  })
  t.equal(code, 0, stderr)
  const medians = [...stdout.matchAll(/median ([\d.]+) µs of gateway CPU per call/g)].map((m) => Number(m[1]))
  t.equal(medians.length, 2, 'one line per checkout')
  t.ok(medians.every((us) => us > 0 && Number.isFinite(us)), `CPU time per call measured: ${medians.join(', ')} µs`)
  const kb = [...stdout.matchAll(/median ([\d.]+) KB allocated per call/g)].map((m) => Number(m[1]))
  t.equal(kb.length, 2, 'one allocation line per checkout')
  // a call allocates some KB (Fastify's request and reply, the JSON, the promises): not 0, not megabytes
  t.ok(kb.every((v) => v > 1 && v < 1000), `allocation per call measured: ${kb.join(', ')} KB`)
})
