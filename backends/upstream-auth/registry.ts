import type { Logger } from 'pino'
import type { ServerConfig } from '../../schemas/config.js'
import { UpstreamTokenStore } from './token-store.js'
import { UpstreamAuth, type BackendAuth } from './upstream-auth.js'
import { ClientCredentialsAuth } from './client-credentials.js'
import { PerUserAuths, userRecordKey, type GrantLink, type UserGrants } from './per-user.js'

/** Whether the gateway may act as an OAuth client of this server: a remote one with no Authorization header of its own. */
function oauthCapable (config: ServerConfig): boolean {
  if (!config.url || config.command) return false
  return !Object.keys(config.headers ?? {}).some((h) => h.toLowerCase() === 'authorization')
}

const perUser = (config: ServerConfig): boolean => config.credentials === 'per-user'

/**
 * The upstream logins of the remote servers, by server name, over one encrypted store in the data
 * folder: the owner's (one per server), and for `credentials: "per-user"` servers one per gateway user.
 */
export class UpstreamAuths implements UserGrants {
  private readonly byName = new Map<string, UpstreamAuth>()
  private readonly machines = new Map<string, ClientCredentialsAuth>()
  private readonly perUser = new Map<string, PerUserAuths>()
  private readonly configs = new Map<string, ServerConfig>()
  /** the gateway's public base URL, where a user's authorization link points (set by plugins/upstream-auth.ts) */
  baseUrl: () => string = () => ''

  private constructor (private readonly store: UpstreamTokenStore, private readonly log: Logger) {}

  static async open (dataDir: string, log: Logger): Promise<UpstreamAuths> {
    return new UpstreamAuths(await UpstreamTokenStore.open(dataDir), log)
  }

  private login (name: string, recordKey?: string): UpstreamAuth {
    return new UpstreamAuth(name, () => this.configs.get(name)?.url ?? '', () => this.configs.get(name)?.oauth, this.store, this.log.child({ backend: name }), recordKey)
  }

  /** The owner's login of a server that may need one (created on first use; it follows the server's config); none for a per-user server. */
  for (name: string, config: ServerConfig): UpstreamAuth | undefined {
    if (!oauthCapable(config) || config.oauth?.clientCredentials) return undefined
    this.configs.set(name, config)
    if (perUser(config)) return undefined
    let found = this.byName.get(name)
    if (!found) {
      found = this.login(name)
      this.byName.set(name, found)
    }
    return found
  }

  /** The logins of a per-user server, its users' kept logins loaded on first use. */
  users (name: string, config: ServerConfig): PerUserAuths | undefined {
    if (!oauthCapable(config) || !perUser(config)) return undefined
    this.configs.set(name, config)
    let found = this.perUser.get(name)
    if (!found) {
      const prefix = userRecordKey(name, '')
      const stored = this.store.keys().filter((k) => k.startsWith(prefix) && this.store.get(k).tokens).map((k) => k.slice(prefix.length))
      found = new PerUserAuths(name, (user) => this.login(name, userRecordKey(name, user)), stored)
      this.perUser.set(name, found)
    }
    return found
  }

  /** A single-use link for a user to authorize a per-user server (`GET /oauth/grant/<server>?token=…`). */
  link (server: string, user: string): GrantLink {
    const users = this.perUser.get(server)
    if (!users) throw new Error(`'${server}' is not a per-user server`)
    return users.link(user, `${this.baseUrl()}/oauth/grant/${encodeURIComponent(server)}`)
  }

  /** The login the callback of `server` with this `state` finishes: a user's (per-user servers) or the owner's. */
  awaiting (server: string, state: string): UpstreamAuth | undefined {
    return this.perUser.get(server)?.awaiting(state) ?? this.byName.get(server)
  }

  /** The user's login a link was made for, if `accept` takes that user (the link is then used up). */
  takeLink (server: string, ticket: string, accept: (user: string) => boolean): UpstreamAuth | undefined {
    return this.perUser.get(server)?.take(ticket, accept)
  }

  /**
   * What the server's shared connection authenticates with: the client credentials grant where configured, else a
   * per-user server's catalog login, else the owner's login.
   */
  backendAuth (name: string, config: ServerConfig): BackendAuth | ClientCredentialsAuth | undefined {
    if (!config.oauth?.clientCredentials || !oauthCapable(config)) return this.users(name, config)?.catalog ?? this.for(name, config)
    this.configs.set(name, config)
    let found = this.machines.get(name)
    if (!found) {
      found = new ClientCredentialsAuth(name, () => this.configs.get(name)?.url ?? '', () => this.configs.get(name)?.oauth, this.log.child({ backend: name }))
      this.machines.set(name, found)
    }
    return found
  }

  close (): void {
    for (const one of this.byName.values()) one.close()
    for (const one of this.perUser.values()) one.close()
    this.byName.clear()
    this.machines.clear()
    this.perUser.clear()
  }
}
