#!/usr/bin/env node
// The `1mcp` command. In a checkout (the TypeScript sources beside it, and tsx, a dev dependency,
// installed) it runs the sources through tsx, so edits take effect with no build step; the installed
// package (dist/ only) runs the compiled CLI. ONEMCP_USE_DIST=1 picks dist/ in a checkout too.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const source = new URL('../cli/index.ts', import.meta.url)
const compiled = new URL('../dist/cli/index.js', import.meta.url)

async function sourceLoader () {
  if (process.env.ONEMCP_USE_DIST === '1' || !existsSync(fileURLToPath(source))) return undefined
  try {
    return (await import('tsx/esm/api')).register
  } catch (err) {
    if (existsSync(fileURLToPath(compiled))) return undefined
    process.stderr.write(`1mcp: cannot run the TypeScript sources (${err.message}) and there is no build in dist/\n  → run \`npm install\` (tsx is a dev dependency) or \`npm run build\`\n`)
    process.exit(1)
  }
}

const register = await sourceLoader()
let cli
if (register) {
  register()
  cli = await import(source.href)
} else {
  cli = await import(compiled.href)
}
await cli.main(process.argv.slice(2))
