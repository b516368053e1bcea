import type { Progress, Request, RequestId, Result } from '@modelcontextprotocol/client'
import type { CallOptions, ServerRequestExtra } from '../../backends/backend.js'
import type { Server as Backend } from '../../backends/server.js'
import { Cancellation } from '../../backends/cancellation.js'
import { RpcCode, RpcError } from '../../backends/errors.js'
import { admits } from '../scope.js'
import { wrapUri, type UriTarget } from '../resource-uris.js'
import type { Channel, Session, Subscription } from '../session.js'
import type { ExposeUri } from '../result-uris.js'
import type { DispatchDeps, Params } from './deps.js'
import { GrantRequiredError } from '../../backends/upstream-auth/per-user.js'
import { askForGrant } from './user-grant.js'
import { SEPARATOR } from '../capability-names.js'
import { ownEntry } from '../../schemas/config.js'

/** How the caller of a request wants it answered. */
export interface RequestOptions {
  /** the caller hands a 2026 backend's `input_required` answer to its client itself (a 2026-07-28 client) */
  allowInputRequired?: boolean
  /** how long the backend may take, when not the server's requestTimeout */
  timeoutMs?: number
  /** the W3C `traceparent` HTTP header of the request (tracing) */
  traceparent?: string
}

/** rounds of `input_required` the gateway fulfils for a 2025 client before it gives up */
export const MAX_INPUT_ROUNDS = 8

/** An `input_required` answer (protocol 2026-07-28): the backend needs the client's input before it can finish. */
export function isInputRequired (result: Result): result is Result & { resultType: 'input_required', inputRequests?: Record<string, { method: string, params?: Params }>, requestState?: string } {
  return (result as { resultType?: unknown }).resultType === 'input_required'
}

const CLIENT_CAPABILITY: Record<string, 'sampling' | 'elicitation' | 'roots'> = {
  'sampling/createMessage': 'sampling',
  'elicitation/create': 'elicitation',
  'roots/list': 'roots'
}

/**
 * A request for a 2026 backend carries the capabilities of the client behind the gateway, so the
 * backend asks only for the input that client can give (the gateway relays each kind it declares),
 * and the log level the client set, as 2026 has no logging/setLevel.
 */
function withClientCapabilities (params: Params, session: Session): Params {
  const meta: Params = { ...(params._meta as Params | undefined), 'io.modelcontextprotocol/clientCapabilities': session.clientCapabilities }
  if (session.logLevel) meta['io.modelcontextprotocol/logLevel'] = session.logLevel
  return { ...params, _meta: meta }
}

export function requireString (params: Params, key: string): string {
  const value = Object.hasOwn(params, key) ? params[key] : undefined
  if (typeof value !== 'string' || value === '') throw new RpcError(RpcCode.InvalidParams, `params.${key} must be a non-empty string`)
  return value
}

/** Where a session's subscriptions are kept: by the backend's own URI, whatever URI the client used. */
export function subscriptionKey (backend: string, original: string): string {
  return `${backend}\n${original}`
}

/** The resource a session subscribed to under `uri` (it stays reachable by that URI even if the index changed since). */
export function subscribedBy (session: Session, uri: string): Subscription | undefined {
  for (const subscription of session.subscriptions.values()) if (subscription.uri === uri) return subscription
  return undefined
}

/**
 * Both directions of a call: a client's request to the backend that owns its name or URI (progress
 * and cancellation relayed, a 2026 backend's `input_required` fulfilled for a 2025 client, the URIs
 * in its result exposed back), and a backend's request to the one client whose call can have caused it.
 */
export class Relay {
  constructor (private readonly deps: DispatchDeps) {}

  /** A tool call or prompt get, to the backend that owns the name, under the backend's own name. */
  forwardByName (session: Session, id: RequestId, kind: 'tools' | 'prompts', method: string, params: Params, channel: Channel, options: RequestOptions): Promise<Result> {
    const name = requireString(params, 'name')
    const target = this.deps.capabilities.resolveName(kind, name, session.scope) ?? this.unlisted(session, name)
    if (!target) throw new RpcError(RpcCode.InvalidParams, `unknown ${kind === 'tools' ? 'tool' : 'prompt'}: ${name}`, { name })
    const annotations = target.item.annotations as { readOnlyHint?: boolean, idempotentHint?: boolean } | undefined
    const retryable = kind === 'prompts' || annotations?.readOnlyHint === true || annotations?.idempotentHint === true
    return this.forward(session, id, target.backend, method, { ...params, name: target.original }, channel, retryable, options)
  }

  /**
   * A name of a `credentials: "per-user"` server that is not listed (yet): until a first user has
   * authorized it, nothing of it is. `<server>_1mcp_<name>` on `/mcp`, the plain name on
   * `/mcp/<server>`; the call goes to the caller's own connection, which asks them to authorize first.
   */
  private unlisted (session: Session, name: string): { backend: string, original: string, item: Params } | undefined {
    const single = session.scope.single
    const at = name.indexOf(SEPARATOR)
    const backend = single ?? (at > 0 ? name.slice(0, at) : '')
    const original = single ? name : name.slice(at + SEPARATOR.length)
    if (ownEntry(this.deps.config().mcpServers, backend)?.credentials !== 'per-user' || !admits(session.scope, backend)) return undefined
    return { backend, original, item: {} }
  }

  /**
   * How a backend's resource URIs in a result reach this session: on `/mcp` under the URIs that read
   * back through `/mcp` (docs/naming.md); undefined on `/mcp/<server>`, which keeps the backend's own.
   */
  exposer (session: Session, backend: string | undefined, asked?: { uri: string, original: string }): ExposeUri | undefined {
    if (session.scope.single || backend === undefined) return undefined
    // the resource the client asked for keeps the URI it asked by
    return (original) => original === asked?.original ? asked.uri : this.deps.capabilities.exposeUri(backend, original)
  }

  resolveUri (session: Session, uri: string): UriTarget {
    const target = this.deps.capabilities.resolveUri(uri, session.scope)
    if (target) return target
    const owners = this.deps.capabilities.uriOwners(uri).filter((b) => admits(session.scope, b))
    if (owners.length < 2) throw new RpcError(RpcCode.InvalidParams, `unknown resource: ${uri}`, { uri })
    const exposed = owners.map((b) => wrapUri(b, uri))
    throw new RpcError(RpcCode.InvalidParams, `ambiguous resource: ${uri} belongs to ${owners.join(' and ')}; read ${exposed.join(' or ')}`, { uri, candidates: exposed })
  }

  /** Sends a request to a backend on behalf of a session; the call is in `session.inflight` meanwhile. */
  async forward (session: Session, id: RequestId, backendName: string, method: string, params: Params, channel: Channel, retryable = false, options: RequestOptions = {}): Promise<Result> {
    const meta = params._meta as Params | undefined
    const progressToken = meta?.progressToken as string | number | undefined
    const cancellation = new Cancellation()
    channel.backend = backendName
    session.inflight.set(id, { backend: backendName, cancellation, channel })
    session.backendsTouched.add(backendName)
    const callOptions = {
      cancellation,
      retryable,
      timeout: options.timeoutMs,
      onprogress: progressToken === undefined
        ? undefined
        : (progress: Progress) => channel.send({ jsonrpc: '2.0', method: 'notifications/progress', params: { ...progress, progressToken } })
    }
    try {
      const { backend, result } = await this.send(session, backendName, method, params, channel, callOptions)
      return options.allowInputRequired ? result : await this.untilComplete(session, backend, channel, method, params, result, callOptions)
    } finally {
      session.inflight.delete(id)
    }
  }

  /**
   * The call, on the session's connection. A user's grant refused upstream meanwhile (revoked,
   * expired: their connection parks as `needs-auth`) asks them again, and a retryable call is then
   * sent once more, on their new connection; any other call fails and the next one asks.
   */
  private async send (session: Session, backendName: string, method: string, params: Params, channel: Channel, callOptions: CallOptions & { cancellation: Cancellation }): Promise<{ backend: Backend, result: Result }> {
    const found = this.connection(session, backendName, channel, callOptions.cancellation.signal)
    const backend = found instanceof Promise ? await found : found
    try {
      return { backend, result: await this.request(backend, session, method, params, callOptions) }
    } catch (err) {
      if (this.deps.backends.userOf(backend) === undefined || backend.state !== 'needs-auth') throw err
      if (!callOptions.retryable) throw new RpcError(RpcCode.BackendUnavailable, `your authorization of '${backendName}' was refused upstream (revoked or expired): call again to authorize anew`, { backend: backendName })
      const again = await this.connection(session, backendName, channel, callOptions.cancellation.signal)
      return { backend: again, result: await this.request(again, session, method, params, callOptions) }
    }
  }

  private request (backend: Backend, session: Session, method: string, params: Params, callOptions: CallOptions): Promise<Result> {
    const sent = backend.era === 'modern' ? withClientCapabilities(params, session) : params
    const tracing = this.deps.tracing
    return tracing
      ? tracing.backendCall(backend.name, method, sent, (traced) => backend.request(method, traced, callOptions))
      : backend.request(method, sent, callOptions)
  }

  /**
   * The connection the session's call to `backendName` goes on; a user without a grant to a per-user
   * server is asked for one first. A shared connection is returned as it is, not in a promise: this is
   * on the path of every call.
   */
  private connection (session: Session, backendName: string, channel: Channel, signal: AbortSignal): Backend | Promise<Backend> {
    const found = this.deps.backends.forSession(backendName, session.id, session.user)
    if (found !== undefined && !(found instanceof Promise)) return found
    return this.connectionLater(found, session, backendName, channel, signal)
  }

  private async connectionLater (found: Promise<Backend> | undefined, session: Session, backendName: string, channel: Channel, signal: AbortSignal): Promise<Backend> {
    let backend: Backend | undefined
    try {
      backend = await found
    } catch (err) {
      if (!(err instanceof GrantRequiredError) || !this.deps.userGrants) throw err
      await askForGrant(this.deps.userGrants, session, channel, err, signal)
      backend = await this.deps.backends.forSession(backendName, session.id, session.user)
    }
    if (!backend) throw new RpcError(RpcCode.BackendUnavailable, `backend '${backendName}' is not configured`, { backend: backendName })
    return backend
  }

  /** Fulfils a 2026 backend's `input_required` answers for a 2025 client until the backend answers for good. */
  private async untilComplete (session: Session, backend: Backend, channel: Channel, method: string, params: Params, first: Result, callOptions: CallOptions & { cancellation: Cancellation }): Promise<Result> {
    let result = first
    for (let round = 1; isInputRequired(result); round++) {
      if (round > MAX_INPUT_ROUNDS) throw new RpcError(RpcCode.InternalError, `backend '${backend.name}' asked for client input more than ${MAX_INPUT_ROUNDS} times`, { backend: backend.name })
      const inputResponses = await this.fulfil(session, channel, result.inputRequests ?? {}, callOptions.cancellation.signal)
      const retry = { ...withClientCapabilities(params, session), inputResponses, ...(result.requestState === undefined ? {} : { requestState: result.requestState }) }
      result = await backend.request(method, retry, callOptions)
    }
    return result
  }

  /** Asks a 2025 client for what a 2026 backend's `input_required` answer needs, all at once. */
  private async fulfil (session: Session, channel: Channel, requests: Record<string, { method: string, params?: Params }>, signal: AbortSignal): Promise<Record<string, Result>> {
    const answers = await Promise.all(Object.entries(requests).map(async ([key, request]) => {
      this.checkClientCapability(session, request.method, channel)
      const ask = () => session.requestClient(channel, request.method, request.params, signal)
      return [key, await (this.deps.tracing ? this.deps.tracing.clientRound(channel, request.method, ask) : ask())] as const
    }))
    return Object.fromEntries(answers)
  }

  /** Refuses a server→client request the client did not declare it can answer (the call's channel learns why too). */
  private checkClientCapability (session: Session, method: string, channel?: Channel): void {
    const needed = Object.hasOwn(CLIENT_CAPABILITY, method) ? CLIENT_CAPABILITY[method] : undefined
    if (!needed || session.clientCapabilities[needed]) return
    const err = new RpcError(RpcCode.MethodNotFound, `the client did not declare the ${needed} capability needed for ${method}`)
    channel?.refuse?.(new RpcError(RpcCode.MissingClientCapability, err.message, { requiredCapabilities: { [needed]: {} } }))
    throw err
  }

  /** A server→client request raised by a backend: to the one session whose call can have caused it. */
  async serverRequest (backend: Backend, request: Request, extra: ServerRequestExtra): Promise<Result> {
    const callers = this.possibleCallers(backend)
    if (callers.length === 0) {
      // a backend asking for roots on its own (at start, most do) is told there are none, rather
      // than failed: no client is there to ask, and roots are the client's to give
      if (request.method === 'roots/list') {
        this.deps.log.debug({ backend: backend.name }, 'roots/list with no client call in flight: answered with no roots')
        return { roots: [] }
      }
      throw new RpcError(RpcCode.InvalidRequest, `${request.method} from backend '${backend.name}' cannot be routed: no client call is in flight to it`)
    }
    if (callers.length > 1) {
      throw new RpcError(RpcCode.InvalidRequest, `${request.method} from backend '${backend.name}' cannot be routed: several client sessions have calls in flight to it (set "sessionMode": "per-client" for this server)`)
    }
    const [session, call] = callers[0]
    this.checkClientCapability(session, request.method, call.channel)
    const ask = () => session.requestClient(call.channel, request.method, request.params, extra.signal)
    return this.deps.tracing ? this.deps.tracing.clientRound(call.channel, request.method, ask) : ask()
  }

  /** The sessions whose call in flight can have caused a request `backend` raised. */
  private possibleCallers (backend: Backend): Array<[Session, { channel: Channel, cancellation: Cancellation }]> {
    const owner = this.deps.backends.ownerOf(backend)
    const user = this.deps.backends.userOf(backend)
    const calling = this.sessionsCalling(backend.name).filter(([s]) => (owner === undefined || s.id === owner) && (user === undefined || s.user === user))
    // of a server's replicas, only the calls on the one that asked can have caused it
    const set = this.deps.backends.get(backend.name)
    const onReplica = calling.length > 1 && set && set.replicas.length > 1 ? calling.filter(([, call]) => set.carrier(call.cancellation) === backend) : calling
    if (onReplica.length <= 1) return onReplica
    // a call parked on its client's answers did not raise this one: it waits (a parked round never blocks the others)
    const active = onReplica.filter(([, call]) => call.channel.waiting !== true)
    return active.length > 0 ? active : onReplica
  }

  /** Sessions with a call in flight to `backend`, each with its latest such call. */
  sessionsCalling (backend: string): Array<[Session, { channel: Channel, cancellation: Cancellation }]> {
    const found: Array<[Session, { channel: Channel, cancellation: Cancellation }]> = []
    for (const session of this.deps.sessions.all()) {
      let latest: { channel: Channel, cancellation: Cancellation } | undefined
      for (const call of session.inflight.values()) if (call.backend === backend && !call.channel.closed) latest = call
      if (latest) found.push([session, latest])
    }
    return found
  }
}
