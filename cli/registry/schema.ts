import { Type, type Static, type TSchema } from '@sinclair/typebox'

/*
 * The part of the MCP Registry API (openapi.yaml and server.schema.json of modelcontextprotocol/registry)
 * that `1mcp registry` and `1mcp mcp install` read. Fields we do not use pass through unchecked, so a
 * registry that adds fields keeps working; a field we use with the wrong type is a clear error.
 */
const Loose = <T extends Record<string, TSchema>>(properties: T) => Type.Object(properties, { additionalProperties: true })

export const Input = Loose({
  description: Type.Optional(Type.String()),
  isRequired: Type.Optional(Type.Boolean()),
  format: Type.Optional(Type.String()),
  value: Type.Optional(Type.String()),
  isSecret: Type.Optional(Type.Boolean()),
  default: Type.Optional(Type.String()),
  placeholder: Type.Optional(Type.String()),
  choices: Type.Optional(Type.Array(Type.String()))
})
export type Input = Static<typeof Input>

const Variables = Type.Optional(Type.Record(Type.String(), Input))

/** An environment variable or HTTP header. */
export const KeyValueInput = Type.Composite([Input, Loose({ name: Type.String({ minLength: 1 }), variables: Variables })], { additionalProperties: true })
export type KeyValueInput = Static<typeof KeyValueInput>

/** A positional argument (`valueHint` names it) or a named one (`--flag value`). */
export const Argument = Type.Composite([Input, Loose({
  type: Type.Union([Type.Literal('positional'), Type.Literal('named')]),
  name: Type.Optional(Type.String()),
  valueHint: Type.Optional(Type.String()),
  isRepeated: Type.Optional(Type.Boolean()),
  variables: Variables
})], { additionalProperties: true })
export type Argument = Static<typeof Argument>

export const Transport = Loose({
  type: Type.String(),
  url: Type.Optional(Type.String()),
  headers: Type.Optional(Type.Array(KeyValueInput)),
  variables: Variables
})
export type Transport = Static<typeof Transport>

export const Package = Loose({
  registryType: Type.String(),
  registryBaseUrl: Type.Optional(Type.String()),
  identifier: Type.String({ minLength: 1 }),
  version: Type.Optional(Type.String()),
  runtimeHint: Type.Optional(Type.String()),
  transport: Type.Optional(Transport),
  runtimeArguments: Type.Optional(Type.Array(Argument)),
  packageArguments: Type.Optional(Type.Array(Argument)),
  environmentVariables: Type.Optional(Type.Array(KeyValueInput))
})
export type Package = Static<typeof Package>

export const ServerDetail = Loose({
  name: Type.String({ minLength: 1 }),
  description: Type.Optional(Type.String()),
  title: Type.Optional(Type.String()),
  version: Type.String(),
  websiteUrl: Type.Optional(Type.String()),
  repository: Type.Optional(Loose({ url: Type.Optional(Type.String()), source: Type.Optional(Type.String()), subfolder: Type.Optional(Type.String()) })),
  packages: Type.Optional(Type.Array(Package)),
  remotes: Type.Optional(Type.Array(Transport))
})
export type ServerDetail = Static<typeof ServerDetail>

export const OFFICIAL_META = 'io.modelcontextprotocol.registry/official'

export const OfficialMeta = Loose({
  status: Type.Optional(Type.String()),
  publishedAt: Type.Optional(Type.String()),
  updatedAt: Type.Optional(Type.String()),
  isLatest: Type.Optional(Type.Boolean())
})
export type OfficialMeta = Static<typeof OfficialMeta>

export const ServerResponse = Loose({
  server: ServerDetail,
  _meta: Type.Optional(Loose({ [OFFICIAL_META]: Type.Optional(OfficialMeta) }))
})
export type ServerResponse = Static<typeof ServerResponse>

/** A list page; its entries are checked one by one, so one malformed entry does not hide the others. */
export const ServerList = Loose({
  servers: Type.Array(Type.Unknown()),
  metadata: Type.Optional(Loose({
    nextCursor: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    count: Type.Optional(Type.Integer())
  }))
})
export type ServerList = Static<typeof ServerList>

/** The registry's own status for an entry (`active` when the registry does not say). */
export function statusOf (entry: ServerResponse): string {
  return entry._meta?.[OFFICIAL_META]?.status ?? 'active'
}
