import t from 'tap'
import { countToolTokens } from '../../plugins/tool-tokens.js'

const tool = { name: 'get_weather', description: 'The weather for a city', inputSchema: { type: 'object', properties: { city: { type: 'string' } } } }

// first in the file: the RSS before any count is the baseline
t.test("the tokenizer's tables (about 70 MB) are never loaded into the gateway's process", async (t) => {
  const before = process.memoryUsage().rss
  const many = Array.from({ length: 200 }, (_v, i) => ({ ...tool, name: `tool_${i}` }))
  t.ok(await countToolTokens(many) > 200 * 10, 'counted')
  const grown = (process.memoryUsage().rss - before) / 1e6
  t.ok(grown < 30, `RSS grew by ${grown.toFixed(1)} MB (the tokenizer loaded here adds 70 MB or more)`)
})

t.test('tool definitions are counted with a real tokenizer, on what the model sees', async (t) => {
  t.equal(await countToolTokens([]), 0, 'no tools cost nothing')
  const one = await countToolTokens([tool])
  t.ok(one > 10 && one < 200, `one small tool is tens of tokens (${one})`)
  t.equal(await countToolTokens([tool, tool]), 2 * one, 'tools add up')
  t.ok(await countToolTokens([{ ...tool, description: tool.description.repeat(20) }]) > one, 'a longer description costs more')
  t.equal(await countToolTokens([{ ...tool, _meta: { big: 'x'.repeat(5000) }, execution: { taskSupport: 'optional' } }]), one, 'fields the model never sees are not counted')
  t.equal(await countToolTokens([{ ...tool, title: undefined }]), one, 'an undefined field is left out')
})
