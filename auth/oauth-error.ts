/** An OAuth error response (RFC 6749 §5.2 and friends). */
export class OAuthError extends Error {
  /** for the audit log only, never sent: what really went wrong when the description is kept generic */
  detail?: string

  // eslint-disable-next-line n/handle-callback-err -- `error` is the OAuth error code of this class, not a callback's error
  constructor (readonly error: string, readonly description: string, readonly statusCode = 400) {
    super(description)
    this.name = 'OAuthError'
  }

  toJSON (): { error: string, error_description: string } {
    return { error: this.error, error_description: this.description }
  }
}
