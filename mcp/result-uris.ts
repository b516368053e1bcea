/**
 * A backend's results name its own resource URIs; on `/mcp` a client must be given the URIs it can
 * read back there (docs/naming.md). Only the places a result names a resource are looked at (the
 * top-level content blocks of a tool result, a prompt's messages, the entries of a read), never
 * anything deeper, and a result is copied only when one of its URIs changes.
 */
type Params = Record<string, unknown>
/** the URI a client is given for one of the backend's URIs */
export type ExposeUri = (original: string) => string

function isObject (value: unknown): value is Params {
  return value !== null && typeof value === 'object'
}

/** An entry with a `uri` (a read's contents, a directory's resources) under its exposed URI. */
function exposeEntry (entry: unknown, expose: ExposeUri): unknown {
  if (!isObject(entry) || typeof entry.uri !== 'string') return entry
  const uri = expose(entry.uri)
  return uri === entry.uri ? entry : { ...entry, uri }
}

/** A content block: a `resource_link`'s URI or an embedded `resource`'s, exposed; any other block as it is. */
function exposeBlock (block: unknown, expose: ExposeUri): unknown {
  if (!isObject(block)) return block
  if (block.type === 'resource_link') return exposeEntry(block, expose)
  if (block.type !== 'resource') return block
  const resource = exposeEntry(block.resource, expose)
  return resource === block.resource ? block : { ...block, resource }
}

/** Each item of `list` through `map`; the same array when nothing changed. */
function mapList (list: unknown[], map: (item: unknown) => unknown): unknown[] {
  let copy: unknown[] | undefined
  for (let i = 0; i < list.length; i++) {
    const item = map(list[i])
    if (item !== list[i]) (copy ??= [...list])[i] = item
  }
  return copy ?? list
}

function exposeField<T extends Params> (result: T, key: string, map: (item: unknown) => unknown): T {
  const list = result[key]
  if (!Array.isArray(list)) return result
  const exposed = mapList(list, map)
  return exposed === list ? result : { ...result, [key]: exposed }
}

/** A tool result (also a task's): its resource links and embedded resources. */
export function exposeToolResult<T extends Params> (result: T, expose: ExposeUri): T {
  return exposeField(result, 'content', (block) => exposeBlock(block, expose))
}

/** A prompt: the resource link or embedded resource of each message. */
export function exposePromptResult<T extends Params> (result: T, expose: ExposeUri): T {
  return exposeField(result, 'messages', (message) => {
    if (!isObject(message)) return message
    const content = exposeBlock(message.content, expose)
    return content === message.content ? message : { ...message, content }
  })
}

/** A read's `contents` or a directory's `resources`: each entry's URI. */
export function exposeEntries<T extends Params> (result: T, key: 'contents' | 'resources', expose: ExposeUri): T {
  return exposeField(result, key, (entry) => exposeEntry(entry, expose))
}
