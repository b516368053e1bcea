import t from 'tap'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ESLint } from 'eslint'

// The architecture rules live in eslint.config.js. Here they run on a scratch copy of the project's
// shape (its own eslint config, tsconfig and node_modules) where each file breaks one rule on purpose:
// a rule that stopped firing would let this test fail.
const ROOT = fileURLToPath(new URL('../..', import.meta.url))

const clean = {
  'schemas/a.ts': "import { Type } from '@sinclair/typebox'\nimport { B } from './b.js'\n\nexport const A = Type.Array(B)\n",
  'schemas/b.ts': "import { Type } from '@sinclair/typebox'\n\nexport const B = Type.String()\n",
  'backends/pool.ts': "import type { Logger } from 'pino'\nimport { A } from '../schemas/a.js'\n\nexport const pool = (log: Logger) => log.info({ A }, 'pool')\n",
  'mcp/scope.ts': "import { pool } from '../backends/pool.js'\nimport { A } from '../schemas/a.js'\n\nexport const scope = { pool, A }\n",
  'auth/scopes.ts': "import { B } from '../schemas/b.js'\n\nexport const scope = B\n",
  'plugins/backends.ts': "import fp from 'fastify-plugin'\nimport { pool } from '../backends/pool.js'\n\nexport default fp(async (app) => { pool(app.log) }, { name: 'backends' })\n",
  'routes/health.ts': "import type { FastifyPluginAsync } from 'fastify'\nimport backends from '../plugins/backends.js'\n\nconst routes: FastifyPluginAsync = async (app) => { await app.register(backends) }\n\nexport default routes\n",
  'api.ts': "export { A } from './schemas/a.js'\n",
  'cli/list.ts': "import { parseArgs } from 'node:util'\nimport { A } from '../api.js'\nimport { run } from './run.js'\n\nexport const list = (argv: string[]) => run(parseArgs({ args: argv }), A)\n",
  'cli/run.ts': 'export const run = (...values: unknown[]) => values.length\n'
}

const violations: Array<{ file: string, source: string, rule: string, why: string }> = [
  { file: 'backends/uses-fastify.ts', rule: 'no-restricted-imports', why: 'backends/ imports fastify', source: "import type { FastifyInstance } from 'fastify'\n\nexport type App = FastifyInstance\n" },
  { file: 'backends/uses-plugin.ts', rule: 'no-restricted-imports', why: 'backends/ imports a @fastify/ package', source: "import rateLimit from '@fastify/rate-limit'\n\nexport const limit = rateLimit\n" },
  { file: 'backends/uses-plugins.ts', rule: 'import-x/no-restricted-paths', why: 'backends/ imports plugins/', source: "import backends from '../plugins/backends.js'\n\nexport const plugin = backends\n" },
  { file: 'backends/uses-routes.ts', rule: 'import-x/no-restricted-paths', why: 'backends/ imports routes/ dynamically', source: "export const load = () => import('../routes/health.js')\n" },
  { file: 'backends/uses-mcp.ts', rule: 'import-x/no-restricted-paths', why: 'backends/ imports the MCP core above it', source: "export { scope } from '../mcp/scope.js'\n" },
  { file: 'mcp/uses-fastify.ts', rule: 'no-restricted-imports', why: 'mcp/ imports fastify', source: "import type { FastifyRequest } from 'fastify'\n\nexport type Request = FastifyRequest\n" },
  { file: 'mcp/uses-plugins.ts', rule: 'import-x/no-restricted-paths', why: 'mcp/ imports plugins/', source: "import backends from '../plugins/backends.js'\n\nexport const plugin = backends\n" },
  { file: 'mcp/uses-routes.ts', rule: 'import-x/no-restricted-paths', why: 'mcp/ imports routes/ dynamically', source: "export const load = () => import('../routes/health.js')\n" },
  { file: 'auth/uses-fastify.ts', rule: 'no-restricted-imports', why: 'auth/ imports fastify', source: "import type { FastifyRequest } from 'fastify'\n\nexport type Request = FastifyRequest\n" },
  { file: 'auth/uses-plugins.ts', rule: 'import-x/no-restricted-paths', why: 'auth/ imports plugins/', source: "import backends from '../plugins/backends.js'\n\nexport const plugin = backends\n" },
  { file: 'auth/uses-routes.ts', rule: 'import-x/no-restricted-paths', why: 'auth/ imports routes/', source: "export { default } from '../routes/health.js'\n" },
  { file: 'schemas/uses-backends.ts', rule: 'import-x/no-restricted-paths', why: 'schemas/ imports our code', source: "export { pool } from '../backends/pool.js'\n" },
  { file: 'cli/uses-plugins.ts', rule: 'import-x/no-restricted-paths', why: 'cli/ imports plugins/ instead of api.ts', source: "import backends from '../plugins/backends.js'\n\nexport const plugin = backends\n" },
  { file: 'cli/uses-schemas.ts', rule: 'import-x/no-restricted-paths', why: 'cli/ imports schemas/ dynamically instead of api.ts', source: "export const load = () => import('../schemas/a.js')\n" },
  { file: 'plugins/uses-routes.ts', rule: 'import-x/no-restricted-paths', why: 'plugins/ imports routes/', source: "import routes from '../routes/health.js'\n\nexport const r = routes\n" },
  { file: 'backends/cycle-a.ts', rule: 'import-x/no-cycle', why: 'an import cycle', source: "import { b } from './cycle-b.js'\n\nexport const a = () => b\n" },
  { file: 'backends/cycle-b.ts', rule: 'import-x/no-cycle', why: 'an import cycle (the other end)', source: "import { a } from './cycle-a.js'\n\nexport const b = () => a\n" },
  { file: 'backends/too-complex.ts', rule: 'complexity', why: 'a function over complexity 10', source: `export function f (n: number): number {\n${Array.from({ length: 11 }, (_, i) => `  if (n === ${i}) return ${i}\n`).join('')}  return -1\n}\n` },
  { file: 'routes/unused.ts', rule: '@typescript-eslint/no-unused-vars', why: 'unused code', source: 'const unused = 1\n\nexport const used = 2\n' }
]

function scratchProject (): string {
  const dir = mkdtempSync(join(tmpdir(), '1mcp-architecture-'))
  for (const file of ['eslint.config.js', 'tsconfig.json', 'package.json', '.gitignore']) copyFileSync(join(ROOT, file), join(dir, file))
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir')
  const files: Record<string, string> = { ...clean }
  for (const v of violations) files[v.file] = v.source
  for (const [file, source] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true })
    writeFileSync(join(dir, file), source)
  }
  return dir
}

t.test('the architecture rules pass clean code and fail each deliberate violation', async (t) => {
  const dir = scratchProject()
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const eslint = new ESLint({ cwd: dir })
  const results = await eslint.lintFiles(['.'])
  const problems = new Map(results.map((r) => [r.filePath.slice(dir.length + 1), r.messages]))

  for (const file of Object.keys(clean)) {
    t.same(problems.get(file)?.map((m) => `${m.ruleId}: ${m.message}`), [], `${file} follows the rules`)
  }
  for (const v of violations) {
    const rules = (problems.get(v.file) ?? []).map((m) => m.ruleId)
    t.ok(rules.includes(v.rule), `${v.why} fails ${v.rule} (${v.file} got: ${rules.join(', ') || 'nothing'})`)
  }
  t.equal(ESLint.getErrorResults(results).length, violations.length, 'only the violating files fail')
})
