import type { RequestId, Result } from '@modelcontextprotocol/client'
import { RpcCode, RpcError } from '../../backends/errors.js'
import { admits } from '../scope.js'
import { wrapUri, type UriTarget } from '../resource-uris.js'
import type { Channel, Session, Subscription } from '../session.js'
import type { ExposeUri } from '../result-uris.js'
import type { DispatchDeps, Params } from './deps.js'
import type { Relay, RequestOptions } from './relay.js'
import { SEPARATOR } from '../capability-names.js'
import { ownEntry } from '../../schemas/config.js'

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

/** From the names and URIs a client uses to the backend that owns them, and back for the results. */
export class Targets {
  constructor (private readonly deps: DispatchDeps, private readonly relay: Relay) {}

  /** A tool call or prompt get, to the backend that owns the name, under the backend's own name. */
  forwardByName (session: Session, id: RequestId, kind: 'tools' | 'prompts', method: string, params: Params, channel: Channel, options: RequestOptions): Promise<Result> {
    const name = requireString(params, 'name')
    const target = this.deps.capabilities.resolveName(kind, name, session.scope) ?? this.unlisted(session, name)
    if (!target) throw new RpcError(RpcCode.InvalidParams, `unknown ${kind === 'tools' ? 'tool' : 'prompt'}: ${name}`, { name })
    const annotations = target.item.annotations as { readOnlyHint?: boolean, idempotentHint?: boolean } | undefined
    const retryable = kind === 'prompts' || annotations?.readOnlyHint === true || annotations?.idempotentHint === true
    return this.relay.forward(session, id, target.backend, method, { ...params, name: target.original }, channel, retryable, options)
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
}
