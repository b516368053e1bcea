import { existsSync } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { writeFileAtomic as writeAtomic, locateConfig, validateConfigTemplate, type GatewayConfig } from '../api.js'
import { CliError } from './errors.js'

/** The raw (not env-substituted) document, with what is needed to write it back looking the same. */
export interface ConfigFile {
  path: string
  /** the document as written in the file: `${VAR}` references stay unexpanded */
  doc: GatewayConfig
  /** the exact text read, used to detect a concurrent edit */
  text: string
  indent: string | number
  eol: '\n' | '\r\n'
  finalNewline: boolean
  exists: boolean
}

export const EMPTY_CONFIG = '{\n  "mcpServers": {}\n}\n'

/** Where the CLI finds the gateway's config: the same place `1mcp serve` reads (see locateConfig). */
export function resolveConfigPath (flag: string | undefined, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  return locateConfig(flag, env, cwd).path
}

function detectIndent (text: string): string | number {
  const line = /^[{[][^\n]*\n([ \t]+)\S/.exec(text)
  if (!line) return 2
  return line[1].includes('\t') ? '\t' : line[1].length
}

function parseJson (text: string, path: string): unknown {
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new CliError(`${path} is not valid JSON: ${(err as Error).message}`, 'fix the file by hand (or restore it from a backup), then run the command again')
  }
}

/** Reads and validates the config file; a missing file reads as an empty config when `allowMissing`. */
export async function readConfigFile (path: string, { allowMissing = false } = {}): Promise<ConfigFile> {
  let text: string
  let exists = true
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new CliError(`cannot read ${path}: ${(err as Error).message}`)
    if (!allowMissing) {
      throw new CliError(`no config file at ${path}`, 'pass --config FILE or set ONEMCP_CONFIG, or create one with `1mcp mcp add NAME -- COMMAND ARGS...`')
    }
    text = EMPTY_CONFIG
    exists = false
  }
  const raw = parseJson(text.replace(/^\uFEFF/, ''), path)
  let doc: GatewayConfig
  try {
    doc = validateConfigTemplate(raw)
  } catch (err) {
    throw new CliError(`${path}: ${(err as Error).message}`, 'fix the file by hand, then run the command again')
  }
  return {
    path,
    doc,
    text,
    indent: detectIndent(text),
    eol: text.includes('\r\n') ? '\r\n' : '\n',
    finalNewline: /\n$/.test(text) || !exists,
    exists
  }
}

/** Serializes a document in the file's own indent and line endings. */
export function formatConfig (file: Pick<ConfigFile, 'indent' | 'eol' | 'finalNewline'>, doc: unknown): string {
  let out = JSON.stringify(doc, null, file.indent)
  if (file.eol === '\r\n') out = out.replace(/\n/g, '\r\n')
  return file.finalNewline ? out + file.eol : out
}

/** Writes `text` to `path` atomically (see auth/files.ts), keeping the mode of the file it replaces. */
export async function writeFileAtomic (path: string, text: string): Promise<void> {
  const mode = existsSync(path) ? (await stat(path)).mode & 0o777 : 0o600
  await writeAtomic(path, text, { mode })
}

/**
 * Reads the config, lets `edit` change the raw document, validates the result and writes it
 * atomically. Nothing is written when `edit` throws or the result is invalid. Keys keep their
 * order and the file keeps its indent and line endings; `${VAR}` references stay as written.
 */
export async function editConfigFile<T> (
  path: string,
  edit: (doc: GatewayConfig) => T | Promise<T>,
  { allowMissing = false } = {}
): Promise<T> {
  const file = await readConfigFile(path, { allowMissing })
  const doc = structuredClone(file.doc)
  const result = await edit(doc)
  try {
    validateConfigTemplate(doc)
  } catch (err) {
    throw new CliError(`the change would make the config invalid: ${(err as Error).message}`, 'nothing was written; check the values you passed')
  }
  const current = file.exists ? await readFile(path, 'utf8').catch(() => undefined) : undefined
  if (file.exists && current !== file.text) {
    throw new CliError(`${path} changed while it was being edited`, 'nothing was written; run the command again')
  }
  await writeFileAtomic(path, formatConfig(file, doc))
  return result
}
