/**
 * What a server's tool definitions cost in an LLM's context: the tokens of each tool as a client
 * hands it to the model (name, title, description, input and output schemas, annotations), counted
 * with the o200k_base tokenizer (GPT-4o and later). Other models tokenize differently; this is a
 * faithful count for one real tokenizer, good for comparing servers, not an exact bill for every model.
 */
type CountTokens = (text: string) => number
let tokenizer: Promise<CountTokens> | undefined

/** Loads the tokenizer once, on first use: its tables are large and most runs never need them. */
function loadTokenizer (): Promise<CountTokens> {
  tokenizer ??= import('gpt-tokenizer/encoding/o200k_base').then((m) => m.countTokens as CountTokens)
  return tokenizer
}

type Tool = Record<string, unknown>

/** The part of a tool the model sees. */
function modelView (tool: Tool): Tool {
  const { name, title, description, inputSchema, outputSchema, annotations } = tool
  return Object.fromEntries(Object.entries({ name, title, description, inputSchema, outputSchema, annotations }).filter(([, v]) => v !== undefined))
}

/** Tokens of a list of tool definitions. */
export async function countToolTokens (tools: Tool[]): Promise<number> {
  if (tools.length === 0) return 0
  const count = await loadTokenizer()
  let total = 0
  for (const tool of tools) total += count(JSON.stringify(modelView(tool)))
  return total
}
