/** How the gateway names what its backends offer: the kinds of list, their methods and notifications, the exposed names. */
import { createHash } from 'node:crypto'
import { ownEntry } from '../schemas/config.js'

export const SEPARATOR = '_1mcp_'
const LLM_NAME = /^[a-zA-Z0-9_-]{1,64}$/

export type Kind = 'tools' | 'prompts' | 'resources' | 'resourceTemplates'
export const KINDS: Kind[] = ['tools', 'prompts', 'resources', 'resourceTemplates']

export const LIST_METHOD: Record<Kind, string> = {
  tools: 'tools/list',
  prompts: 'prompts/list',
  resources: 'resources/list',
  resourceTemplates: 'resources/templates/list'
}
export const CAPABILITY: Record<Kind, 'tools' | 'prompts' | 'resources'> = {
  tools: 'tools', prompts: 'prompts', resources: 'resources', resourceTemplates: 'resources'
}
export const LIST_CHANGED_NOTIFICATION: Record<Kind, string> = {
  tools: 'notifications/tools/list_changed',
  prompts: 'notifications/prompts/list_changed',
  resources: 'notifications/resources/list_changed',
  resourceTemplates: 'notifications/resources/list_changed'
}
export const KIND_OF_NOTIFICATION: Record<string, Kind[]> = {
  'notifications/tools/list_changed': ['tools'],
  'notifications/prompts/list_changed': ['prompts'],
  'notifications/resources/list_changed': ['resources', 'resourceTemplates']
}

export type Item = Record<string, unknown>

/** One exposed item and where it really lives. */
export interface Entry {
  backend: string
  /** the backend's own name (or URI) */
  original: string
  /** what clients see */
  item: Item
}

export interface Collision { kind: Kind, name: string, backends: string[] }

export interface Catalog {
  tools: Item[]
  prompts: Item[]
  resources: Item[]
  resourceTemplates: Item[]
  /** the backend's tools and prompts by their own names */
  own: Record<'tools' | 'prompts', Map<string, Item>>
}

export function emptyCatalog (): Catalog {
  return { tools: [], prompts: [], resources: [], resourceTemplates: [], own: { tools: new Map(), prompts: new Map() } }
}

/** The exposed name for a backend's tool or prompt: valid for LLM APIs, deterministic, never ambiguous. */
export function exposedName (backend: string, name: string): string {
  const plain = `${backend}${SEPARATOR}${name}`
  if (LLM_NAME.test(plain)) return plain
  return hashedName(backend, name)
}

/** The hashed form of a name: what a backend gets when the plain one is invalid or already taken. */
export function hashedName (backend: string, name: string): string {
  const hash = createHash('sha256').update(`${backend}\0${name}`).digest('hex').slice(0, 8)
  return `${backend}${SEPARATOR}${name}`.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 64 - 9) + '_' + hash
}

/** A tool's description as the config overrides it (`toolDescriptions`), or nothing to change. */
export function describe (descriptions: Record<string, string> | undefined, tool: string): { description?: string } {
  const description = ownEntry(descriptions, tool)
  return description === undefined ? {} : { description }
}
