import type { Logger } from 'pino'
import type { Client, McpSubscription, ProtocolEra, Result, ServerCapabilities } from '@modelcontextprotocol/client'

/** What the subscriptions need of their backend. */
export interface SubscribingBackend {
  readonly client?: Client
  readonly era: ProtocolEra
  readonly state: string
  readonly capabilities: ServerCapabilities
  readonly log: Logger
  request (method: string, params: Record<string, unknown>): Promise<Result>
}

/**
 * The resources a backend's clients watch, with their subscriber counts, and what the backend is
 * asked for them: a 2026 backend's `subscriptions/listen` stream, a 2025 backend's
 * `resources/subscribe` (renewed after a restart).
 */
export class Subscriptions {
  /** a 2026 backend's `subscriptions/listen` stream */
  private subscription?: McpSubscription
  private readonly watched = new Map<string, number>()

  constructor (private readonly backend: SubscribingBackend) {}

  /**
   * A 2026 backend sends list changes and resource updates only on a `subscriptions/listen` stream:
   * one per connection, opened before the backend counts as ready and reopened when the watched
   * resources change (the new stream first, so no update falls between the two).
   */
  async listen (): Promise<void> {
    const client = this.backend.client
    if (!client || this.backend.era !== 'modern') return
    const filter = listenFilter(this.backend.capabilities, [...this.watched.keys()])
    const previous = this.subscription
    try {
      this.subscription = Object.keys(filter).length ? await client.listen(filter) : undefined
    } catch (err) {
      this.backend.log.warn({ error: (err as Error).message }, 'backend refused subscriptions/listen; its list changes will not be seen')
      this.subscription = undefined
    }
    await previous?.close().catch(() => {})
  }

  /** A restarted 2025 backend forgot its subscriptions: it is asked again for every resource still watched. */
  resubscribe (): void {
    if (this.backend.era !== 'legacy') return
    for (const uri of this.watched.keys()) {
      this.backend.request('resources/subscribe', { uri }).catch((err: Error) => this.backend.log.warn({ uri, error: err.message }, 'could not renew a resource subscription'))
    }
  }

  /**
   * Counts a subscription to one of the backend's resources (+1) or its end (-1). The first and
   * the last change what the backend is asked: a 2026 backend's listen stream is reopened, a 2025
   * backend gets `resources/subscribe` or `resources/unsubscribe`.
   */
  async watch (uri: string, delta: 1 | -1): Promise<void> {
    const before = this.watched.get(uri) ?? 0
    const count = Math.max(0, before + delta)
    if (count > 0) this.watched.set(uri, count)
    else this.watched.delete(uri)
    if ((before > 0) === (count > 0) || this.backend.state !== 'ready') return
    try {
      if (this.backend.era === 'modern') await this.listen()
      else await this.backend.request(count > 0 ? 'resources/subscribe' : 'resources/unsubscribe', { uri })
    } catch (err) {
      // a subscription the backend refused is not counted
      if (delta > 0) this.watched.delete(uri)
      throw err
    }
  }

  /** Closes a 2026 backend's listen stream (the connection is being released). */
  async close (): Promise<void> {
    await this.subscription?.close().catch(() => {})
    this.subscription = undefined
  }
}

/** What a 2026 backend's listen stream asks for: the list changes it announces, and the watched resources. */
function listenFilter (caps: ServerCapabilities, resources: string[]): Record<string, unknown> {
  const filter: Record<string, unknown> = {}
  if (caps.tools?.listChanged) filter.toolsListChanged = true
  if (caps.prompts?.listChanged) filter.promptsListChanged = true
  if (caps.resources?.listChanged) filter.resourcesListChanged = true
  if (resources.length) filter.resourceSubscriptions = resources
  return filter
}
