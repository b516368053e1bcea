import { Kind, OptionalKind, type TSchema } from '@sinclair/typebox'
import { GatewayConfig } from './config.js'

/** One row of the reference: a dotted key, its type, its default and what it does. */
interface Row { key: string, type: string, byDefault: string, meaning: string }

const MARK_START = '<!-- config-reference: generated from schemas/ by `npm run docs:config`; edit the schemas, not this table -->'
const MARK_END = '<!-- /config-reference -->'

type Schema = TSchema & {
  type?: string
  properties?: Record<string, Schema>
  patternProperties?: Record<string, Schema>
  items?: Schema
  anyOf?: Schema[]
  const?: unknown
  default?: unknown
  description?: string
  minimum?: number
  maximum?: number
}

/** A short type name: `integer`, `string[]`, `"a" \| "b"`, `{ name: … }`. */
function typeName (schema: Schema): string {
  if (schema.anyOf) return schema.anyOf.map(typeName).join(' | ')
  if (schema.const !== undefined) return JSON.stringify(schema.const)
  if (schema.type === 'array' && schema.items) return `${typeName(schema.items)}[]`
  if (schema.type === 'object' && schema.patternProperties) return `{ name: ${typeName(Object.values(schema.patternProperties)[0])} }`
  if (schema.type === 'object') return 'object'
  return String(schema.type ?? schema[Kind]).toLowerCase()
}

/** The object a schema describes, directly or as the object member of a union (`false | { … }`). */
function objectOf (schema: Schema): Schema | undefined {
  if (schema.type === 'object' && schema.properties) return schema
  return schema.anyOf?.find((member) => member.type === 'object' && member.properties)
}

function cell (text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ')
}

/** The default column: the default as JSON, `required` for a key its object must have, else `–`. */
function defaultOf (schema: Schema, topLevel: boolean): string {
  if (schema.default !== undefined) return `\`${JSON.stringify(schema.default)}\``
  return schema[OptionalKind] === undefined && !topLevel ? 'required' : '–'
}

function rowsOf (schema: Schema, prefix: string, rows: Row[]): Row[] {
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    const key = `${prefix}${name}`
    rows.push({ key, type: typeName(child), byDefault: defaultOf(child, prefix === ''), meaning: child.description ?? '' })
    const record = child.patternProperties ? Object.values(child.patternProperties)[0] : undefined
    const nested = record ? objectOf(record) : objectOf(child)
    if (nested) rowsOf(nested, record ? `${key}.<name>.` : `${key}.`, rows)
  }
  return rows
}

/** Every key of the config file, nested keys dotted (`mcpServers.<name>.restart.maxRetries`). */
export function configRows (): Row[] {
  return rowsOf(GatewayConfig as Schema, '', [])
}

/** The reference table, with the markers that delimit it in docs/configuration.md. */
export function configReference (): string {
  const lines = ['| key | type | default | meaning |', '|---|---|---|---|']
  for (const row of configRows()) lines.push(`| \`${row.key}\` | ${cell(row.type)} | ${cell(row.byDefault)} | ${cell(row.meaning)} |`)
  return `${MARK_START}\n${lines.join('\n')}\n${MARK_END}`
}

/** `doc` with its generated region replaced by the current reference; throws when the markers are missing. */
export function withConfigReference (doc: string): string {
  const start = doc.indexOf('<!-- config-reference:')
  const end = doc.indexOf(MARK_END)
  if (start < 0 || end < start) throw new Error('the config reference markers are missing from the document')
  return doc.slice(0, start) + configReference() + doc.slice(end + MARK_END.length)
}
