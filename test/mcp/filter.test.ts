import t from 'tap'
import { anyOfTags, compileTagFilter } from '../../mcp/tag-filter.js'
import { TagFilterError } from '../../mcp/errors.js'

t.test('boolean expressions over a server\'s tags', async (t) => {
  const cases: Array<[string, string[], boolean]> = [
    ['web', ['web'], true],
    ['web', ['db'], false],
    ['web and db', ['web', 'db'], true],
    ['web and db', ['web'], false],
    ['web or db', ['db'], true],
    ['web or db', [], false],
    ['not beta', [], true],
    ['not beta', ['beta'], false],
    ['web and not beta', ['web', 'beta'], false],
    ['web and (db or cache) and not beta', ['web', 'cache'], true],
    ['web and (db or cache) and not beta', ['web'], false],
    ['web or db and cache', ['web'], true],
    ['(web or db) and cache', ['web'], false],
    ['not not web', ['web'], true],
    ['web && !beta', ['web'], true],
    ['web || db', ['db'], true],
    ['web,db', ['db'], true],
    ['WEB AND Db', ['WEB', 'Db'], true],
    ['team:core and v1.2-x', ['team:core', 'v1.2-x'], true],
    ['  ( ( web ) )  ', ['web'], true]
  ]
  for (const [source, tags, expected] of cases) {
    t.equal(compileTagFilter(source).matches(tags), expected, `${source} on [${tags.join(',')}]`)
  }
})

t.test('keywords bind: not over and over or', async (t) => {
  t.equal(compileTagFilter('a or b and not c').canonical, 'a or (b and not c)')
  t.equal(compileTagFilter('not (a or b)').canonical, 'not (a or b)')
  t.equal(compileTagFilter('a && b || !c').canonical, compileTagFilter('(a and b) or not c').canonical)
})

t.test('a bad filter names the position of the error', async (t) => {
  const bad: Array<[string, number, RegExp]> = [
    ['', 1, /empty/],
    ['   ', 1, /empty/],
    ['web and', 8, /expected a tag, 'not' or '\(', found the end/],
    ['and web', 1, /found 'and'/],
    ['web db', 5, /expected 'and', 'or' or the end, found 'db'/],
    ['(web or db', 1, /'\(' is never closed/],
    ['web)', 4, /unexpected '\)'/],
    ['web and $x', 9, /unexpected character '\$'/],
    ['web or ()', 9, /found '\)'/],
    ['not', 4, /found the end/],
    ['(a b)', 4, /expected '\)' \(closing the '\(' at 1\), found 'b'/]
  ]
  for (const [source, position, message] of bad) {
    const err = t.throws(() => compileTagFilter(source), TagFilterError, JSON.stringify(source)) as unknown as TagFilterError
    t.equal(err.position, position, `${JSON.stringify(source)} at ${position}`)
    t.match(err.message, message)
    t.match(err.message, new RegExp(`at position ${position}$`))
  }
})

t.test('?tags=a,b means any of them', async (t) => {
  const filter = anyOfTags(['b', 'a'])
  t.ok(filter.matches(['a']))
  t.ok(filter.matches(['x', 'b']))
  t.notOk(filter.matches(['x']))
  t.equal(filter.canonical, anyOfTags(['a', 'b']).canonical)
})
