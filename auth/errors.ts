// The auth core's errors: what the OAuth endpoints answer, and why a client metadata document was refused.

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

/** A client metadata document that could not be fetched or is not acceptable. */
export class ClientMetadataError extends Error {
  /** for the log: what went wrong, when `message` is kept generic for the client */
  readonly detail: string

  constructor (message: string, detail = message) {
    super(message)
    this.name = 'ClientMetadataError'
    this.detail = detail
  }
}
