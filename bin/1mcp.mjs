#!/usr/bin/env node
// The `1mcp` command. The installed package (dist/ only) runs the compiled CLI. In a checkout (the
// TypeScript sources beside it, and tsx, a dev dependency, installed) it runs the sources through tsx,
// so edits take effect with no build step (`npm run dev`, `npm run cli`, the tests). A first argument
// `--dist` (what `npm start` passes; ONEMCP_USE_DIST=1 does the same) runs the compiled CLI in a
// checkout too: `npm install` builds it (the `prepare` script), `npm run build` rebuilds it.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const source = new URL('../cli/index.ts', import.meta.url)
const compiled = new URL('../dist/cli/index.js', import.meta.url)
const args = process.argv.slice(2)
const wantsDist = args[0] === '--dist' || process.env.ONEMCP_USE_DIST === '1'
if (args[0] === '--dist') args.shift()

function fail (message) {
  process.stderr.write(`1mcp: ${message}\n`)
  process.exit(1)
}

async function sourceLoader () {
  if (wantsDist || !existsSync(fileURLToPath(source))) return undefined
  try {
    return (await import('tsx/esm/api')).register
  } catch (err) {
    if (existsSync(fileURLToPath(compiled))) return undefined
    fail(`cannot run the TypeScript sources (${err.message}) and there is no build in dist/\n  → run \`npm install\` (tsx is a dev dependency) or \`npm run build\``)
  }
}

const register = await sourceLoader()
let cli
if (register) {
  register()
  cli = await import(source.href)
} else {
  if (!existsSync(fileURLToPath(compiled))) fail('there is no build in dist/ to run\n  → run `npm run build` (`npm install` runs it through `prepare`), or `npm run dev` to run the sources')
  cli = await import(compiled.href)
}
await cli.main(args)
