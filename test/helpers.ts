import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { request, type IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js'
import { buildApp, type BuildOptions } from '../app.js'
import type { ServerConfig } from '../schemas/config.js'
import { LogCapture, testPassphraseHash } from './auth-helpers.js'
import { STATELESS_VERSION } from '../mcp/versions.js'

export const ECHO_SERVER = fileURLToPath(new URL('./fixtures/echo-server.mjs', import.meta.url))

/** A stdio backend running the echo fixture under `name`. */
export function echoFixture (name: string, env: Record<string, string> = {}, extra: Partial<ServerConfig> = {}): ServerConfig {
  return { command: process.execPath, args: [ECHO_SERVER], env: { FIXTURE_NAME: name, ...env }, ...extra }
}

export interface Gateway {
  app: FastifyInstance
  /** http://127.0.0.1:PORT */
  base: string
  /** the aggregated endpoint */
  url: URL
}

/** A gateway with auth on: its log lines and its data folder besides. */
export interface AuthGateway extends Gateway {
  logs: LogCapture
  dataDir: string
}

export interface StartOptions extends BuildOptions {
  /**
   * Auth on: `true`, or settings laid over the test owner's passphrase hash and the data folder
   * (a setting given as undefined is left out). Without it the gateway serves with no auth.
   */
  auth?: true | Record<string, unknown>
  /** with auth: the data folder (default: a new temporary one) */
  dataDir?: string
  /** the port to listen on (default: any free one) */
  port?: number
}

/**
 * Builds the gateway, listens on loopback and waits for the backends' first attempt. Auth is off
 * unless `auth` is given; with it the gateway logs (at debug) into a capture and keeps its data in
 * a temporary folder (or `dataDir`).
 */
export async function startGateway (t: Test, options: StartOptions & { auth: true | Record<string, unknown> }): Promise<AuthGateway>
export async function startGateway (t: Test, options?: StartOptions): Promise<Gateway>
export async function startGateway (t: Test, options: StartOptions = {}): Promise<Gateway | AuthGateway> {
  const { auth, dataDir, port, ...build } = options
  const secured = auth ? { logs: new LogCapture(), dataDir: dataDir ?? await tempDir(t, '1mcp-auth-') } : undefined
  build.config = await testConfig(build.config, auth, secured?.dataDir)
  const app = await buildApp(secured ? { logger: { level: 'debug', stream: secured.logs.stream }, ...build } : { noAuth: true, logger: false, ...build })
  let base = ''
  t.teardown(async () => {
    await closeClientsOf(base)
    await app.close()
  })
  await app.listen({ port: port ?? 0, host: '127.0.0.1' })
  await settle(app)
  const address = app.server.address()
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
  return { app, base, url: new URL(`${base}/mcp`), ...secured }
}

/**
 * The config a test gateway starts with. Load shedding reacts to event-loop lag, which a busy 2-core
 * test machine produces at random: it is off unless a test turns it on (resilience.test.ts does).
 * With auth: the test owner's passphrase hash and the data folder, under what the test sets.
 */
async function testConfig (config: BuildOptions['config'], auth: StartOptions['auth'], dataDir?: string): Promise<BuildOptions['config']> {
  const given = (config ?? (auth ? { mcpServers: {} } : undefined)) as { loadShedding?: unknown, auth?: object } | undefined
  if (!given) return undefined
  const withDefaults = { ...given, loadShedding: given.loadShedding ?? false }
  if (!auth) return withDefaults as BuildOptions['config']
  const settings = { dataDir, passphraseHash: await testPassphraseHash(), ...given.auth, ...(auth === true ? {} : auth) }
  return { ...withDefaults, auth: Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)) } as BuildOptions['config']
}

/** A temporary folder, removed at teardown. */
export async function tempDir (t: Test, prefix = '1mcp-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** Waits until every backend has had its first attempt and every list fetch has finished. */
export async function settle (app: FastifyInstance): Promise<void> {
  await app.backends.settled()
  await app.capabilities.settled()
}

/** Closers of the clients `connect` opened, by the origin they talk to. */
const openClients = new Map<string, Set<() => Promise<void>>>()

/**
 * Closes the clients still talking to a gateway, before it closes: a client whose GET stream the
 * closing gateway ends tries to reconnect, and the close then waits seconds for it.
 */
async function closeClientsOf (origin: string): Promise<void> {
  await Promise.all([...openClients.get(origin) ?? []].map((close) => close()))
}

/** An SDK client connected over Streamable HTTP; closed at teardown (or before its gateway closes). */
export async function connect (t: Test, url: URL | string, capabilities: ClientCapabilities = {}, name = 'test-client'): Promise<Client> {
  const client = new Client({ name, version: '1.0.0' }, { capabilities })
  const target = new URL(url)
  const transport = new StreamableHTTPClientTransport(target)
  await client.connect(transport)
  const closers = openClients.get(target.origin) ?? new Set()
  openClients.set(target.origin, closers)
  let closing: Promise<void> | undefined
  const close = () => {
    closing ??= (async () => {
      closers.delete(close)
      await transport.terminateSession().catch(() => {})
      await client.close()
    })()
    return closing
  }
  closers.add(close)
  t.teardown(close)
  return client
}

/** Polls `check` until it returns a truthy value; bounded in time. */
export async function waitFor<T> (check: () => T | Promise<T>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Whether a process id is alive. */
export function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * For a child process of ours that runs the TypeScript sources through tsx: no coverage from it.
 * tap's process tracking hooks every spawn (whatever env it is given) and would collect the child's V8
 * coverage; tsx's output differs from tap's own TypeScript loader, and merging the two garbles the report
 * of every file both load (lines that ran reported as missed). Add it to the env of such a child.
 */
export const NO_CHILD_COVERAGE = { _TAPJS_PROCESSINFO_COVERAGE_: '0' } as const

/** This process's environment plus `extra`, without coverage: for a tsx child of ours (see NO_CHILD_COVERAGE). */
export function uncoveredChildEnv (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra, ...NO_CHILD_COVERAGE }
  delete env.NODE_V8_COVERAGE
  return env
}

/** The headers of a raw JSON-RPC POST to an MCP endpoint: JSON in, JSON or an SSE stream out. */
export const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' } as const

/** An initialize request, as a raw client sends it first. */
export function initializeRequest (protocolVersion = '2025-11-25', name = 'raw'): Record<string, unknown> {
  return { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion, capabilities: {}, clientInfo: { name, version: '1' } } }
}

export interface RawPost {
  /** the JSON-RPC message (a string is sent as it is); default: an initialize request */
  body?: unknown
  /** sent as `Authorization: Bearer …` */
  token?: string
  /** sent as `Mcp-Session-Id` */
  session?: string
  /** over the defaults */
  headers?: Record<string, string>
  signal?: AbortSignal
}

/** A raw POST to an MCP endpoint, for what a well-behaved SDK client never sends (or to see the bare HTTP answer). */
export function postMcp (url: URL | string, { body = initializeRequest(), token, session, headers = {}, signal }: RawPost = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { ...MCP_HEADERS, ...(token ? { authorization: `Bearer ${token}` } : {}), ...(session ? { 'mcp-session-id': session } : {}), ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal
  })
}

export { STATELESS_VERSION }

/** The headers of a 2026-07-28 POST: the version, `Mcp-Method`, and `Mcp-Name` when the message names a tool, prompt or task. */
export function statelessHeaders (method: string, name?: unknown): Record<string, string> {
  return {
    ...MCP_HEADERS,
    'mcp-protocol-version': STATELESS_VERSION,
    'mcp-method': method,
    ...(typeof name === 'string' ? { 'mcp-name': name } : {})
  }
}

/**
 * A raw 2026-07-28 POST, for what a well-behaved SDK client never sends (or cannot receive); `headers`
 * override the defaults. Resolves with the status and the JSON-RPC response (the last one on an SSE stream).
 */
export async function postStateless (url: URL | string, message: Record<string, unknown>, headers: Record<string, string> = {}): Promise<{ status: number, json: Record<string, unknown> }> {
  const params = message.params as { name?: unknown, taskId?: unknown } | undefined
  const response = await postMcp(url, { body: { jsonrpc: '2.0', ...message }, headers: { ...statelessHeaders(String(message.method), params?.name ?? params?.taskId), ...headers } })
  return { status: response.status, json: lastRpcMessage(await response.text()) }
}

/** The JSON-RPC response in a body: the body itself, or the last message of an SSE stream. */
function lastRpcMessage (text: string): Record<string, unknown> {
  const data = text.startsWith('{') ? text : text.split('\n').filter((line) => line.startsWith('data: {')).pop()?.slice(6) ?? '{}'
  return JSON.parse(data) as Record<string, unknown>
}

/**
 * postStateless over node:http without a shared keep-alive pool: on `socket`, a connection already
 * open, or else on a connection of its own (`Connection: close`). Resolves with the response's
 * Connection header too.
 */
export async function postStatelessOnce (url: URL | string, message: Record<string, unknown>, socket?: Socket): Promise<{ status: number, connection?: string, json: Record<string, unknown> }> {
  const params = message.params as { name?: unknown } | undefined
  const headers = { ...statelessHeaders(String(message.method), params?.name), ...(socket ? {} : { connection: 'close' }) }
  const req = request(url, { method: 'POST', headers, ...(socket ? { createConnection: () => socket } : { agent: false }) })
  req.end(JSON.stringify({ jsonrpc: '2.0', ...message }))
  const [res] = await once(req, 'response') as [IncomingMessage]
  let text = ''
  for await (const chunk of res) text += String(chunk)
  return { status: res.statusCode ?? 0, connection: res.headers.connection, json: lastRpcMessage(text) }
}
