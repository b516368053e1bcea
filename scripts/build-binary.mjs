#!/usr/bin/env node
// `npm run build:binary`: bundles the CLI and the service into one CommonJS file with esbuild, then
// makes a Node single executable application of it (dist/1mcp) that needs no node_modules.
// Steps: https://nodejs.org/api/single-executable-applications.html
import { execFileSync } from 'node:child_process'
import { copyFileSync, chmodSync, writeFileSync, statSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { build } from 'esbuild'

const root = fileURLToPath(new URL('..', import.meta.url))
const dist = join(root, 'dist')
const bundle = join(dist, '1mcp.cjs')
const blob = join(dist, '1mcp.blob')
const binary = join(dist, '1mcp')
mkdirSync(dist, { recursive: true })

await build({
  entryPoints: [join(root, 'cli/index.ts')],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: false,
  sourcemap: false,
  legalComments: 'none',
  // No code in the bundle may think it is the entry file (server.ts and cli/index.ts check that).
  define: { 'import.meta.url': JSON.stringify('file:///1mcp-single-executable.cjs') },
  footer: { js: 'module.exports.main(process.argv.slice(2));' },
  logLevel: 'warning'
})

writeFileSync(join(dist, 'sea-config.json'), JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: false }))
execFileSync(process.execPath, ['--experimental-sea-config', join(dist, 'sea-config.json')], { stdio: 'inherit' })
copyFileSync(process.execPath, binary)
chmodSync(binary, 0o755)
execFileSync(process.execPath, [join(root, 'node_modules/postject/dist/cli.js'), binary, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'], { stdio: 'inherit' })
const mb = (path) => (statSync(path).size / 1024 / 1024).toFixed(1)
process.stdout.write(`built ${binary}: ${mb(binary)} MB (bundle ${mb(bundle)} MB)\n`)
