import type { EventEmitter } from 'node:events'
import type { Implementation, ProtocolEra, Result, ServerCapabilities } from '@modelcontextprotocol/client'
import type { ServerConfig } from '../schemas/config.js'
import type { BackendState } from './backend.js'
import type { CallOptions } from './calls.js'
import type { TransportKind } from './transports.js'

/**
 * A configured server as the pool, the dispatcher and the routes see it: one connection (a `Backend`,
 * also each per-client connection) or a set of equivalent replicas (`ReplicaSet`).
 */
export interface Server extends EventEmitter<{ state: [BackendState] }> {
  readonly name: string
  readonly kind: TransportKind
  config: ServerConfig
  readonly state: BackendState
  readonly stateSince: number
  readonly restarts: number
  readonly lastError?: string
  readonly lastErrorAt?: string
  readonly era: ProtocolEra
  readonly active: number
  readonly droppedNotifications: number
  readonly capabilities: ServerCapabilities
  readonly instructions: string | undefined
  readonly serverInfo: Implementation | undefined
  readonly transportName: TransportKind
  readonly protocolVersion: string | undefined
  readonly pid: number | undefined
  start (): Promise<void>
  stop (): Promise<void>
  drain (timeoutMs: number): Promise<void>
  request (method: string, params: Record<string, unknown> | undefined, options?: CallOptions): Promise<Result>
  watch (uri: string, delta: 1 | -1): Promise<void>
  whenReady (timeoutMs: number, signal?: AbortSignal): Promise<void>
  notify (method: string, params?: Record<string, unknown>): Promise<void>
  unavailableReason (): string
  kill (signal?: NodeJS.Signals): void
}
