import { open, readFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { importJWK, SignJWT, type JWK } from 'jose'
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js'
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js'
import { hashPassphrase } from '../auth/passphrase.js'

export const PASSPHRASE = 'correct horse battery staple'
let passphraseHash: Promise<string> | undefined
/** The test owner's passphrase hash (computed once: scrypt is slow on purpose). */
export function testPassphraseHash (): Promise<string> {
  passphraseHash ??= hashPassphrase(PASSPHRASE)
  return passphraseHash
}

/** Every log line the app writes, as text and parsed. */
export class LogCapture {
  readonly lines: string[] = []
  readonly stream = new Writable({
    write: (chunk: Buffer, _enc, done) => {
      for (const line of chunk.toString('utf8').split('\n')) if (line) this.lines.push(line)
      done()
    }
  })

  get entries (): Array<Record<string, unknown>> {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>)
  }

  audits (event?: string): Array<Record<string, unknown>> {
    return this.entries.filter((e) => e.audit !== undefined && (event === undefined || e.audit === event))
  }
}

/** Signs an access token with the gateway's own key (read from its data dir), claims as given. */
export async function forgeToken (dataDir: string, claims: Record<string, unknown>, opts: { typ?: string, expiresIn?: number } = {}): Promise<string> {
  const stored = JSON.parse(await readFile(join(dataDir, 'signing-key.json'), 'utf8')) as { kid: string, privateJwk: JWK }
  const key = await importJWK(stored.privateJwk, 'ES256')
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({ jti: `forged-${Math.random()}`, ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: opts.typ ?? 'at+jwt', kid: stored.kid })
    .setIssuedAt(now - 60)
    .setExpirationTime(now + (opts.expiresIn ?? 600))
    .sign(key)
}

function hidden (html: string, name: string): string {
  const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(html)
  if (!match) throw new Error(`no ${name} in the page: ${html.slice(0, 400)}`)
  return match[1]
}

export interface Browser {
  cookies: Map<string, string>
  fetch: (url: string | URL, init?: RequestInit) => Promise<Response>
}

/** A cookie jar over fetch, following no redirects: what a browser does, step by step. */
export function browser (): Browser {
  const cookies = new Map<string, string>()
  return {
    cookies,
    async fetch (url, init = {}) {
      const headers = new Headers(init.headers)
      if (cookies.size) headers.set('cookie', [...cookies].map(([k, v]) => `${k}=${v}`).join('; '))
      const res = await fetch(url, { ...init, headers, redirect: 'manual' })
      for (const setCookie of res.headers.getSetCookie()) {
        const [pair] = setCookie.split(';')
        const eq = pair.indexOf('=')
        const name = pair.slice(0, eq).trim()
        const value = pair.slice(eq + 1).trim()
        if (value === '' || /max-age=0|expires=Thu, 01 Jan 1970/i.test(setCookie)) cookies.delete(name)
        else cookies.set(name, value)
      }
      return res
    }
  }
}

export function form (values: Record<string, string | string[]>): URLSearchParams {
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(values)) for (const one of Array.isArray(v) ? v : [v]) params.append(k, one)
  return params
}

/** Opens the authorization URL and, if the login page comes first, logs in: the consent page's HTML. */
async function consentPageOf (b: Browser, authorizationUrl: URL | string, base: string, passphrase: string): Promise<string> {
  const first = await b.fetch(authorizationUrl)
  if (first.status !== 200) {
    throw new Error(`GET /authorize answered ${first.status}: ${(await first.text()).slice(0, 300)} ${first.headers.get('location') ?? ''}`)
  }
  const html = await first.text()
  if (!html.includes('action="/authorize/login"')) return html
  const login = await b.fetch(`${base}/authorize/login`, {
    method: 'POST',
    body: form({ request_id: hidden(html, 'request_id'), csrf_token: hidden(html, 'csrf_token'), passphrase })
  })
  if (login.status !== 303) throw new Error(`login answered ${login.status}: ${(await login.text()).slice(0, 300)}`)
  const consent = await b.fetch(new URL(login.headers.get('location')!, base))
  return await consent.text()
}

/**
 * Plays the owner in a browser: opens the authorization URL, logs in with the passphrase, approves
 * (optionally only some scopes), and returns the URL the gateway redirects back to.
 */
export async function approve (authorizationUrl: URL | string, opts: { browser?: Browser, passphrase?: string, scopes?: string[], decision?: 'approve' | 'deny' } = {}): Promise<URL> {
  const b = opts.browser ?? browser()
  const base = new URL(authorizationUrl).origin
  const consentHtml = await consentPageOf(b, authorizationUrl, base, opts.passphrase ?? PASSPHRASE)
  const offered = [...consentHtml.matchAll(/name="scope" value="([^"]*)"/g)].map((m) => m[1])
  const done = await b.fetch(`${base}/authorize/consent`, {
    method: 'POST',
    body: form({
      request_id: hidden(consentHtml, 'request_id'),
      csrf_token: hidden(consentHtml, 'csrf_token'),
      decision: opts.decision ?? 'approve',
      scope: opts.scopes ?? offered
    })
  })
  if (done.status !== 303) throw new Error(`consent answered ${done.status}: ${(await done.text()).slice(0, 300)}`)
  return new URL(done.headers.get('location')!)
}

/** An in-memory OAuthClientProvider, as an MCP client application would keep one. */
export class MemoryProvider implements OAuthClientProvider {
  info?: OAuthClientInformationMixed
  saved?: OAuthTokens
  verifier = ''
  lastAuthorizationUrl?: URL
  clientMetadataUrl?: string

  constructor (readonly redirectUrl = 'http://127.0.0.1:9/callback', readonly metadata: Partial<OAuthClientMetadata> = {}) {}

  get clientMetadata (): OAuthClientMetadata {
    return {
      client_name: 'tap test client',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      ...this.metadata
    } as OAuthClientMetadata
  }

  state (): string { return 'state-123' }
  clientInformation (): OAuthClientInformationMixed | undefined { return this.info }
  saveClientInformation (info: OAuthClientInformationMixed): void { this.info = info }
  tokens (): OAuthTokens | undefined { return this.saved }
  saveTokens (tokens: OAuthTokens): void { this.saved = tokens }
  redirectToAuthorization (url: URL): void { this.lastAuthorizationUrl = url }
  saveCodeVerifier (verifier: string): void { this.verifier = verifier }
  codeVerifier (): string { return this.verifier }
}

/** POSTs a form to the gateway. */
export function postForm (url: string, values: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(values) })
}

/** Whether this process can create a file in a folder (root can in a 0500 one). */
export async function canWrite (dir: string): Promise<boolean> {
  const probe = join(dir, '.can-write')
  try {
    await (await open(probe, 'wx')).close()
  } catch {
    return false
  }
  await unlink(probe)
  return true
}
