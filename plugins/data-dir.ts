import { resolve } from 'node:path'
import { AUTH_DEFAULTS } from '../schemas/auth.js'

/** `auth.dataDir` as a path: relative to the config file's folder (`baseDir`), `.data` when not set. */
export function dataDirOf (auth: { dataDir?: string } | undefined, baseDir = process.cwd()): string {
  return resolve(baseDir, auth?.dataDir ?? AUTH_DEFAULTS.dataDir)
}
