// Lint and architecture rules. `npm run lint` runs this; `npm test` fails when it does.
import neostandard, { resolveIgnoresFromGitignore } from 'neostandard'
import importX from 'eslint-plugin-import-x'
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

// Paths below are relative to this file, not to wherever eslint was started from.
const ROOT = dirname(fileURLToPath(import.meta.url))

// Packages that make a module part of the HTTP layer.
const FASTIFY = ['fastify', 'fastify-*', '@fastify/*']

// One block per folder: which of our folders and which packages it may not import.
// `import-x/no-restricted-paths` compares resolved files, however the path is spelled, and sees
// `import()` and `export … from` too. test/ops/architecture.test.ts proves each rule fails on a violation.
const zone = (target, from, message) => ({ target, from, message })
const boundaries = [
  {
    files: ['backends/**/*.ts'],
    rules: {
      'import-x/no-restricted-paths': ['error', {
        basePath: ROOT,
        zones: [zone('./backends', ['./mcp', './plugins', './routes', './app.ts', './server.ts'],
          'backends/ is plain TypeScript: it must not reach into mcp/, plugins/, routes/ or the app.')]
      }],
      'no-restricted-imports': ['error', {
        patterns: [{ group: FASTIFY, message: 'backends/ knows nothing of Fastify: take a pino logger and plain interfaces.' }]
      }]
    }
  },
  {
    // the MCP core: plain TypeScript between backends/ and plugins/
    files: ['mcp/**/*.ts'],
    rules: {
      'import-x/no-restricted-paths': ['error', {
        basePath: ROOT,
        zones: [zone('./mcp', ['./plugins', './routes', './cli', './auth', './app.ts', './server.ts'],
          'mcp/ is the MCP core: it may use backends/ and schemas/, never plugins/, routes/, auth/, the CLI or the app.')]
      }],
      'no-restricted-imports': ['error', {
        patterns: [{ group: FASTIFY, message: 'mcp/ knows nothing of Fastify: routes speak HTTP, the core speaks MCP.' }]
      }]
    }
  },
  {
    files: ['auth/**/*.ts'],
    rules: {
      'import-x/no-restricted-paths': ['error', {
        basePath: ROOT,
        zones: [zone('./auth', ['./plugins', './routes', './app.ts', './server.ts'],
          'auth/ is plain TypeScript beside the core: plugins/auth.ts and routes/oauth/ speak HTTP for it.')]
      }],
      'no-restricted-imports': ['error', {
        patterns: [{ group: FASTIFY, message: 'auth/ knows nothing of Fastify: plugins/auth/ and routes/oauth/ hold the HTTP side.' }]
      }]
    }
  },
  {
    files: ['schemas/**/*.ts'],
    rules: {
      'import-x/no-restricted-paths': ['error', {
        basePath: ROOT,
        zones: [{ ...zone('./schemas', './', 'schemas/ imports nothing of ours but other schemas.'), except: ['./schemas', './node_modules'] }]
      }]
    }
  },
  {
    // cli/ talks to the gateway through its public modules only; everything else of ours is internal
    files: ['cli/**/*.ts'],
    rules: {
      'import-x/no-restricted-paths': ['error', {
        basePath: ROOT,
        zones: [{
          ...zone('./cli', './', 'cli/ uses the gateway only through api.ts, app.ts (buildApp) and server.ts (serve): export what it needs from api.ts.'),
          except: ['./cli', './node_modules', './api.ts', './app.ts', './server.ts']
        }]
      }]
    }
  },
  {
    files: ['plugins/**/*.ts'],
    rules: {
      'import-x/no-restricted-paths': ['error', {
        basePath: ROOT,
        zones: [zone('./plugins', './routes', 'plugins/ never import routes/: routes depend on plugins, not the reverse.')]
      }]
    }
  }
]

export default [
  ...neostandard({ ts: true, noJsx: true, ignores: [...resolveIgnoresFromGitignore(), 'coverage/**'] }),
  {
    plugins: { 'import-x': importX },
    settings: {
      // Without these, import-x reads only .js files and no-cycle never looks inside a .ts one.
      'import-x/extensions': ['.ts', '.js', '.mjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: join(ROOT, 'tsconfig.json') })]
    },
    rules: {
      complexity: ['error', 10],
      // `void promise` as a statement marks a deliberate fire-and-forget; elsewhere void stays an error.
      'no-void': ['error', { allowAsStatement: true }],
      'no-unreachable': 'error',
      'no-useless-return': 'error',
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-self-import': 'error',
      'import-x/no-useless-path-segments': 'error',
      'import-x/no-duplicates': 'error',
      'import-x/first': 'error'
    }
  },
  {
    files: ['**/*.ts'],
    rules: {
      // `export const X = Type.Object(…)` with `export type X = Static<typeof X>` is how schemas/ is written
      // (STYLE.md); TypeScript itself reports real redeclarations, as typescript-eslint's docs advise.
      '@typescript-eslint/no-redeclare': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { args: 'after-used', ignoreRestSiblings: true, caughtErrors: 'none' }]
    }
  },
  {
    // The service logs through pino; only tools that talk to a terminal may print.
    files: ['**/*.ts'],
    ignores: ['test/**', 'bench/**', 'cli/**'],
    rules: { 'no-console': 'error' }
  },
  ...boundaries
]
