import t from 'tap'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { connect, echoFixture, initializeRequest, postMcp, startGateway, tempDir, waitFor } from '../helpers.js'

t.test('tag filters and presets narrow what a session sees and may call', async (t) => {
  const gw = await startGateway(t, {
    config: {
      mcpServers: {
        web: echoFixture('web', {}, { tags: ['web', 'prod'] }),
        db: echoFixture('db', {}, { tags: ['db', 'prod'] }),
        lab: echoFixture('lab', {}, { tags: ['web', 'beta'], disabledTools: ['crash', 'hang'], toolDescriptions: { echo: 'Repeats what you say (lab build)' } })
      },
      presets: { stable: { filter: 'prod and not beta' }, broken: { filter: 'web and (db' } },
      loadShedding: false
    }
  })

  const backendsOf = async (query: string) => {
    const client = await connect(t, `${gw.base}/mcp${query}`)
    const { tools } = await client.listTools()
    const { resources } = await client.listResources()
    const { prompts } = await client.listPrompts()
    const names = new Set([...tools, ...prompts].map((i) => i.name.split('_1mcp_')[0]))
    // every server lists fixture://hello: each is exposed as onemcp://<server>/fixture://hello
    for (const r of resources) names.add(new URL(r.uri).host)
    return { client, backends: [...names].sort() }
  }

  t.test('?tags=a,b admits servers carrying any of them', async (t) => {
    t.same((await backendsOf('?tags=db,beta')).backends, ['db', 'lab'])
    t.same((await backendsOf('?tags=web')).backends, ['lab', 'web'])
  })

  t.test('?tag-filter= takes a boolean expression', async (t) => {
    t.same((await backendsOf('?tag-filter=' + encodeURIComponent('web and not beta'))).backends, ['web'])
    t.same((await backendsOf('?tag-filter=' + encodeURIComponent('(db or beta) && !prod'))).backends, ['lab'])
  })

  t.test('?preset= uses a named filter from the config', async (t) => {
    const { client, backends } = await backendsOf('?preset=stable')
    t.same(backends, ['db', 'web'])
    const err = await client.callTool({ name: 'lab_1mcp_echo', arguments: { text: 'x' } }).catch((e) => e)
    t.match(err.message, /unknown tool: lab_1mcp_echo/, 'a server outside the filter cannot be called')
    const read = await client.readResource({ uri: 'onemcp://lab/fixture://hello' }).catch((e) => e)
    t.ok(read instanceof Error, 'nor its resources read')
    const ok = await client.callTool({ name: 'db_1mcp_echo', arguments: { text: 'x' } })
    t.same(ok.content, [{ type: 'text', text: 'db: x' }])
  })

  t.test('filters combine: every one must match', async (t) => {
    t.same((await backendsOf('?tags=web&tag-filter=prod')).backends, ['web'])
  })

  t.test('disabled tools are hidden and description overrides shown', async (t) => {
    const client = await connect(t, `${gw.base}/mcp?tags=beta`)
    const { tools } = await client.listTools()
    const names = tools.map((tool) => tool.name)
    t.notOk(names.includes('lab_1mcp_crash'))
    t.notOk(names.includes('lab_1mcp_hang'))
    t.equal(tools.find((tool) => tool.name === 'lab_1mcp_echo')?.description, 'Repeats what you say (lab build)')
    t.equal(tools.find((tool) => tool.name === 'lab_1mcp_add')?.description, 'Adds two numbers', 'others keep their own')
    const single = await connect(t, `${gw.base}/mcp/lab`)
    const own = (await single.listTools()).tools
    t.equal(own.find((tool) => tool.name === 'echo')?.description, 'Repeats what you say (lab build)')
    t.notOk(own.some((tool) => tool.name === 'crash'))
  })

  const post = (query: string) => postMcp(`${gw.base}/mcp${query}`, { body: initializeRequest('2025-06-18') })

  t.test('a bad filter is a 400 naming the position', async (t) => {
    const res = await post('?tag-filter=' + encodeURIComponent('web and (db or'))
    t.equal(res.status, 400)
    t.match((await res.json()).message, /invalid tag filter: .* at position 15/)
    const broken = await post('?preset=broken')
    t.equal(broken.status, 400)
    t.match((await broken.json()).message, /preset 'broken': invalid tag filter: '\(' is never closed at position 9/)
  })

  t.test('the legacy /sse endpoint takes the same filters', async (t) => {
    const res = await fetch(`${gw.base}/sse?tag-filter=` + encodeURIComponent('web or'), { headers: { accept: 'text/event-stream' } })
    t.equal(res.status, 400)
    t.match((await res.json()).message, /found the end of the filter at position 7/)
    const controller = new AbortController()
    const ok = await fetch(`${gw.base}/sse?preset=stable`, { headers: { accept: 'text/event-stream' }, signal: controller.signal })
    t.equal(ok.status, 200)
    controller.abort()
  })

  t.test('an unknown preset is a 400 listing the known ones', async (t) => {
    const res = await post('?preset=nope')
    t.equal(res.status, 400)
    t.match((await res.json()).message, /no preset named 'nope' \(known: stable, broken\)/)
  })

  t.test('/health shows the token cost of each server\'s tools', async (t) => {
    type Report = { backends: Array<{ name: string, toolTokens: number }> }
    const report = (await waitFor(async () => {
      const body = await (await fetch(`${gw.base}/health`)).json() as Report
      return body.backends.every((b) => b.toolTokens > 0) ? body : undefined
    }, 'tool tokens in /health')) as Report
    const tokens = Object.fromEntries(report.backends.map((b) => [b.name, b.toolTokens]))
    t.equal(tokens.web, tokens.db, 'same tools, same names length, same cost')
    t.ok(tokens.lab < tokens.web, 'two tools fewer cost less')
  })
})

t.test('a preset added to the config file applies to new sessions', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'config.json')
  const config = { mcpServers: { web: echoFixture('web', {}, { tags: ['web'] }), db: echoFixture('db', {}, { tags: ['db'] }) }, reloadDebounceMs: 0 }
  await writeFile(path, JSON.stringify(config))
  const gw = await startGateway(t, { configPath: path })
  await writeFile(path, JSON.stringify({ ...config, presets: { data: { filter: 'db' } } }))
  await waitFor(() => gw.app.gatewayConfig.current.presets?.data, 'the reload')
  const client = await connect(t, `${gw.base}/mcp?preset=data`)
  const names = (await client.listTools()).tools.map((tool) => tool.name)
  t.ok(names.length > 0)
  t.ok(names.every((n) => n.startsWith('db_1mcp_')))
})
