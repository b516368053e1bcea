import t from 'tap'
import { countToolTokens } from '../../plugins/tool-tokens.js'

const tool = { name: 'get_weather', description: 'The weather for a city', inputSchema: { type: 'object', properties: { city: { type: 'string' } } } }

t.test('tool definitions are counted with a real tokenizer, on what the model sees', async (t) => {
  t.equal(await countToolTokens([]), 0, 'no tools cost nothing')
  const one = await countToolTokens([tool])
  t.ok(one > 10 && one < 200, `one small tool is tens of tokens (${one})`)
  t.equal(await countToolTokens([tool, tool]), 2 * one, 'tools add up')
  t.ok(await countToolTokens([{ ...tool, description: tool.description.repeat(20) }]) > one, 'a longer description costs more')
  t.equal(await countToolTokens([{ ...tool, _meta: { big: 'x'.repeat(5000) }, execution: { taskSupport: 'optional' } }]), one, 'fields the model never sees are not counted')
  t.equal(await countToolTokens([{ ...tool, title: undefined }]), one, 'an undefined field is left out')
})
