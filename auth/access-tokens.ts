import { randomUUID } from 'node:crypto'
import { exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK, type CryptoKey, type JWTPayload } from 'jose'
import { dataFileError, readJson, type DataFileRole } from './files.js'
import { createJsonExclusive } from './shared-dir.js'

const ALG = 'ES256'
const TYP = 'at+jwt'

interface KeyFile { kid: string, alg: string, privateJwk: JWK, createdAt: string }

const SIGNING_KEY: DataFileRole = { what: 'signing key', fix: 'delete it to create a new one (issued tokens become invalid)' }

/** The stored key pair, or a clear error naming the file when it is not an ES256 private key. */
async function importKeys (stored: KeyFile, path: string): Promise<{ privateKey: CryptoKey, publicKey: CryptoKey, publicJwk: JWK }> {
  const jwk = (stored as Partial<KeyFile> | null)?.privateJwk
  if (typeof stored?.kid !== 'string' || typeof jwk !== 'object' || jwk === null || typeof jwk.d !== 'string') {
    throw dataFileError(SIGNING_KEY, path, 'is not in the expected shape ({ kid, privateJwk } with a private key)')
  }
  try {
    const privateKey = await importJWK(jwk, ALG) as CryptoKey
    const { d: _d, ...publicJwk } = jwk
    const publicKey = await importJWK(publicJwk, ALG) as CryptoKey
    return { privateKey, publicKey, publicJwk }
  } catch {
    throw dataFileError(SIGNING_KEY, path, `does not hold an ${ALG} private key`)
  }
}

/** What an access token says (RFC 9068 claims, plus the refresh family it came from). */
export interface AccessClaims {
  sub: string
  client_id: string
  scope: string
  aud: string
  jti: string
  /** the refresh-token family, so revoking the family ends its access tokens too */
  fam?: string
  exp: number
  iat: number
}

/**
 * The gateway's signing key (persisted under the data dir) and its access tokens: ES256 JWTs
 * verified locally, with no store lookup.
 */
export class AccessTokens {
  private constructor (
    private readonly privateKey: CryptoKey,
    private readonly publicKey: CryptoKey,
    readonly publicJwk: JWK,
    readonly kid: string
  ) {}

  static async open (path: string): Promise<AccessTokens> {
    let stored = await readJson<KeyFile>(path, SIGNING_KEY)
    if (!stored) {
      // instances starting together on one data dir: one key is created, the others read it
      const { privateKey } = await generateKeyPair(ALG, { extractable: true })
      const created: KeyFile = { kid: randomUUID(), alg: ALG, privateJwk: await exportJWK(privateKey), createdAt: new Date().toISOString() }
      stored = await createJsonExclusive(path, created) ? created : await readJson<KeyFile>(path, SIGNING_KEY)
      if (!stored) throw dataFileError(SIGNING_KEY, path, 'vanished while it was being created')
    }
    const { privateKey, publicKey, publicJwk } = await importKeys(stored, path)
    return new AccessTokens(privateKey, publicKey, { ...publicJwk, kid: stored.kid, alg: ALG, use: 'sig' }, stored.kid)
  }

  async issue (issuer: string, claims: { sub: string, clientId: string, scope: string, audience: string, family?: string }, ttlSeconds: number): Promise<{ token: string, expiresIn: number }> {
    const token = await new SignJWT({ client_id: claims.clientId, scope: claims.scope, ...(claims.family ? { fam: claims.family } : {}) })
      .setProtectedHeader({ alg: ALG, typ: TYP, kid: this.kid })
      .setIssuer(issuer)
      .setSubject(claims.sub)
      .setAudience(claims.audience)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime(`${ttlSeconds}s`)
      .sign(this.privateKey)
    return { token, expiresIn: ttlSeconds }
  }

  /** Verifies signature, type, issuer and expiry; the caller checks audience and revocation. */
  async verify (token: string, issuer: string): Promise<AccessClaims & JWTPayload> {
    const { payload } = await jwtVerify(token, this.publicKey, { issuer, typ: TYP, algorithms: [ALG], requiredClaims: ['sub', 'aud', 'exp', 'jti'] })
    if (typeof payload.client_id !== 'string' || typeof payload.scope !== 'string' || typeof payload.aud !== 'string') {
      throw new Error('the token lacks client_id, scope or a single audience')
    }
    return payload as AccessClaims & JWTPayload
  }
}
