import { copyFile, mkdir, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Io } from './command.js'
import { writeFileAtomic } from './config-file.js'
import { CliError } from './errors.js'
import { homeDir, readAppFile, type AppDefinition, type AppFile } from './apps.js'

// The backups `1mcp app consolidate` makes of an app's config, and `1mcp app restore` puts back.

/** Where backups of app configs go: ONEMCP_BACKUP_DIR, else ~/.1mcp/backups. */
export function backupDir (env: NodeJS.ProcessEnv): string {
  return env.ONEMCP_BACKUP_DIR ?? join(homeDir(env), '.1mcp', 'backups')
}

function stamp (): string {
  return new Date().toISOString().replace(/[:.]/g, '-')
}

/** Copies an app's config, byte for byte, to the backup directory; returns the backup's path. */
export async function backUp (file: AppFile, env: NodeJS.ProcessEnv): Promise<string> {
  const dir = join(backupDir(env), file.app.id)
  await mkdir(dir, { recursive: true })
  const target = join(dir, `${stamp()}.json`)
  await copyFile(file.path, target)
  await writeFileAtomic(`${target}.source`, `${file.path}\n`)
  return target
}

async function backupsOf (app: AppDefinition, env: NodeJS.ProcessEnv): Promise<string[]> {
  const dir = join(backupDir(env), app.id)
  const names = await readdir(dir).catch(() => [] as string[])
  return names.filter((n) => n.endsWith('.json')).sort().map((n) => join(dir, n))
}

/** Restores (or lists) one app's backups; true when its config was put back. */
export async function restoreApp (app: AppDefinition, opts: { backup?: string, list: boolean, all: boolean }, io: Io): Promise<boolean> {
  const backups = opts.backup ? [opts.backup] : await backupsOf(app, io.env)
  if (opts.list) {
    io.out(backups.length ? backups.map((b) => `${app.id}  ${b}\n`).join('') : `${app.id}: no backups\n`)
    return false
  }
  const latest = backups.at(-1)
  if (!latest) {
    if (!opts.all) throw new CliError(`no backup of ${app.label}'s config in ${join(backupDir(io.env), app.id)}`, 'backups are made by `1mcp app consolidate`; pass --backup FILE to restore another copy')
    return false
  }
  let text: string
  try {
    text = await readFile(latest, 'utf8')
  } catch (err) {
    throw new CliError(`cannot read the backup ${latest}: ${(err as Error).message}`)
  }
  const source = await readFile(`${latest}.source`, 'utf8').then((s) => s.trim()).catch(() => undefined)
  const target = source ?? (await readAppFile(app, io.env)).path
  await writeFileAtomic(target, text)
  io.out(`${app.id}: restored ${target} from ${latest}\n`)
  return true
}
