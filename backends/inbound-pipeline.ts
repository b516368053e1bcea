import type { JSONRPCMessage, Transport } from '@modelcontextprotocol/client'
import type { DirectRequests } from './direct-requests.js'
import type { InboundQueue } from './inbound-queue.js'
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

/**
 * Puts one chain between a connected transport and its SDK client, in this order: an unheard log
 * message is dropped before it costs more than its parsing; a relayed request's answer or progress
 * is taken by DirectRequests at once (as it came: it never meets the SDK); the rest, a task result
 * carried so the SDK accepts it, goes through the queue to the SDK client. The close passes the same
 * way: the direct requests fail first, then the close waits its turn in the queue behind the messages.
 */
export function installInboundPipeline (transport: Transport, { dropLog, direct, queue }: InboundStages): void {
  const deliver = transport.onmessage
  const closed = transport.onclose
  transport.onmessage = (message, extra) => {
    const log = isLogMessage(message)
    if (log && dropLog?.()) return
    if (direct?.take(message) || !deliver) return
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
