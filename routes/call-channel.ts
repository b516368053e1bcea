import type { FastifyReply } from 'fastify'
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/client'
import type { Channel, Session } from '../mcp/session.js'
import { supportsPriming } from '../mcp/versions.js'
import { SseStream } from './sse-stream.js'

/**
 * The response channel of one POST: a JSON body when the result comes first, upgraded to an SSE
 * stream as soon as anything must reach the client before the result (progress, a log message,
 * a server→client request). Nothing is written before that, so the choice can wait.
 */
export class CallChannel implements Channel {
  private stream?: SseStream
  private done = false
  aborted = false
  backend?: string

  constructor (private readonly reply: FastifyReply, private readonly session: Session, onAbort: () => void, private readonly onDropped: () => void) {
    reply.raw.once('close', () => {
      if (!this.done) { this.aborted = true; onAbort() }
    })
  }

  get closed (): boolean { return this.done || this.aborted }

  send (message: JSONRPCMessage): void {
    if (this.closed) return
    if (!this.stream) {
      this.reply.hijack()
      this.stream = new SseStream(this.reply.raw, this.session.newStreamId(), this.session.replay, {
        headers: { 'mcp-session-id': this.session.id },
        keepAliveMs: 0,
        onDropped: this.onDropped
      })
      if (supportsPriming(this.session.protocolVersion)) this.stream.prime()
    }
    this.stream.send(message)
  }

  finish (message: JSONRPCMessage): void {
    if (this.closed) return
    this.done = true
    if (this.stream) {
      this.stream.send(message)
      this.stream.end()
    } else {
      void this.reply.header('mcp-session-id', this.session.id).type('application/json').send(serialize(message))
    }
  }
}

/**
 * List results are served from the capability index, whose arrays are replaced (never changed) when
 * it is rebuilt: each array is serialized once, and every later answer with it is a string splice.
 */
const serializedLists = new WeakMap<unknown[], string>()
const LIST_KEYS = ['tools', 'prompts', 'resources', 'resourceTemplates']

function serialize (message: JSONRPCMessage): string {
  const result = (message as { result?: Record<string, unknown> }).result
  const keys = result ? Object.keys(result) : []
  const list = keys.length === 1 && LIST_KEYS.includes(keys[0]) ? result![keys[0]] : undefined
  if (!Array.isArray(list) || list.length < 32) return JSON.stringify(message)
  let json = serializedLists.get(list)
  if (json === undefined) {
    json = JSON.stringify(list)
    serializedLists.set(list, json)
  }
  return `{"jsonrpc":"2.0","id":${JSON.stringify((message as { id: RequestId }).id)},"result":{${JSON.stringify(keys[0])}:${json}}}`
}
