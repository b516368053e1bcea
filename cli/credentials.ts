import { createHash } from 'node:crypto'
import { mkdir, open, readFile, stat, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { StoredOAuthClientInformation, StoredOAuthTokens } from '@modelcontextprotocol/client'
import { readJson, writeJsonAtomic, userConfigDir } from '../api.js'
import { CliError } from './errors.js'

/** What `1mcp proxy` keeps about its login to one gateway endpoint. */
export interface StoredLogin {
  /** the MCP endpoint (no query) the tokens are for */
  resource: string
  /** the client registration the gateway gave the proxy (its redirect URI names the loopback port) */
  client?: StoredOAuthClientInformation
  tokens?: StoredOAuthTokens
  /** when the access token expires, ms since the epoch */
  expiresAt?: number
}

/**
 * Where the proxy keeps its logins: ONEMCP_CREDENTIALS_DIR, else the user's config folder
 * (`$XDG_CONFIG_HOME/1mcp`, `~/.config/1mcp`; `%APPDATA%\1mcp` on Windows; under ONEMCP_HOME when set).
 */
export function credentialsDir (env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): string {
  return env.ONEMCP_CREDENTIALS_DIR || userConfigDir(env, platform)
}

/** The endpoint a login is for: the URL without its query (filters do not change who may call it). */
export function loginResource (url: URL): string {
  const resource = new URL(url)
  resource.search = ''
  resource.hash = ''
  return resource.href.replace(/\/+$/, '')
}

const LOCK_POLL_MS = 100

/**
 * One gateway endpoint's login in a file of its own (mode 0600 in a 0700 folder), keyed by a hash of
 * the endpoint's URL. A lock file serializes renewals across processes: two proxies started by two
 * apps share the login, and a refresh token used twice would revoke the whole grant.
 */
export class CredentialFile {
  readonly path: string

  constructor (dir: string, readonly resource: string) {
    const key = createHash('sha256').update(resource).digest('hex').slice(0, 24)
    this.path = join(dir, 'logins', `${key}.json`)
  }

  /** The stored login; an empty one when there is none or it is for another endpoint. */
  async read (): Promise<StoredLogin> {
    let stored: StoredLogin | undefined
    try {
      stored = await readJson<StoredLogin>(this.path, { what: 'stored login', fix: 'remove it to log in afresh' })
    } catch (err) {
      throw new CliError((err as Error).message, `remove ${this.path} to log in afresh`)
    }
    return stored?.resource === this.resource ? stored : { resource: this.resource }
  }

  write (login: StoredLogin): Promise<void> {
    return writeJsonAtomic(this.path, login)
  }

  /** Runs `fn` holding the file's lock; a lock left by a dead process, or older than `staleMs`, is taken over. */
  async withLock<T> (staleMs: number, fn: () => Promise<T>): Promise<T> {
    const lock = `${this.path}.lock`
    await this.acquire(lock, staleMs)
    try {
      return await fn()
    } finally {
      await unlink(lock).catch(() => {})
    }
  }

  private async acquire (lock: string, staleMs: number): Promise<void> {
    await mkdir(dirname(lock), { recursive: true, mode: 0o700 })
    const deadline = Date.now() + staleMs + 5_000
    for (let attempt = 0; attempt < Math.ceil((staleMs + 5_000) / LOCK_POLL_MS) + 1; attempt++) {
      try {
        const handle = await open(lock, 'wx', 0o600)
        await handle.writeFile(String(process.pid))
        await handle.close()
        return
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      }
      if (await abandoned(lock, staleMs)) await unlink(lock).catch(() => {})
      else if (Date.now() > deadline) break
      else await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS).unref())
    }
    throw new CliError(`another 1mcp proxy holds ${lock}`, 'wait for its login to finish, or remove the lock file if no proxy runs')
  }
}

/** Whether a lock's holder is gone (its pid is not alive) or has held it longer than `staleMs`. */
async function abandoned (lock: string, staleMs: number): Promise<boolean> {
  const [pid, info] = await Promise.all([readFile(lock, 'utf8').catch(() => ''), stat(lock).catch(() => undefined)])
  if (!info) return false
  if (Date.now() - info.mtimeMs > staleMs) return true
  const holder = Number(pid)
  if (!Number.isInteger(holder) || holder <= 0) return false
  try {
    process.kill(holder, 0)
    return false
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH'
  }
}
