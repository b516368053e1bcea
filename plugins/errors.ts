/** A config that cannot be used: the message names the file, the key and the fix. */
/** Finding, reading, substituting and validating the config; the watching store is config-store.ts. */

export class ConfigError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}
