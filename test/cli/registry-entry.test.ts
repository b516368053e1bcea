import t from 'tap'
import { buildEntry, chooseTarget, entryName } from '../../cli/registry/entry.js'
import { InputResolver, parsePairs, type Ask } from '../../cli/registry/inputs.js'
import type { ServerDetail } from '../../cli/registry/schema.js'

const provided = (pairs: { env?: string[], arg?: string[], header?: string[] } = {}) => ({
  env: parsePairs('--env', pairs.env),
  arg: parsePairs('--arg', pairs.arg),
  header: parsePairs('--header', pairs.header)
})

async function install (server: ServerDetail, pairs = {}, ask?: Ask) {
  const inputs = new InputResolver(provided(pairs), ask)
  const entry = await buildEntry(server, chooseTarget(server), inputs)
  return { entry, inputs }
}

t.test('config names come from the last part of the registry name', async (t) => {
  t.equal(entryName('io.github.acme/weather'), 'weather')
  t.equal(entryName('com.example/My.Server v2'), 'My-Server-v2')
  t.equal(entryName('com.example/...'), 'server')
})

t.test('npm: a private registry, a boolean flag, a repeated argument, an unpinned package', async (t) => {
  const server: ServerDetail = {
    name: 'io.github.acme/files',
    version: '1.0.0',
    packages: [{
      registryType: 'npm',
      registryBaseUrl: 'https://npm.internal.example.com',
      identifier: '@acme/files',
      transport: { type: 'stdio' },
      packageArguments: [
        { type: 'named', name: '--read-only', format: 'boolean', default: 'true' },
        { type: 'named', name: '--verbose', format: 'boolean' },
        { type: 'positional', valueHint: 'root', isRequired: true, isRepeated: true }
      ]
    }]
  }
  const { entry, inputs } = await install(server, { arg: ['root=/a', 'root=/b', 'verbose=false'] })
  t.same(entry, { command: 'npx', args: ['-y', '--registry=https://npm.internal.example.com', '@acme/files', '--read-only', '/a', '/b'] })
  t.same(inputs.missing, [])
  t.same(inputs.unused(), [])
})

t.test('oci: an image with a digest keeps it; a bare image gets the version as its tag', async (t) => {
  const oci = (identifier: string): ServerDetail => ({ name: 'a/b', version: '2.0.0', packages: [{ registryType: 'oci', identifier, version: '2.0.0', transport: { type: 'stdio' } }] })
  t.same((await install(oci('ghcr.io/acme/b@sha256:abc'))).entry.args, ['run', '-i', '--rm', 'ghcr.io/acme/b@sha256:abc'])
  t.same((await install(oci('ghcr.io/acme/b'))).entry.args, ['run', '-i', '--rm', 'ghcr.io/acme/b:2.0.0'])
  t.same((await install(oci('localhost:5000/b:1'))).entry.args, ['run', '-i', '--rm', 'localhost:5000/b:1'])
})

t.test('a variable used twice is asked once; a value given twice for a single input is refused', async (t) => {
  const server: ServerDetail = {
    name: 'a/remote',
    version: '1.0.0',
    remotes: [{
      type: 'streamable-http',
      url: 'https://{region}.example.com/mcp',
      headers: [{ name: 'X-Region', value: '{region}', variables: { region: { isRequired: true } } }]
    }]
  }
  const asked: string[] = []
  const { entry } = await install(server, {}, async (r) => { asked.push(r.key); return 'eu' })
  t.same(entry, { type: 'streamable-http', url: 'https://eu.example.com/mcp', headers: { 'X-Region': 'eu' } })
  t.same(asked, ['region'])
  await t.rejects(install(server, { arg: ['region=eu', 'region=us'] }), /was given 2 times but takes one value/)
})

t.test('a URL that is not http(s) after filling is refused', async (t) => {
  const server: ServerDetail = { name: 'a/b', version: '1', remotes: [{ type: 'sse', url: '{base}/sse' }] }
  await t.rejects(install(server, { arg: ['base=ftp://x'] }), /is not an http\(s\) URL/)
})

t.test('an entry with nothing to run says so', async (t) => {
  t.throws(() => chooseTarget({ name: 'a/b', version: '1', repository: { url: 'https://github.com/a/b' } }), /lists no packages and no remotes/)
})
