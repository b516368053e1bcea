import t from 'tap'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { isNotification, isRequest } from '../../routes/jsonrpc-body.js'
import { JsonRpcNotification, JsonRpcRequest } from '../../schemas/jsonrpc.js'

// The hand-written guards on the path of every message decide exactly as the TypeBox schemas do.
const compiled = { request: TypeCompiler.Compile(JsonRpcRequest), notification: TypeCompiler.Compile(JsonRpcNotification) }
const params = [undefined, {}, { name: 'x', arguments: { a: 1 } }, null, [], 'p', 1, new Date(), new Uint8Array(1), { 'a\nb': 1 }, Object.create(null)]
const ids = [undefined, 1, 0, -3, 'a', '', 1.5, null, {}, [], true, Number.NaN]
const bodies: unknown[] = [null, undefined, 'text', 3, [], [{ jsonrpc: '2.0', id: 1, method: 'm' }]]
for (const jsonrpc of ['2.0', '1.0', undefined, 2]) {
  for (const method of ['tools/call', '', undefined, 7]) {
    for (const id of ids) for (const p of params) bodies.push({ jsonrpc, method, ...(id === undefined ? {} : { id }), ...(p === undefined ? {} : { params: p }) })
  }
}

t.test('isRequest and isNotification agree with the compiled JSON-RPC schemas on every shape', async (t) => {
  let requests = 0
  for (const body of bodies) {
    const label = JSON.stringify(body) ?? String(body)
    if (isRequest.Check(body) !== compiled.request.Check(body)) t.fail(`request: ${label}`)
    if (isNotification.Check(body) !== compiled.notification.Check(body)) t.fail(`notification: ${label}`)
    if (isRequest.Check(body)) requests++
  }
  t.ok(bodies.length > 1500, `${bodies.length} bodies compared`)
  t.ok(requests >= 20, `${requests} of them valid requests`)
})
