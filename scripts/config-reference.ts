// Rewrites the generated config reference in docs/configuration.md from the schemas (npm run docs:config).
import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { withConfigReference } from '../schemas/reference.js'

const doc = fileURLToPath(new URL('../docs/configuration.md', import.meta.url))
await writeFile(doc, withConfigReference(await readFile(doc, 'utf8')))
process.stdout.write(`rewrote the config reference in ${doc}\n`)
