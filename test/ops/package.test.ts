import t from 'tap'
import { execFile } from 'node:child_process'
import { cp, readFile, symlink, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { tempDir } from '../helpers.js'

// The package as npm publishes it: packed from a copy of this checkout (so the build that `prepack`
// runs writes no dist/ into the checkout other tests run from), installed into an empty project.
// Slow on purpose (a build and an install): it is the only test in this file.

const exec = promisify(execFile)
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const NOT_COPIED = new Set(['node_modules', 'dist', '.git', '.tap', 'coverage', '.data'])

async function npm (args: string[], cwd: string): Promise<{ stdout: string, stderr: string }> {
  // npm_config_* from an `npm test` parent would steer the child npm (its cwd, its scripts): drop them.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')))
  return exec(NPM, args, { cwd, env, timeout: 240_000, maxBuffer: 16 * 1024 * 1024 })
}

t.setTimeout(360_000)

t.test('npm pack ships the built library and the CLI, not the tests; the tarball installs and imports', async (t) => {
  const source = await tempDir(t, '1mcp-pack-src-')
  await cp(ROOT, source, { recursive: true, filter: (path) => !NOT_COPIED.has(basename(path)) })
  await symlink(join(ROOT, 'node_modules'), join(source, 'node_modules'), 'junction')
  const out = await tempDir(t, '1mcp-pack-out-')

  const packed = JSON.parse((await npm(['pack', '--json', '--pack-destination', out], source)).stdout.replace(/^[^[]*/s, '')) as Array<{ filename: string, files: Array<{ path: string }> }>
  const files = packed[0].files.map((f) => f.path)
  for (const needed of ['dist/app.js', 'dist/app.d.ts', 'dist/cli/index.js', 'bin/1mcp.mjs', 'LICENSE', 'README.md', 'package.json']) {
    t.ok(files.includes(needed), `the tarball has ${needed}`)
  }
  t.same(files.filter((f) => /^(test|bench|scripts)\//.test(f)), [], 'no tests, benchmarks or scripts')
  t.same(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')), [], 'no TypeScript sources')
  t.match(await readFile(join(source, 'LICENSE'), 'utf8'), /^MIT License\n\nCopyright \(c\) \d{4} 1MCP Gateway contributors\n/)

  const project = await tempDir(t, '1mcp-pack-use-')
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'uses-1mcp', private: true, type: 'module' }))
  const install = await npm(['install', join(out, packed[0].filename), '--prefer-offline', '--no-audit', '--no-fund'], project)
  t.notMatch(install.stdout + install.stderr, /EBADENGINE/, `no dependency needs a newer Node than ${process.version}`)

  const script = `
    import Fastify from 'fastify'
    import { gateway, buildApp } from '1mcp-gateway'
    const app = Fastify()
    await app.register(gateway, { config: { mcpServers: {} }, noAuth: true })
    const health = await app.inject('/health')
    const built = await buildApp({ config: { mcpServers: {} }, noAuth: true, logger: false })
    const tools = await built.inject({ method: 'POST', url: '/mcp', headers: { accept: 'application/json, text/event-stream', 'content-type': 'application/json' }, payload: { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'pack', version: '1' } } } })
    process.stdout.write(JSON.stringify({ health: health.json().status, decorated: typeof app.capabilities.list, initialize: tools.statusCode }))
    await app.close()
    await built.close()`
  const used = await exec(process.execPath, ['--input-type=module', '-e', script], { cwd: project, timeout: 60_000 })
  t.same(JSON.parse(used.stdout), { health: 'degraded', decorated: 'function', initialize: 200 }, 'the plugin and buildApp work from the installed package')

  const version = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')).version as string
  const bin = await exec(join(project, 'node_modules', '.bin', process.platform === 'win32' ? '1mcp.cmd' : '1mcp'), ['--version'], { cwd: project, timeout: 60_000 })
  t.equal(bin.stdout, `${version}\n`, 'the installed 1mcp command runs (from dist/)')
})
