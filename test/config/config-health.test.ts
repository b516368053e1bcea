import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { buildApp } from '../../app.js'
import { validateConfig } from '../../plugins/config-load.js'

import { echoFixture, startGateway, tempDir } from '../helpers.js'

// What a bad config does to the rest of the gateway (plugins/config-load.ts, config-store.ts, health.ts, metrics.ts, auth.ts):
// readiness and the config gauge follow a rejected reload, errors stay short, impossible auth settings
// stop the boot.

t.test('a rejected reload: not ready, degraded, the gauge at 0; a good one puts it back', async (t) => {
  const dir = await tempDir(t, '1mcp-config-health-')
  const configPath = join(dir, 'gateway.json')
  const good = JSON.stringify({ mcpServers: { a: echoFixture('a') }, loadShedding: false })
  await writeFile(configPath, good)
  const gw = await startGateway(t, { configPath, watch: false })
  const gauge = async () => /^onemcp_config_valid (\d)$/m.exec(await (await fetch(`${gw.base}/metrics`)).text())?.[1]
  t.equal((await fetch(`${gw.base}/health/ready`)).status, 200)
  t.equal(await gauge(), '1')

  await writeFile(configPath, '{ "mcpServers": ')
  t.equal(await gw.app.gatewayConfig.reload(), false)
  const ready = await fetch(`${gw.base}/health/ready`)
  t.equal(ready.status, 200, 'readiness is about serving: the last good config still serves')
  t.same(await ready.json(), { ready: true })
  const health = await (await fetch(`${gw.base}/health`)).json()
  t.match(health, { status: 'degraded', config: { valid: false, error: /invalid JSON at line 1, column 17/ } }, 'the config error is in /health, with where it is')
  t.match(health.problems, [/the config file is invalid/])
  t.equal(await gauge(), '0')

  await writeFile(configPath, good)
  t.equal(await gw.app.gatewayConfig.reload(), true)
  t.equal((await fetch(`${gw.base}/health/ready`)).status, 200)
  t.equal(await gauge(), '1')
})

t.test('config errors: at most five problems, the root named', async (t) => {
  const keys = Object.fromEntries(['one', 'two', 'three', 'four', 'five', 'six', 'seven'].map((k) => [k, true]))
  const err = t.throws(() => validateConfig({ mcpServers: {}, ...keys })) as Error
  t.equal((err.message.match(/unknown key/g) ?? []).length, 5, 'five problems, not seven')
  t.throws(() => validateConfig(42), /^invalid config: \(the document\): /)
})

t.test('an external issuer and an upstream login together stop the boot', async (t) => {
  const dataDir = await tempDir(t)
  await t.rejects(buildApp({
    logger: false,
    config: {
      mcpServers: {},
      auth: { dataDir, external: { issuer: 'https://issuer.example' }, upstream: { issuer: 'https://idp.example', clientId: 'a', clientSecret: 'b', allowedUsers: ['*'] } }
    }
  }), /auth\.external and auth\.upstream cannot both be set/)
})
