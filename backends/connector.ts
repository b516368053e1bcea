import type { Logger } from 'pino'
import { Client, SSEClientTransport, type Implementation, type Notification, type Request, type Result, type Transport } from '@modelcontextprotocol/client'
import type { ServerConfig } from '../schemas/config.js'
import { StdioTransport } from './stdio-transport.js'
import { RpcCode, RpcError } from './errors.js'
import type { TransportKind } from './transports.js'

export const GATEWAY_INFO: Implementation = { name: '1mcp-gateway', version: '0.1.0' }

export interface ServerRequestExtra { signal: AbortSignal }

/** Where the connected client hands the backend's own notifications and requests. */
export interface ClientHooks {
  onNotification: (notification: Notification) => void
  /** absent: the backend's requests are answered MethodNotFound */
  onServerRequest?: (request: Request, extra: ServerRequestExtra) => Promise<Result>
}

export interface Connected { client: Client, transport: Transport }

/**
 * Opens a backend's SDK client over its transport, and remembers across reconnects what it learned:
 * for a url without an explicit type the transport that worked (Streamable HTTP, else SSE), and a
 * child that did not survive the 2026 `server/discover` probe.
 */
export class Connector {
  /** for a url without an explicit type: the transport that worked */
  connectedKind?: TransportKind
  /** the backend did not survive a `server/discover` probe: it is connected the 2025 way from then on */
  private probeFailed = false

  constructor (
    private readonly kind: TransportKind,
    private readonly config: () => ServerConfig,
    private readonly makeTransport: (kind: TransportKind) => Transport,
    private readonly hooks: ClientHooks,
    private readonly log: Logger
  ) {}

  async open (timeout: number): Promise<Connected> {
    if (this.kind !== 'streamable-http' || this.config().type || this.connectedKind) {
      const kind = this.connectedKind ?? this.kind
      return await this.connectWithTimeout(this.newClient(kind), this.makeTransport(kind), timeout)
    }
    let connected: Connected
    try {
      connected = await this.connectWithTimeout(this.newClient('streamable-http'), this.makeTransport('streamable-http'), timeout)
    } catch (err) {
      this.log.debug({ err }, 'Streamable HTTP failed, trying SSE')
      try {
        connected = await this.connectWithTimeout(this.newClient('sse'), this.makeTransport('sse'), timeout)
      } catch {
        throw err
      }
    }
    // once a transport has worked, reconnects use it without probing again
    this.connectedKind = connected.transport instanceof SSEClientTransport ? 'sse' : 'streamable-http'
    return connected
  }

  private newClient (kind: TransportKind): Client {
    const client = new Client(GATEWAY_INFO, {
      capabilities: { roots: { listChanged: true }, sampling: {}, elicitation: { form: {}, url: {} } },
      versionNegotiation: { mode: this.negotiationMode(kind) },
      // an input_required answer goes back to the caller, which knows the client to ask
      inputRequired: { autoFulfill: false }
    })
    client.fallbackNotificationHandler = async (notification) => {
      this.hooks.onNotification(notification)
    }
    client.fallbackRequestHandler = async (request, ctx) => {
      if (!this.hooks.onServerRequest) throw new RpcError(RpcCode.MethodNotFound, `${request.method} is not supported by the gateway`)
      return this.hooks.onServerRequest(request as Request, { signal: ctx.mcpReq.signal })
    }
    return client
  }

  /**
   * How to learn the backend's protocol generation: a `server/discover` probe first (2026-07-28),
   * falling back to `initialize`; the legacy handshake alone over SSE, when the config says so, and
   * after a probe the backend did not survive (some 2025 servers exit on any request before `initialize`).
   */
  private negotiationMode (kind: TransportKind): 'auto' | 'legacy' {
    if (kind === 'sse' || this.probeFailed || this.config().protocol === 'legacy') return 'legacy'
    return 'auto'
  }

  private async connectWithTimeout (client: Client, transport: Transport, timeout: number): Promise<Connected> {
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`did not connect within ${timeout} ms`)), timeout)
      timer.unref()
    })
    try {
      await Promise.race([client.connect(transport, { timeout }), timedOut])
      return { client, transport }
    } catch (err) {
      await transport.close().catch(() => {})
      const exit = transport instanceof StdioTransport ? transport.exitReason : undefined
      // a child that went away while being probed is asked the 2025 way next time
      if (exit && client.getProtocolEra() === undefined && this.negotiationMode('stdio') === 'auto') this.probeFailed = true
      throw new Error(exit ?? (err as Error).message)
    } finally {
      clearTimeout(timer)
    }
  }
}
