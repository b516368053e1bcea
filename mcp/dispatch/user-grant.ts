import type { Result } from '@modelcontextprotocol/client'
import { RpcCode, RpcError } from '../../backends/errors.js'
import type { GrantRequiredError, UserGrants } from '../../backends/upstream-auth/per-user.js'
import { STATELESS_VERSION } from '../versions.js'
import type { Channel, Session } from '../session.js'

/** Whether the client declared URL-mode elicitation (2025-11-25: `capabilities.elicitation.url`) on a session that can be asked. */
function asksByUrl (session: Session): boolean {
  const elicitation = session.clientCapabilities.elicitation as Record<string, unknown> | undefined
  return session.protocolVersion !== STATELESS_VERSION && elicitation !== undefined && Object.hasOwn(elicitation, 'url')
}

/**
 * A user called a `credentials: "per-user"` server they have not authorized: they are given a
 * single-use link to the gateway page that starts their own upstream authorization. A client that
 * declared URL elicitation is asked by `elicitation/create` (`mode: "url"`) on the call's stream; once
 * the user's login succeeded the gateway sends `notifications/elicitation/complete` and resolves, and
 * the call goes on. Any other client gets URLElicitationRequiredError (-32042) with the link in
 * `data.elicitations`, and calls again after authorizing.
 */
export async function askForGrant (grants: UserGrants, session: Session, channel: Channel, needed: GrantRequiredError, signal: AbortSignal): Promise<void> {
  const link = grants.link(needed.server, needed.user)
  const elicitation = {
    mode: 'url',
    elicitationId: link.elicitationId,
    url: link.url,
    message: `The server '${needed.server}' needs your own authorization: open the link to approve the gateway's access for you.`
  }
  const required = (why: string) => new RpcError(RpcCode.UrlElicitationRequired, `${why}: open ${link.url} to authorize '${needed.server}', then call again`, { elicitations: [elicitation] })
  if (!asksByUrl(session)) throw required(`'${needed.server}' needs your own authorization`)
  const authorized = link.authorized(signal)
  authorized.catch(() => {})
  const answer: Result = await session.requestClient(channel, 'elicitation/create', elicitation, signal)
  if (answer.action !== 'accept') throw required(`the authorization was not given (${String(answer.action)})`)
  await authorized
  channel.send({ jsonrpc: '2.0', method: 'notifications/elicitation/complete', params: { elicitationId: link.elicitationId } })
}
