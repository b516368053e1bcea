import { Type, type Static } from '@sinclair/typebox'

/** The defaults of the `auth` settings, declared once (see DEFAULTS in schemas/config.ts). */
export const AUTH_DEFAULTS = {
  enabled: true,
  dataDir: '.data',
  accessTokenTtlSeconds: 900,
  refreshTokenTtlSeconds: 30 * 86400,
  authorizationCodeTtlSeconds: 60,
  ownerSessionTtlSeconds: 12 * 3600,
  allowDynamicRegistration: true,
  allowClientMetadataDocuments: true,
  registrationTtlSeconds: 30 * 86400,
  rateLimit: { max: 60, loginMax: 10, windowSeconds: 60 }
} as const

const Seconds = (description: string, minimum: number, maximum: number, byDefault: number) =>
  Type.Integer({ minimum, maximum, description, default: byDefault })

/** Logging the resource owner in through an upstream OAuth 2 / OpenID Connect identity provider. */
export const UpstreamIdpSettings = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 60, description: 'shown on the login button, e.g. "GitHub"' })),
  issuer: Type.Optional(Type.String({ pattern: '^https?://', description: 'an OpenID Connect issuer: endpoints come from its discovery document' })),
  authorizationUrl: Type.Optional(Type.String({ pattern: '^https?://', description: 'without discovery (e.g. GitHub): the authorization endpoint' })),
  tokenUrl: Type.Optional(Type.String({ pattern: '^https?://', description: 'without discovery: the token endpoint' })),
  userinfoUrl: Type.Optional(Type.String({ pattern: '^https?://', description: 'without discovery: where the user is read (e.g. https://api.github.com/user)' })),
  clientId: Type.String({ minLength: 1, description: 'the gateway\'s client id at the provider' }),
  clientSecret: Type.String({ minLength: 1, description: 'its secret (write it as an environment variable reference, not in the file)' }),
  scopes: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'default ["openid", "email", "profile"] with an issuer, none without' })),
  allowedUsers: Type.Array(Type.String({ minLength: 1 }), {
    minItems: 1,
    description: 'who may act as the owner: a subject, an email (verified), a GitHub login, or "*" for anyone the provider authenticates'
  })
}, { additionalProperties: false, description: 'log the owner in through an OAuth 2 / OpenID Connect identity provider instead of the passphrase' })
export type UpstreamIdpSettings = Static<typeof UpstreamIdpSettings>

/** Trusting access tokens from another authorization server instead of issuing our own. */
export const ExternalIssuerSettings = Type.Object({
  issuer: Type.String({ pattern: '^https?://', description: 'the `iss` the tokens carry; also published as the authorization server' }),
  jwksUrl: Type.Optional(Type.String({ pattern: '^https?://', description: 'its signing keys; default: jwks_uri from its metadata' })),
  audience: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'accepted `aud` values; default: this gateway\'s resource URLs' })),
  algorithms: Type.Optional(Type.Array(Type.String({ pattern: '^(RS|PS|ES)(256|384|512)$|^EdDSA$' }), { minItems: 1, description: 'accepted signature algorithms', default: ['RS256', 'ES256', 'PS256', 'EdDSA'] }))
}, { additionalProperties: false, description: 'trust access tokens from another authorization server instead of issuing them' })
export type ExternalIssuerSettings = Static<typeof ExternalIssuerSettings>

export const AuthRateLimit = Type.Object({
  max: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, description: 'requests per window and client address to the OAuth endpoints', default: AUTH_DEFAULTS.rateLimit.max })),
  loginMax: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, description: 'login attempts per window and client address', default: AUTH_DEFAULTS.rateLimit.loginMax })),
  windowSeconds: Type.Optional(Seconds('the window, seconds', 1, 86400, AUTH_DEFAULTS.rateLimit.windowSeconds))
}, { additionalProperties: false, description: 'limits on the OAuth endpoints' })

export const AuthSettings = Type.Object({
  enabled: Type.Optional(Type.Boolean({ description: 'false serves every endpoint without auth (local development only)', default: AUTH_DEFAULTS.enabled })),
  dataDir: Type.Optional(Type.String({ minLength: 1, description: 'where the signing key, clients and refresh-token families persist; relative to the config file\'s folder', default: AUTH_DEFAULTS.dataDir })),
  accessTokenTtlSeconds: Type.Optional(Seconds('access token lifetime, seconds', 30, 86400, AUTH_DEFAULTS.accessTokenTtlSeconds)),
  refreshTokenTtlSeconds: Type.Optional(Seconds('refresh-token family lifetime, seconds', 60, 365 * 86400, AUTH_DEFAULTS.refreshTokenTtlSeconds)),
  authorizationCodeTtlSeconds: Type.Optional(Seconds('authorization code lifetime, seconds', 10, 600, AUTH_DEFAULTS.authorizationCodeTtlSeconds)),
  ownerSessionTtlSeconds: Type.Optional(Seconds('how long an owner login lasts in the browser, seconds', 60, 30 * 86400, AUTH_DEFAULTS.ownerSessionTtlSeconds)),
  passphraseHash: Type.Optional(Type.String({ pattern: '^scrypt\\$', description: 'the owner passphrase, hashed (see README); default: generated at first start and kept in dataDir' })),
  upstream: Type.Optional(UpstreamIdpSettings),
  external: Type.Optional(ExternalIssuerSettings),
  allowDynamicRegistration: Type.Optional(Type.Boolean({ description: 'RFC 7591 registration at /register', default: AUTH_DEFAULTS.allowDynamicRegistration })),
  allowClientMetadataDocuments: Type.Optional(Type.Boolean({ description: 'https client_id URLs (Client ID Metadata Documents)', default: AUTH_DEFAULTS.allowClientMetadataDocuments })),
  registrationTtlSeconds: Type.Optional(Type.Integer({
    minimum: 0,
    maximum: 10 * 365 * 86400,
    description: 'a dynamically registered client unused this long (and holding no live refresh token) is deleted, seconds; 0 keeps clients forever',
    default: AUTH_DEFAULTS.registrationTtlSeconds
  })),
  rateLimit: Type.Optional(AuthRateLimit)
}, { additionalProperties: false, description: 'the OAuth 2.1 authorization server and resource server (docs/authentication.md)' })
export type AuthSettings = Static<typeof AuthSettings>

/** A client as registered (RFC 7591) or read from its metadata document; one file per client in the data dir. */
export const StoredClient = Type.Object({
  client_id: Type.String({ minLength: 1 }),
  client_name: Type.Optional(Type.String()),
  client_uri: Type.Optional(Type.String()),
  logo_uri: Type.Optional(Type.String()),
  redirect_uris: Type.Array(Type.String()),
  grant_types: Type.Array(Type.String()),
  response_types: Type.Array(Type.String()),
  token_endpoint_auth_method: Type.Union([Type.Literal('none'), Type.Literal('client_secret_basic'), Type.Literal('client_secret_post')]),
  scope: Type.Optional(Type.String()),
  client_id_issued_at: Type.Number({ description: 'seconds since the epoch' }),
  last_used_at: Type.Optional(Type.Number({ description: 'seconds since the epoch, updated at most once per touch interval' })),
  client_secret_sha256: Type.Optional(Type.String({ description: 'SHA-256 of the secret, for confidential clients; the secret itself is shown once' })),
  source: Type.Union([Type.Literal('registration'), Type.Literal('metadata-document')], { description: 'registered here, or known from its Client ID Metadata Document' })
})
export type StoredClient = Static<typeof StoredClient>

/**
 * The grant behind a chain of refresh tokens. Each refresh rotates the token; presenting one that
 * was already rotated away means it leaked, and the whole family is revoked (OAuth 2.1 §4.3.1).
 */
export const StoredFamily = Type.Object({
  id: Type.String({ minLength: 1 }),
  clientId: Type.String(),
  subject: Type.String(),
  scope: Type.String(),
  audience: Type.String(),
  createdAt: Type.Number(),
  expiresAt: Type.Number(),
  current: Type.String({ description: 'SHA-256 of the one valid refresh token' }),
  previous: Type.Array(Type.String(), { description: 'SHA-256 of the tokens rotated away, newest last (bounded)' }),
  revokedAt: Type.Optional(Type.Number()),
  revokedReason: Type.Optional(Type.String())
})
export type StoredFamily = Static<typeof StoredFamily>
