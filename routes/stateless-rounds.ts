import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { createRequestStateCodec, inputRequired, type InputRequests, type RequestStateCodec, type ServerContext } from '@modelcontextprotocol/server'
import type { Result } from '@modelcontextprotocol/client'
import { RpcCode, RpcError } from '../backends/errors.js'
import { isInputRequired } from '../mcp/dispatch/relay.js'
import { DEFAULTS } from '../schemas/config.js'
import type { InputChannel, ParkedCall } from './stateless-channel.js'
import { principal, type StatePayload } from './generation.js'

/**
 * The client input rounds of 2026-07-28 calls: a call that needs input only the client can give is
 * parked under a key sealed into `requestState` and resumed by the client's next round; a 2026
 * backend's own `input_required` goes to the client with its state sealed in ours.
 */
export class InputRounds {
  private readonly codec: RequestStateCodec<StatePayload>
  private readonly parked = new Map<string, ParkedCall>()
  /** the channel each request's call used, for its metrics */
  private readonly callOf = new WeakMap<ServerContext, InputChannel>()
  /** names this run in the keys of its parked calls: a retry that reaches another instance is told so at once */
  private readonly instance = `${randomBytes(6).toString('base64url')}.`

  constructor (private readonly app: FastifyInstance) {
    // a parked call ends on its own timer; the state of a 2026 backend's flow is good for an hour
    // the key is derived from the session key, so every instance behind one load balancer verifies
    // every instance's requestState: a 2026 backend's round completes wherever its retry lands
    this.codec = createRequestStateCodec<StatePayload>({ key: app.sessions.sealer.derive('1mcp requestState v1'), ttlSeconds: 3600, bind: principal })
  }

  private get inputTimeoutMs (): number {
    return this.app.gatewayConfig.current.sessions?.inputTimeoutMs ?? DEFAULTS.sessions.inputTimeoutMs
  }

  /** Checks a request's `requestState` (the SDK's hook). */
  verify (state: string, ctx: ServerContext): ReturnType<RequestStateCodec<StatePayload>['verify']> {
    return this.codec.verify(state, ctx)
  }

  /** The channel of the call a request context settled, if any. */
  channelOf (ctx: ServerContext): InputChannel | undefined {
    return this.callOf.get(ctx)
  }

  /** The client's next round for a parked call: its answers go to the backend's waiting requests. */
  async resume (key: string, ctx: ServerContext): Promise<Result> {
    const call = this.parked.get(key)
    if (!call && !key.startsWith(this.instance)) {
      throw new RpcError(RpcCode.InvalidParams, 'requestState names a call waiting on another gateway instance (the load balancer sent this retry elsewhere); that call cannot be continued here: send the request again without requestState')
    }
    if (!call) throw new RpcError(RpcCode.InvalidParams, 'Invalid or expired requestState: the call it continues has ended')
    this.parked.delete(key)
    clearTimeout(call.timer)
    call.channel.ctx = ctx
    const responses = (ctx.mcpReq.inputResponses ?? {}) as Record<string, unknown>
    for (const [requestId, response] of Object.entries(responses)) {
      if (!call.channel.requests.delete(requestId)) continue
      call.session.answer(requestId, response as Result, undefined)
    }
    const onAbort = () => { for (const c of call.session.inflight.values()) c.cancellation.abort('the client closed the request') }
    ctx.mcpReq.signal.addEventListener('abort', onAbort, { once: true })
    return this.settle(call, ctx, onAbort)
  }

  /** Waits for the call's result, or for input only the client can give (then parks the call and asks for it). */
  async settle (call: ParkedCall, ctx: ServerContext, onAbort: () => void): Promise<Result> {
    this.callOf.set(ctx, call.channel)
    const next = await Promise.race([call.outcome, call.channel.whenInputNeeded().then(() => undefined)])
    ctx.mcpReq.signal.removeEventListener('abort', onAbort)
    if (next === undefined && !call.channel.refused) return this.askClient(call, ctx)
    call.channel.finished = true
    this.app.sessions.endRequest(call.session.id, 'the call ended')
    if (call.channel.refused) throw call.channel.refused
    const { result, error } = next!
    if (error !== undefined) throw error
    if (!result) throw new RpcError(RpcCode.InternalError, 'the backend sent no result')
    if (!isInputRequired(result)) return result
    // a 2026 backend asks for input: its requests go to the client as they are, its state is kept in ours
    const requestState = result.requestState === undefined ? undefined : await this.codec.mint({ s: result.requestState }, ctx)
    const inputRequests = result.inputRequests as InputRequests | undefined
    return inputRequired({ ...(inputRequests ? { inputRequests } : {}), ...(requestState ? { requestState } : {}) }) as unknown as Result
  }

  private async askClient (call: ParkedCall, ctx: ServerContext): Promise<Result> {
    const key = this.instance + randomBytes(18).toString('base64url')
    const inputRequests = Object.fromEntries(call.channel.requests) as unknown as InputRequests
    call.timer = setTimeout(() => {
      if (this.parked.get(key) !== call) return
      this.parked.delete(key)
      call.channel.finished = true
      this.app.sessions.endRequest(call.session.id, 'the client did not answer the input requests in time')
    }, this.inputTimeoutMs)
    call.timer.unref()
    this.parked.set(key, call)
    return inputRequired({ inputRequests, requestState: await this.codec.mint({ k: key }, ctx) }) as unknown as Result
  }

  /** Cancels every parked call (gateway shutdown). */
  close (): void {
    for (const [key, call] of this.parked) {
      clearTimeout(call.timer)
      this.parked.delete(key)
      this.app.sessions.endRequest(call.session.id, 'the gateway is shutting down')
    }
  }
}
