import { existsSync, readFileSync } from 'node:fs'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

/**
 * What to import for a plugin the config names: a path (`./x.mjs`, `/abs/x.mjs`) from the config
 * file's folder; a package name from the `node_modules` beside the config (where the user ran
 * `npm install`), else from the gateway's own dependencies.
 */
export function pluginImportTarget (spec: string, baseDir: string): string {
  if (spec.startsWith('.') || isAbsolute(spec)) return pathToFileURL(resolve(baseDir, spec)).href
  const entry = packageEntry(spec, baseDir)
  return entry ? pathToFileURL(entry).href : spec
}

/** `name` or `name/sub` (scoped names too) split into the package and the subpath of its exports. */
function splitSpec (spec: string): { name: string, subpath: string } {
  const parts = spec.split('/')
  const take = spec.startsWith('@') ? 2 : 1
  return { name: parts.slice(0, take).join('/'), subpath: parts.length > take ? `./${parts.slice(take).join('/')}` : '.' }
}

/** The file an ESM `import` of `spec` loads, looking up from `fromDir` as Node does; undefined when not installed there. */
function packageEntry (spec: string, fromDir: string): string | undefined {
  const { name, subpath } = splitSpec(spec)
  for (let dir = resolve(fromDir); ; dir = dirname(dir)) {
    const root = join(dir, 'node_modules', name)
    if (existsSync(join(root, 'package.json'))) return entryOf(root, subpath)
    if (dirname(dir) === dir) return undefined
  }
}

type Exports = string | { [key: string]: Exports } | null | undefined

function entryOf (root: string, subpath: string): string {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports?: Exports, module?: string, main?: string }
  const target = pkg.exports !== undefined ? fromExports(pkg.exports, subpath) : undefined
  if (target) return join(root, target)
  if (subpath !== '.') return join(root, subpath)
  return join(root, pkg.module ?? pkg.main ?? 'index.js')
}

/** The `import` target of `subpath` in a package's `exports` (the conditions an ESM import in Node meets). */
function fromExports (exports: Exports, subpath: string): string | undefined {
  if (typeof exports === 'string' || exports === null || exports === undefined) return subpath === '.' ? exports ?? undefined : undefined
  const keys = Object.keys(exports)
  const bySubpath = keys.length > 0 && keys.every((k) => k.startsWith('.'))
  return conditional(bySubpath ? exports[subpath] : subpath === '.' ? exports : undefined)
}

function conditional (value: Exports): string | undefined {
  if (typeof value === 'string') return value
  if (value === null || value === undefined) return undefined
  for (const condition of ['import', 'node', 'default']) {
    if (Object.hasOwn(value, condition)) {
      const found = conditional(value[condition])
      if (found) return found
    }
  }
  return undefined
}
