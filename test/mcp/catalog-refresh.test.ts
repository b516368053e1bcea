import t from 'tap'
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { connect, echoFixture, settle, startGateway, waitFor } from '../helpers.js'

const EVERYTHING = fileURLToPath(new URL('../../node_modules/@modelcontextprotocol/server-everything/dist/index.js', import.meta.url))
const everything = { command: process.execPath, args: [EVERYTHING, 'stdio'], tags: ['demo'] }
const quick = { reloadDebounceMs: 50, loadShedding: false }

function save (path: string, doc: unknown): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(doc))
  renameSync(`${path}.tmp`, path)
}

t.test('server-everything: prompts and resources are listed at every start, and survive an unrelated reload', async (t) => {
  for (let start = 0; start < 3; start++) {
    await t.test(`start ${start + 1}`, async (t) => {
      const path = join(mkdtempSync(join(tmpdir(), '1mcp-catalog-')), 'config.json')
      const doc = { ...quick, mcpServers: { everything, other: echoFixture('other', {}, { tags: ['a'] }) } }
      writeFileSync(path, JSON.stringify(doc))
      const gw = await startGateway(t, { configPath: path })
      const single = await connect(t, new URL(`${gw.base}/mcp/everything`))
      const prompts = (await single.listPrompts()).prompts.length
      const resources = (await single.listResources()).resources.length
      t.ok(prompts > 0, `prompts listed (${prompts})`)
      t.ok(resources > 0, `resources listed (${resources})`)
      const got = await single.getPrompt({ name: 'simple-prompt' })
      t.ok(got.messages.length > 0, 'prompts/get simple-prompt works')
      const all = await connect(t, gw.url)
      const before = { prompts: (await all.listPrompts()).prompts.length, resources: (await all.listResources()).resources.length }
      save(path, { ...doc, mcpServers: { ...doc.mcpServers, other: echoFixture('other', {}, { tags: ['b'] }) } })
      await waitFor(() => gw.app.backends.get('other')?.config.tags?.[0] === 'b', 'the reload')
      await settle(gw.app)
      const after = { prompts: (await all.listPrompts()).prompts.length, resources: (await all.listResources()).resources.length }
      t.same(after, before, 'an unrelated tags edit leaves the counts unchanged')
    })
  }
})
