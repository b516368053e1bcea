import type { JSONRPCMessage, ProtocolEra, Transport } from '@modelcontextprotocol/client'
import { DirectRequests } from './calls.js'
import { InboundQueue } from './inbound-queue.js'
import { StdioTransport } from './stdio-transport.js'
import { carryTaskResult } from './task-results.js'

/** The stages a backend connection's messages pass, each optional (a remote or 2026 backend has no direct requests). */
export interface InboundStages {
  /** whether a log message is dropped now, because no client would receive it (counted by the caller) */
  dropLog?: () => boolean
  /** the relayed requests of a 2025 stdio connection: their answers and progress stop here */
  direct?: DirectRequests
  /** the bounded, ordered queue in front of the SDK client */
  queue?: InboundQueue
}

export interface InboundOptions {
  /** messages the queue holds before the source is paused */
  maxQueued?: number
  /** whether any client would receive a log message from the backend now */
  hearsLogs: () => boolean
  /** a notification dropped: a log message no client hears, a progress notification nobody waits for */
  onDropped: () => void
}

/**
 * The chain of a connection just opened. A 2025 stdio backend gets the gateway's relayed requests
 * directly (returned, for the calls to use); a 2026 backend's requests need the SDK's era codec
 * (`_meta`, input_required), and a remote backend's the SDK's HTTP session. A log message is
 * dropped when no session listens to this backend's logs and no call to it is in flight (asked once
 * per turn of the event loop: a flood costs one look at the sessions per chunk).
 */
export function pipeInbound (transport: Transport, era: ProtocolEra, { maxQueued, hearsLogs, onDropped }: InboundOptions): DirectRequests | undefined {
  const direct = transport instanceof StdioTransport && era === 'legacy' ? new DirectRequests(transport, onDropped) : undefined
  const pausable = transport instanceof StdioTransport ? { pause: () => transport.pause(), resume: () => transport.resume() } : {}
  const queue = new InboundQueue({ maxQueued, ...pausable })
  const heard = oncePerTurn(hearsLogs)
  const dropLog = (): boolean => {
    if (heard()) return false
    onDropped()
    return true
  }
  installInboundPipeline(transport, { dropLog, direct, queue })
  return direct
}

/** A transport that hands each message it reads to `takeFirst` before `onmessage` (StdioTransport). */
export type TakesFirst = Transport & { takeFirst?: (message: JSONRPCMessage) => boolean }

/**
 * Puts one chain between a connected transport and its SDK client, in this order: a relayed request's
 * answer or progress is taken by DirectRequests first, by the transport itself as it reads the line (it
 * never meets the SDK, nor the rest of the chain); an unheard log message is dropped before it costs
 * more than its parsing; the rest, a task result carried so the SDK accepts it, goes through the queue
 * to the SDK client. The close passes the same way: the direct requests fail first, then the close waits
 * its turn in the queue behind the messages.
 */
export function installInboundPipeline (transport: TakesFirst, { dropLog, direct, queue }: InboundStages): void {
  const deliver = transport.onmessage
  const closed = transport.onclose
  if (direct) transport.takeFirst = direct.take
  transport.onmessage = (message, extra) => {
    const log = isLogMessage(message)
    if ((log && dropLog?.()) || !deliver) return
    const carried = carryTaskResult(message)
    if (queue) queue.push(() => deliver(carried, extra), !('id' in message), log)
    else deliver(carried, extra)
  }
  transport.onclose = () => {
    direct?.closeAll()
    if (!closed) return
    if (queue) queue.push(closed, false, true)
    else closed()
  }
  if (queue) queue.onerror = (err) => transport.onerror?.(err)
}

/** A `notifications/message`: the bulk of a noisy backend's traffic. */
function isLogMessage (message: JSONRPCMessage): boolean {
  return (message as { method?: unknown }).method === 'notifications/message' && !('id' in message)
}

/** `ask`, answered once per turn of the event loop. */
function oncePerTurn (ask: () => boolean): () => boolean {
  let known: boolean | undefined
  return () => {
    if (known === undefined) {
      known = ask()
      setImmediate(() => { known = undefined })
    }
    return known
  }
}
