import { mkdir, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { SharedMarkers, type SharedMarkersOptions } from '../../auth/shared-markers.js'
import { tempDir, waitFor } from '../helpers.js'

// The one piece behind every marker folder instances share (token revocations, ended sessions, session
// log levels): expiry by the name, a later marker replacing an earlier one, the rescan that finds what a
// watch missed, and one warning per spell of a folder that cannot be read.

const HEX = /^[0-9a-f]{4}$/

function markers (t: Test, dir: string, options: Partial<SharedMarkersOptions> = {}): SharedMarkers {
  const m = new SharedMarkers(dir, { isName: (name) => HEX.test(name), isValue: (v) => /^[a-z]+$/.test(v), ...options })
  t.teardown(() => m.close())
  return m
}

t.test('a marker expires by the time in its name; the scan deletes its file', async (t) => {
  const dir = join(await tempDir(t), 'm')
  let now = 1_000_000
  const m = markers(t, dir, { now: () => now })
  await m.follow()
  await m.put('abcd', now + 100)
  t.same(await readdir(dir), [`abcd.${now + 100}`], 'one empty file, named for the marker and its expiry')
  t.ok(m.has('abcd'))
  now += 101
  t.notOk(m.has('abcd'), 'expired')
  await m.scan()
  t.same(await readdir(dir), [], 'and its file is gone after the next scan')
  await writeFile(join(dir, 'abcd.notanumber'), '')
  await writeFile(join(dir, 'zz.99999999999'), '')
  await m.scan()
  t.notOk(m.has('zz'), 'a file that is not a marker of this folder is ignored')
  t.same((await readdir(dir)).sort(), ['abcd.notanumber', 'zz.99999999999'], 'and left alone')
})

t.test('a later marker of a name replaces an earlier one, on every process; the earlier file is cleaned', async (t) => {
  const dir = join(await tempDir(t), 'm')
  const [a, b] = [markers(t, dir), markers(t, dir)]
  await a.follow()
  await b.follow()
  const soon = Date.now() + 60_000
  await a.put('abcd', soon, 'first')
  await b.put('abcd', soon + 1000, 'second')
  await a.scan()
  t.same(a.get('abcd'), { until: soon + 1000, value: 'second' }, 'the later marker wins')
  await b.put('abcd', soon - 1000, 'older')
  await b.scan()
  t.same(b.get('abcd'), { until: soon + 1000, value: 'second' }, 'an earlier marker written after does not undo it')
  await a.scan()
  t.same(await readdir(dir), [`abcd.${soon + 1000}.second`], 'the replaced files are deleted')
  await a.renew('abcd', soon + 5000)
  await b.scan()
  t.same(b.get('abcd'), { until: soon + 5000, value: 'second' }, 'renew moves the expiry and keeps the value')
})

t.test('a marker another process made is found by the rescan when the watch missed it', async (t) => {
  const dir = join(await tempDir(t), 'm')
  const m = markers(t, dir)
  await m.follow()
  // the folder replaced under the watch (a restore, another host on a network file system): the watch
  // still looks at the old one and sees nothing of the new folder
  await rm(dir, { recursive: true })
  await mkdir(dir)
  const until = Date.now() + 60_000
  await writeFile(join(dir, `beef.${until}`), '')
  const started = Date.now()
  await waitFor(() => m.has('beef'), 'the rescan to find the marker', 3000)
  t.ok(Date.now() - started < 2500, `found within the 1 s rescan (${Date.now() - started} ms)`)
})

t.test('a folder that cannot be read: one warning per failing spell, never one per call', async (t) => {
  const dir = join(await tempDir(t), 'm')
  const warnings: string[] = []
  const m = markers(t, dir, { rescanMs: 20, warn: (err) => warnings.push(err.message) })
  await m.follow()
  t.equal(warnings.length, 0, 'a folder that works: no warning')
  // a file in the folder's place: readdir and every create fail (ENOTDIR), whoever runs the test
  await rm(dir, { recursive: true })
  await writeFile(dir, 'not a folder')
  await waitFor(() => warnings.length > 0, 'the warning', 3000)
  const scans = Date.now()
  for (let i = 0; i < 20; i++) await m.put('abcd', Date.now() + 60_000).catch(() => {})
  await waitFor(() => Date.now() - scans > 300, 'more failing rescans', 3000)
  t.equal(warnings.length, 1, 'one warning for the rescans and the 20 failed writes')
  t.match(warnings[0], /ENOTDIR|ENOENT|EEXIST/, 'it says why')
  // the folder is back: the spell ends; the next failure is a new spell, and warned once again
  await rm(dir)
  await mkdir(dir)
  await m.scan()
  t.equal(warnings.length, 1, 'a scan that works again warns of nothing')
  await rm(dir, { recursive: true })
  await writeFile(dir, 'not a folder')
  await waitFor(() => warnings.length === 2, 'the warning of the second spell', 3000)
  t.equal(warnings.length, 2)
})
