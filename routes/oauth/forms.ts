import { OAuthError } from '../../auth/errors.js'

// The form bodies of the OAuth endpoints (application/x-www-form-urlencoded) and their parameters.

export type Form = Record<string, string | string[]>

export function parseForm (text: string): Form {
  // no prototype: a field named `__proto__` or `constructor` is a field like any other
  const out: Form = Object.create(null) as Form
  for (const [key, value] of new URLSearchParams(text)) {
    const existing = out[key]
    out[key] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value]
  }
  return out
}

/** One half of Basic credentials: form-encoded (RFC 6749 §2.3.1), so a bad `%` escape is a malformed request. */
export function basicPart (text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '))
  } catch {
    throw new OAuthError('invalid_request', 'malformed Basic credentials: bad percent-encoding')
  }
}

/** A parameter that must appear at most once (RFC 6749 §3.1, §3.2). */
export function single (form: Form, name: string): string | undefined {
  const value = form[name]
  if (Array.isArray(value)) throw new OAuthError('invalid_request', `${name} must not be repeated`)
  return value
}

/** The scopes ticked on the consent form. */
export function askedScopes (form: Form): unknown[] {
  if (form.scope === undefined) return []
  return Array.isArray(form.scope) ? form.scope : [form.scope]
}
