import { fetchClientMetadata, isMetadataDocumentUrl, type FetchPolicy } from './client-metadata.js'
import { ClientMetadataError, OAuthError } from './errors.js'
import { checkRedirectUri } from './redirect-uris.js'
import type { AuthStore, ClientRecord } from './store.js'

const CIMD_CACHE_MS = 5 * 60 * 1000

/** The client behind a client_id: registered here, or described by a Client ID Metadata Document (fetched, cached briefly). */
export class ClientLookup {
  private readonly documents = new Map<string, { client: ClientRecord, expiresAt: number }>()

  constructor (private readonly store: AuthStore, private readonly options: { allowMetadataDocuments: boolean, metadataFetchPolicy: () => FetchPolicy }, private readonly now: () => number) {}

  /** Finds a client: registered here, or its metadata document fetched (and cached briefly). */
  async findClient (clientId: string): Promise<ClientRecord> {
    const registered = await this.store.findClient(clientId)
    if (registered) {
      await this.store.clientUsed(registered)
      return registered
    }
    if (!isMetadataDocumentUrl(clientId)) throw new OAuthError('invalid_client', 'unknown client_id', 401)
    if (!this.options.allowMetadataDocuments) throw new OAuthError('invalid_client', 'Client ID Metadata Documents are not accepted here', 401)
    const cached = this.documents.get(clientId)
    if (cached && cached.expiresAt > this.now()) return cached.client
    try {
      const client = await this.clientFromDocument(clientId)
      if (this.documents.size > 1000) this.documents.clear()
      this.documents.set(clientId, { client, expiresAt: this.now() + CIMD_CACHE_MS })
      return client
    } catch (err) {
      if (!(err instanceof ClientMetadataError)) throw err
      const refused = new OAuthError('invalid_client', err.message, 401)
      refused.detail = err.detail
      throw refused
    }
  }

  /** A client described by its Client ID Metadata Document, fetched from its client_id URL. */
  private async clientFromDocument (clientId: string): Promise<ClientRecord> {
    const doc = await fetchClientMetadata(clientId, this.options.metadataFetchPolicy())
    const redirectUris = doc.redirect_uris.map((uri) => {
      const checked = checkRedirectUri(uri)
      if ('problem' in checked) throw new ClientMetadataError(`redirect URI ${uri} ${checked.problem}`)
      return checked.uri
    })
    return {
      client_id: clientId,
      client_name: doc.client_name,
      client_uri: doc.client_uri,
      logo_uri: doc.logo_uri,
      redirect_uris: redirectUris,
      grant_types: doc.grant_types ?? ['authorization_code', 'refresh_token'],
      response_types: doc.response_types ?? ['code'],
      token_endpoint_auth_method: 'none',
      scope: doc.scope,
      client_id_issued_at: Math.floor(this.now() / 1000),
      source: 'metadata-document'
    }
  }
}
