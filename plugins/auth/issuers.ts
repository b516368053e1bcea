import { isAbsolute, join } from 'node:path'
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { AccessTokens } from '../../auth/access-tokens.js'
import { AuthorizationServer } from '../../auth/authorization-server.js'
import { dataFileError, prepareDataDir, readJson, type DataFileRole } from '../../auth/files.js'
import { createJsonExclusive } from '../../auth/shared-dir.js'
import { OwnerSessions } from '../../auth/owner-sessions.js'
import { generatePassphrase, hashPassphrase, isPassphraseHash } from '../../auth/passphrase.js'
import { parseScope } from '../../auth/scopes.js'
import { Sealer } from '../../auth/sealed.js'
import { AuthStore } from '../../auth/store.js'
import { UsedCodes } from '../../auth/used-codes.js'
import { AUTH_DEFAULTS, type AuthSettings } from '../../schemas/auth.js'
import type { GatewayUrls, ResourceRules } from './urls.js'
import { dataDirOf } from '../data-dir.js'

// The issuer side: where access tokens come from (the embedded authorization server, or an external
// issuer) and how their signature is checked. The resource server (resource-server.ts) uses the result.

/** The embedded authorization server's parts, for routes/oauth.ts. */
export interface EmbeddedIssuer {
  server: AuthorizationServer
  tokens: AccessTokens
  store: AuthStore
  owners: OwnerSessions
  /** the owner passphrase hash, when the owner logs in with one (no upstream IdP) */
  passphraseHash?: string
}

/** What the embedded issuer takes from the plugin's options (AuthPluginOptions in plugins/auth.ts). */
export interface IssuerOptions {
  /** where a relative `auth.dataDir` is resolved from (the config file's folder) */
  baseDir?: string
  /** how the generated owner passphrase is shown, once; default: standard error */
  announce?: (text: string) => void
  now?: () => number
}

/** What the resource server needs from a verified access token. */
export interface VerifiedClaims {
  subject: string
  clientId: string
  scopes: string[]
  audience: string[]
  family?: string
  /** expiry, seconds since the epoch */
  exp?: number
}

const OWNER_FILE: DataFileRole = { what: 'owner passphrase file', fix: 'delete it to generate a new passphrase at the next start (shown once)' }

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost'])

/** Reads the owner passphrase hash: the config's, else the data dir's, else a new one (shown once). */
async function ownerPassphrase (app: FastifyInstance, settings: AuthSettings, dataDir: string, announce: (text: string) => void): Promise<string> {
  if (settings.passphraseHash !== undefined) {
    if (!isPassphraseHash(settings.passphraseHash)) throw new Error('auth.passphraseHash is not a hash made by hashPassphrase (scrypt$N$r$p$salt$hash): make one as the README shows, or remove it to have one generated')
    return settings.passphraseHash
  }
  const path = join(dataDir, 'owner.json')
  const stored = await storedPassphrase(path)
  if (stored !== undefined) return stored
  const passphrase = generatePassphrase()
  const passphraseHash = await hashPassphrase(passphrase)
  // instances starting together: one passphrase is made and shown; the others use it and show nothing
  if (!await createJsonExclusive(path, { passphraseHash, createdAt: new Date().toISOString() })) {
    const theirs = await storedPassphrase(path)
    if (theirs === undefined) throw dataFileError(OWNER_FILE, path, 'vanished while it was being created')
    return theirs
  }
  app.log.warn({ file: path }, 'generated the owner passphrase; it is shown once on standard error and kept only as a hash')
  announce(`\n  1MCP owner passphrase (shown once; stored only as a hash in ${path}):\n\n      ${passphrase}\n\n  Enter it in the browser when an MCP client asks for access. To set your own, put "auth.passphraseHash" in the config.\n\n`)
  return passphraseHash
}

/** The passphrase hash of the data dir's owner.json; undefined when there is none yet. */
async function storedPassphrase (path: string): Promise<string | undefined> {
  const stored = await readJson<{ passphraseHash: string }>(path, OWNER_FILE)
  if (stored === undefined) return undefined
  if (!isPassphraseHash(stored?.passphraseHash)) throw dataFileError(OWNER_FILE, path, 'does not hold a passphrase hash ({ "passphraseHash": "scrypt$…" })')
  return stored.passphraseHash
}

/** A verifier of another issuer's access tokens (external-issuer mode), with its keys fetched lazily. */
function externalVerifier (settings: NonNullable<AuthSettings['external']>): (token: string) => Promise<JWTPayload> {
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined
  async function keys (): Promise<ReturnType<typeof createRemoteJWKSet>> {
    if (jwks) return jwks
    let url = settings.jwksUrl
    if (!url) {
      const base = settings.issuer.replace(/\/+$/, '')
      for (const doc of [`${base}/.well-known/openid-configuration`, `${base}/.well-known/oauth-authorization-server`]) {
        const res = await fetch(doc, { signal: AbortSignal.timeout(5000) }).catch(() => undefined)
        if (res?.ok) {
          const meta = await res.json() as { jwks_uri?: string }
          if (typeof meta.jwks_uri === 'string') { url = meta.jwks_uri; break }
        }
      }
      if (!url) throw new Error(`cannot find the signing keys of ${settings.issuer}: set auth.external.jwksUrl`)
    }
    jwks = createRemoteJWKSet(new URL(url), { timeoutDuration: 5000, cooldownDuration: 30_000 })
    return jwks
  }
  return async (token) => {
    const { payload } = await jwtVerify(token, await keys(), {
      issuer: settings.issuer,
      algorithms: settings.algorithms ?? ['RS256', 'ES256', 'PS256', 'EdDSA'],
      requiredClaims: ['sub', 'exp', 'aud']
    })
    return payload
  }
}

/** `scope` (space-separated) or `scp` (an array, as Entra ID writes it). */
function scopesOf (payload: JWTPayload): string[] {
  if (typeof payload.scope === 'string') return parseScope(payload.scope)
  if (Array.isArray(payload.scp)) return payload.scp.filter((s): s is string => typeof s === 'string')
  if (typeof payload.scp === 'string') return parseScope(payload.scp)
  return []
}

export interface Issuer {
  verifySignature: (token: string) => Promise<VerifiedClaims>
  embedded?: EmbeddedIssuer
}

/** External-issuer mode: tokens come from another authorization server and are checked against its keys. */
export function externalIssuer (external: NonNullable<AuthSettings['external']>, log: FastifyBaseLogger): Issuer {
  const verifyExternal = externalVerifier(external)
  log.info({ issuer: external.issuer }, 'trusting access tokens from an external issuer')
  return {
    verifySignature: async (token) => {
      const payload = await verifyExternal(token)
      const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud ?? '']
      const clientId = [payload.client_id, payload.azp, payload.appid].find((v): v is string => typeof v === 'string') ?? ''
      return { subject: payload.sub ?? '', clientId, scopes: scopesOf(payload), audience: aud, exp: payload.exp }
    }
  }
}

/** The embedded authorization server: its keys, store and owner sessions, kept under the data dir. */
export async function embeddedIssuer (app: FastifyInstance, settings: AuthSettings, opts: IssuerOptions, urls: GatewayUrls, resources: ResourceRules, log: FastifyBaseLogger, now: () => number): Promise<Issuer> {
  const dataDir = dataDirOf(settings, opts.baseDir)
  if (!isAbsolute(dataDir)) throw new Error(`auth.dataDir does not resolve to an absolute path: ${dataDir}`)
  await prepareDataDir(dataDir)
  const tokens = await AccessTokens.open(join(dataDir, 'signing-key.json'))
  const store = await AuthStore.open(dataDir, {
    now,
    registrationTtlSeconds: settings.registrationTtlSeconds ?? AUTH_DEFAULTS.registrationTtlSeconds,
    refreshTokenTtlSeconds: settings.refreshTokenTtlSeconds ?? AUTH_DEFAULTS.refreshTokenTtlSeconds,
    warn: (err, dir) => log.warn({ dir, error: err.message }, 'the revocation folder cannot be read or written: revocations of other instances are not seen until it can')
  })
  const passphraseHash = settings.upstream ? undefined : await ownerPassphrase(app, settings, dataDir, opts.announce ?? ((text) => { process.stderr.write(text) }))
  const sealer = await Sealer.open(join(dataDir, 'state-key.json'))
  const server = new AuthorizationServer(tokens, store, { sealer, usedCodes: new UsedCodes(join(dataDir, 'codes')) }, authorizationSettings(settings, urls, resources, now))
  const owners = new OwnerSessions((settings.ownerSessionTtlSeconds ?? AUTH_DEFAULTS.ownerSessionTtlSeconds) * 1000, sealer, now)
  const pruner = setInterval(() => {
    server.prune().catch(() => {})
    store.prune()
  }, 60_000)
  pruner.unref()
  app.addHook('onClose', async () => {
    clearInterval(pruner)
    store.close()
    await store.flushed()
  })
  log.info({ dataDir, owner: settings.upstream ? 'upstream identity provider' : 'passphrase' }, 'authorization server ready')
  return {
    embedded: { server, tokens, store, owners, passphraseHash },
    verifySignature: async (token) => {
      const claims = await tokens.verify(token, urls.issuer())
      return { subject: claims.sub, clientId: claims.client_id, scopes: parseScope(claims.scope), audience: [claims.aud], family: claims.fam, exp: claims.exp }
    }
  }
}

function authorizationSettings (settings: AuthSettings, urls: GatewayUrls, resources: ResourceRules, now: () => number): ConstructorParameters<typeof AuthorizationServer>[3] {
  const loopbackGateway = () => LOOPBACK.has(new URL(urls.base()).hostname.replace(/^\[|\]$/g, ''))
  return {
    issuer: urls.issuer,
    isResource: resources.isResource,
    narrows: resources.narrows,
    defaultResource: () => urls.resource('/mcp'),
    accessTokenTtlSeconds: settings.accessTokenTtlSeconds ?? AUTH_DEFAULTS.accessTokenTtlSeconds,
    refreshTokenTtlSeconds: settings.refreshTokenTtlSeconds ?? AUTH_DEFAULTS.refreshTokenTtlSeconds,
    codeTtlSeconds: settings.authorizationCodeTtlSeconds ?? AUTH_DEFAULTS.authorizationCodeTtlSeconds,
    allowRegistration: settings.allowDynamicRegistration ?? true,
    allowMetadataDocuments: settings.allowClientMetadataDocuments ?? true,
    metadataFetchPolicy: () => ({ allowLoopback: loopbackGateway() }),
    now
  }
}
