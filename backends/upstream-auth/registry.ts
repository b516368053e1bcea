import type { Logger } from 'pino'
import type { ServerConfig } from '../../schemas/config.js'
import { UpstreamTokenStore } from './token-store.js'
import { UpstreamAuth } from './upstream-auth.js'
import { ClientCredentialsAuth } from './client-credentials.js'

/** Whether the gateway may act as an OAuth client of this server: a remote one with no Authorization header of its own. */
function oauthCapable (config: ServerConfig): boolean {
  if (!config.url || config.command) return false
  return !Object.keys(config.headers ?? {}).some((h) => h.toLowerCase() === 'authorization')
}

/** The upstream logins of the remote servers, by server name, over one encrypted store in the data folder. */
export class UpstreamAuths {
  private readonly byName = new Map<string, UpstreamAuth>()
  private readonly machines = new Map<string, ClientCredentialsAuth>()
  private readonly configs = new Map<string, ServerConfig>()

  private constructor (private readonly store: UpstreamTokenStore, private readonly log: Logger) {}

  static async open (dataDir: string, log: Logger): Promise<UpstreamAuths> {
    return new UpstreamAuths(await UpstreamTokenStore.open(dataDir), log)
  }

  /** The login of a server that may need one (created on first use; it follows the server's config). */
  for (name: string, config: ServerConfig): UpstreamAuth | undefined {
    if (!oauthCapable(config) || config.oauth?.clientCredentials) return undefined
    this.configs.set(name, config)
    let found = this.byName.get(name)
    if (!found) {
      found = new UpstreamAuth(name, () => this.configs.get(name)?.url ?? '', () => this.configs.get(name)?.oauth, this.store, this.log.child({ backend: name }))
      this.byName.set(name, found)
    }
    return found
  }

  get (name: string): UpstreamAuth | undefined { return this.byName.get(name) }

  /** What a backend's transport asks for its token: the client credentials grant where configured, else the owner's login. */
  backendAuth (name: string, config: ServerConfig): UpstreamAuth | ClientCredentialsAuth | undefined {
    if (!config.oauth?.clientCredentials || !oauthCapable(config)) return this.for(name, config)
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
    this.byName.clear()
    this.machines.clear()
  }
}
