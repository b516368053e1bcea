import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { chmod, mkdir, open, readFile, rename } from 'node:fs/promises'
import { join } from 'node:path'
import type { OAuthDiscoveryState, StoredOAuthClientInformation, StoredOAuthTokens } from '@modelcontextprotocol/client'

/** What the gateway keeps for one remote server it logged in to. */
export interface UpstreamRecord {
  client?: StoredOAuthClientInformation
  /** the redirect URI the client was registered with */
  clientRedirectUri?: string
  tokens?: StoredOAuthTokens
  /** ms since the epoch when the access token expires (from `expires_in` at the time it was saved) */
  expiresAt?: number
  discovery?: OAuthDiscoveryState
}

export const KEY_FILE = 'upstream-tokens.key'
export const TOKENS_FILE = 'upstream-tokens.enc'
const IV_BYTES = 12
const TAG_BYTES = 16

async function writePrivate (path: string, data: Buffer | string): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  const handle = await open(tmp, 'wx', 0o600)
  try {
    await handle.writeFile(data)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rename(tmp, path)
  await chmod(path, 0o600)
}

async function readKey (dir: string): Promise<Buffer | undefined> {
  const path = join(dir, KEY_FILE)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  const key = Buffer.from(text.trim(), 'base64')
  if (key.length !== 32) throw new Error(`${path} does not hold a 32-byte key; remove it and ${TOKENS_FILE} to start over (the upstream logins are then lost)`)
  return key
}

/** The key, made at the first write (32 random bytes, mode 0600, beside the signing key). */
async function makeKey (dir: string): Promise<Buffer> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const key = randomBytes(32)
  await writePrivate(join(dir, KEY_FILE), key.toString('base64'))
  return key
}

function encrypt (key: Buffer, plain: string): Buffer {
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
  return Buffer.concat([iv, cipher.getAuthTag(), body])
}

function decrypt (key: Buffer, sealed: Buffer): string {
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES))
  decipher.setAuthTag(sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES))
  return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8')
}

/**
 * The upstream logins of every remote server, by server name, in one file sealed with AES-256-GCM
 * (`upstream-tokens.enc`, key `upstream-tokens.key`, both mode 0600, in auth.dataDir). Writes are
 * serialized and atomic (a temporary file renamed over the old one).
 */
export class UpstreamTokenStore {
  private writing: Promise<void> = Promise.resolve()

  private constructor (private readonly dir: string, private key: Buffer | undefined, private readonly records: Record<string, UpstreamRecord>) {}

  /** Reads the file if there is one; nothing is created before the first login is saved. */
  static async open (dir: string): Promise<UpstreamTokenStore> {
    const key = await readKey(dir)
    let records: Record<string, UpstreamRecord> = {}
    try {
      const sealed = await readFile(join(dir, TOKENS_FILE))
      if (!key) throw new Error(`${KEY_FILE} is missing`)
      records = JSON.parse(decrypt(key, sealed)) as Record<string, UpstreamRecord>
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${join(dir, TOKENS_FILE)} cannot be read with ${KEY_FILE} (${(err as Error).message}); remove both to start over`)
    }
    return new UpstreamTokenStore(dir, key, records)
  }

  /** The keys of the records kept (server names, and per-user keys: see per-user.ts). */
  keys (): string[] { return Object.keys(this.records) }

  get (server: string): UpstreamRecord {
    this.records[server] ??= {}
    return this.records[server]
  }

  /** Changes a server's record and writes the file. */
  update (server: string, change: (record: UpstreamRecord) => void): Promise<void> {
    change(this.get(server))
    const text = JSON.stringify(this.records)
    this.writing = this.writing.catch(() => {}).then(async () => {
      this.key ??= await makeKey(this.dir)
      await writePrivate(join(this.dir, TOKENS_FILE), encrypt(this.key, text))
    })
    return this.writing
  }
}
