import t from 'tap'
import { byFolder, check } from '../../scripts/coverage-by-folder.js'

const ROOT = '/project'
const entry = (lines: [number, number], branches: [number, number]) => ({
  lines: { covered: lines[0], total: lines[1] },
  branches: { covered: branches[0], total: branches[1] }
})

t.test('per-folder totals add up the files of each folder and skip the rest', async (t) => {
  const totals = byFolder({
    total: entry([0, 0], [0, 0]),
    '/project/plugins/a.ts': entry([9, 10], [1, 2]),
    '/project/plugins/b.ts': entry([91, 90 + 10], [19, 20]),
    '/project/routes/r.ts': entry([10, 10], [4, 4]),
    '/project/app.ts': entry([0, 100], [0, 100]),
    '/project/plugins-extra/x.ts': entry([0, 100], [0, 100])
  }, ROOT, ['plugins', 'routes', 'backends'])
  t.same(totals.plugins, { files: 2, lines: { covered: 100, total: 110 }, branches: { covered: 20, total: 22 } })
  t.same(totals.routes.files, 1)
  t.same(totals.backends.files, 0)
})

t.test('a folder under a minimum, or with nothing covered, fails; one at it passes', async (t) => {
  const ok = check({ routes: { files: 1, lines: { covered: 90, total: 100 }, branches: { covered: 9, total: 10 } } })
  t.same(ok.failures, [])
  const low = check({
    plugins: { files: 3, lines: { covered: 8999, total: 10000 }, branches: { covered: 10, total: 10 } },
    routes: { files: 2, lines: { covered: 10, total: 10 }, branches: { covered: 8, total: 10 } },
    backends: { files: 0, lines: { covered: 0, total: 0 }, branches: { covered: 0, total: 0 } }
  })
  t.same(low.failures, ['plugins/: lines 89.99% < 90%', 'routes/: branches 80% < 90%', 'backends/: no coverage recorded'])
  t.equal(low.lines.length, 3)
})
