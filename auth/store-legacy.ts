import { unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { StoredClient, StoredFamily } from '../schemas/auth.js'
import { dataFileError, readChecked, RECORD_ID, type DataFileRole, type RecordDir } from './files.js'

// The first layout of the store (one file of every record, rewritten on each change), moved once.

const LEGACY_CLIENTS: DataFileRole = { what: 'client registrations', fix: 'fix it or delete it (registered clients must register again)' }
const LEGACY_FAMILIES: DataFileRole = { what: 'refresh-token grants', fix: 'fix it or delete it (every client must log in again)' }
const LegacyClients = Type.Object({ clients: Type.Array(StoredClient) })
const LegacyFamilies = Type.Object({ families: Type.Array(StoredFamily) })

/**
 * Moves a store of the first layout (one file of every record, rewritten on each change) into one
 * file per record, once: the records are written first, the old file is deleted last, so a crash in
 * between only repeats the move.
 */
async function migrateOne<T> (path: string, role: DataFileRole, schema: typeof LegacyClients | typeof LegacyFamilies, records: RecordDir<T>, idOf: (record: T) => string): Promise<void> {
  const doc = await readChecked(path, role, (v): v is Record<string, T[]> => Value.Check(schema, v), `in the expected shape (${Object.keys(schema.properties)[0]}: a list of records)`)
  if (!doc) return
  const list = Object.values(doc)[0]
  const bad = list.find((r) => !RECORD_ID.test(idOf(r)))
  if (bad) throw dataFileError(role, path, `holds the id ${JSON.stringify(idOf(bad))}, which is not a UUID`)
  await Promise.all(list.map((r) => records.save(idOf(r), r)))
  await unlink(path).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err })
}

/** Both files of the first layout; the caller holds the data dir's lock (instances starting together move them once). */
export async function migrateLegacy (dir: string, clients: RecordDir<StoredClient>, families: RecordDir<StoredFamily>): Promise<void> {
  await migrateOne(join(dir, 'clients.json'), LEGACY_CLIENTS, LegacyClients, clients, (c) => c.client_id)
  await migrateOne(join(dir, 'refresh-families.json'), LEGACY_FAMILIES, LegacyFamilies, families, (f) => f.id)
}
