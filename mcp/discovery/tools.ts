import type { Item } from '../capability-names.js'

export const SEARCH_TOOLS = 'search_tools'
export const DESCRIBE_TOOLS = 'describe_tools'
export const CALL_TOOL = 'call_tool'

/** the most results one search returns */
export const SEARCH_LIMIT = 20
/** the most tools one describe_tools call describes */
export const DESCRIBE_LIMIT = 20

/** What a discovery session's `tools/list` answers: three tools, whatever the catalog holds. */
export const DISCOVERY_TOOLS: Item[] = [
  {
    name: SEARCH_TOOLS,
    title: 'Search tools',
    description: 'Find tools for a task among all the servers\' tools. Returns the best matches: name, one-line description, server. Then describe_tools for their parameters and call_tool to run one.',
    inputSchema: {
      type: 'object',
      properties: {
        query: { type: 'string', description: 'what the tool should do, in a few words' },
        limit: { type: 'integer', minimum: 1, maximum: SEARCH_LIMIT, default: 5, description: 'how many tools to return' }
      },
      required: ['query']
    },
    annotations: { readOnlyHint: true, openWorldHint: false }
  },
  {
    name: DESCRIBE_TOOLS,
    title: 'Describe tools',
    description: 'The full definitions (input schemas) of tools found by search_tools.',
    inputSchema: {
      type: 'object',
      properties: { names: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: DESCRIBE_LIMIT, description: 'tool names as search_tools gave them' } },
      required: ['names']
    },
    annotations: { readOnlyHint: true, openWorldHint: false }
  },
  {
    name: CALL_TOOL,
    title: 'Call a tool',
    description: 'Run a tool found by search_tools with its arguments (as describe_tools describes them). Returns that tool\'s result.',
    inputSchema: {
      type: 'object',
      properties: {
        name: { type: 'string', description: 'the tool\'s name as search_tools gave it' },
        arguments: { type: 'object', description: 'the tool\'s arguments', additionalProperties: true }
      },
      required: ['name']
    }
  }
]
