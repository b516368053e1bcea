#!/usr/bin/env node
// The `1mcp` command. Runs the compiled CLI (dist/, from `npm run build`) when it exists,
// otherwise the TypeScript sources through tsx, so a fresh checkout works without a build step.
import { existsSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'

const built = fileURLToPath(new URL('../dist/cli/index.js', import.meta.url))
let cli
if (existsSync(built) && process.env.ONEMCP_FROM_SOURCE !== '1') {
  cli = await import(pathToFileURL(built).href)
} else {
  const { register } = await import('tsx/esm/api')
  register()
  cli = await import(new URL('../cli/index.ts', import.meta.url).href)
}
await cli.main(process.argv.slice(2))
