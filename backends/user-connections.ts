import type { ServerConfig } from '../schemas/config.js'
import type { Backend } from './backend.js'
import type { Server } from './server.js'
import { GrantRequiredError } from './upstream-auth/per-user.js'
import type { UpstreamAuth } from './upstream-auth/upstream-auth.js'

/** Who calls through a gateway without auth: every client is this one user. */
export const ANONYMOUS_USER = 'anonymous'

/**
 * The connections of `credentials: "per-user"` servers, one per server and gateway user, each
 * carrying that user's upstream token alone. A user with no grant (or whose grant was refused since)
 * gets a GrantRequiredError, which the dispatcher turns into a URL elicitation.
 */
export class UserConnections {
  private readonly byKey = new Map<string, Promise<Backend>>()
  private readonly users = new WeakMap<Server, string>()

  constructor (
    private readonly create: (name: string, config: ServerConfig, auth: UpstreamAuth) => Backend,
    private readonly authFor: (name: string, config: ServerConfig, user: string) => UpstreamAuth | undefined
  ) {}

  /** The user's connection to `name`, started on first use. */
  async get (name: string, config: ServerConfig, user: string): Promise<Server> {
    const key = `${name}\n${user}`
    let started = this.byKey.get(key)
    if (!started) {
      const auth = this.authFor(name, config, user)
      if (!auth?.authorized || auth.needsAuth) throw new GrantRequiredError(name, user)
      const { replicas: _replicas, urls, sessionMode: _mode, ...own } = config
      const backend = this.create(name, { ...own, url: own.url ?? urls?.[0] }, auth)
      this.users.set(backend, user)
      started = backend.start().then(() => backend)
      this.byKey.set(key, started)
    }
    const backend = await started
    if (backend.state !== 'needs-auth' && backend.state !== 'stopped') return backend
    // the upstream refused this user's token: forget the connection, ask the user again
    if (this.byKey.get(key) === started) this.byKey.delete(key)
    await backend.stop()
    throw new GrantRequiredError(name, user)
  }

  /** The user a per-user connection belongs to. */
  userOf (backend: Server): string | undefined {
    return this.users.get(backend)
  }

  /** Stops the users' connections to `name` (the server was removed or its connection settings changed), or all. */
  async release (name?: string): Promise<void> {
    const stopping: Array<Promise<void>> = []
    for (const [key, started] of this.byKey) {
      if (name !== undefined && !key.startsWith(`${name}\n`)) continue
      this.byKey.delete(key)
      stopping.push(started.then((b) => b.stop(), () => {}))
    }
    await Promise.all(stopping)
  }
}
