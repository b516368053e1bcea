#!/usr/bin/env node
// The `1mcp` command. In a checkout (the TypeScript sources beside it) it runs them through tsx, so
// edits take effect with no build step; an installed package (only dist/) runs the compiled CLI.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const source = new URL('../cli/index.ts', import.meta.url)
let cli
if (existsSync(fileURLToPath(source)) && process.env.ONEMCP_USE_DIST !== '1') {
  const { register } = await import('tsx/esm/api')
  register()
  cli = await import(source.href)
} else {
  cli = await import(new URL('../dist/cli/index.js', import.meta.url).href)
}
await cli.main(process.argv.slice(2))
