import t from 'tap'
import { checkParamHeaders, headerDeclarations, HEADER_MISMATCH } from '../../routes/param-headers.js'

const schema = {
  type: 'object',
  properties: {
    region: { type: 'string', 'x-mcp-header': 'Region' },
    count: { type: 'integer', 'x-mcp-header': 'Count' },
    flag: { type: 'boolean', 'x-mcp-header': 'Flag' },
    nested: { type: 'object', properties: { zone: { type: 'string', 'x-mcp-header': 'Zone' } } },
    list: { type: 'array', items: { type: 'string', 'x-mcp-header': 'Ignored' } },
    plain: { type: 'string' }
  }
}

function check (args: unknown, headers: Record<string, string>): unknown {
  try {
    checkParamHeaders(schema, args, (name) => headers[name])
    return undefined
  } catch (err) {
    return err
  }
}

t.test('declarations are the x-mcp-header properties reached through properties alone', async (t) => {
  t.same(headerDeclarations(schema).map((d) => [d.path.join('.'), d.header, d.numeric]), [
    ['region', 'Region', false], ['count', 'Count', true], ['flag', 'Flag', false], ['nested.zone', 'Zone', false]
  ])
  t.same(headerDeclarations({ 'x-mcp-header': 'Root' }), [], 'not on the root')
  t.same(headerDeclarations(null), [])
})

t.test('headers must mirror the arguments they declare', async (t) => {
  t.equal(check({ region: 'eu', count: 3, flag: true, nested: { zone: 'a' } }, { 'mcp-param-region': 'eu', 'mcp-param-count': '3', 'mcp-param-flag': 'true', 'mcp-param-zone': 'a' }), undefined, 'all present and equal')
  t.equal(check({ plain: 'x' }, {}), undefined, 'arguments without a declaration need no header')
  t.equal(check({ count: 3 }, { 'mcp-param-count': '3.0' }), undefined, 'numbers compare as numbers')
  t.equal(check({ region: 'München' }, { 'mcp-param-region': `=?base64?${Buffer.from('München').toString('base64')}?=` }), undefined, 'base64 values are decoded')
  t.equal(check({ region: { not: 'a primitive' } }, {}), undefined, 'a non-primitive argument is not mirrored')

  const missing = check({ region: 'eu' }, {}) as { code: number, message: string, data: unknown }
  t.equal(missing.code, HEADER_MISMATCH)
  t.match(missing.message, /Mcp-Param-Region header is absent/)
  t.same(missing.data, { mismatch: { header: 'Mcp-Param-Region' } })
  t.match((check({ region: 'eu' }, { 'mcp-param-region': 'us' }) as Error).message, /says "us" but the body carries "eu"/)
  t.match((check({ region: 'eu' }, { 'mcp-param-region': '=?base64?!!!?=' }) as Error).message, /not valid =\?base64\?…\?= encoding/)
  t.match((check({ region: 'eu' }, { 'mcp-param-region': `=?base64?${Buffer.from([0xff, 0xfe]).toString('base64')}?=` }) as Error).message, /not valid/, 'bytes that are not UTF-8')
  t.match((check({ count: 3 }, { 'mcp-param-count': 'three' }) as Error).message, /says "three"/)
})
