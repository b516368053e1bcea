import { Type, type Static } from '@sinclair/typebox'

export const JsonRpcId = Type.Union([Type.String(), Type.Integer()])

export const JsonRpcRequest = Type.Object({
  jsonrpc: Type.Literal('2.0'),
  id: JsonRpcId,
  method: Type.String({ minLength: 1 }),
  params: Type.Optional(Type.Record(Type.String(), Type.Unknown()))
})
export type JsonRpcRequest = Static<typeof JsonRpcRequest>

export const JsonRpcNotification = Type.Object({
  jsonrpc: Type.Literal('2.0'),
  method: Type.String({ minLength: 1 }),
  params: Type.Optional(Type.Record(Type.String(), Type.Unknown()))
})
export type JsonRpcNotification = Static<typeof JsonRpcNotification>

export const JsonRpcErrorObject = Type.Object({
  code: Type.Integer(),
  message: Type.String(),
  data: Type.Optional(Type.Unknown())
})

export const JsonRpcResponse = Type.Union([
  Type.Object({ jsonrpc: Type.Literal('2.0'), id: JsonRpcId, result: Type.Record(Type.String(), Type.Unknown()) }),
  Type.Object({ jsonrpc: Type.Literal('2.0'), id: Type.Union([JsonRpcId, Type.Null()]), error: JsonRpcErrorObject })
])
export type JsonRpcResponse = Static<typeof JsonRpcResponse>

export const JsonRpcMessage = Type.Union([JsonRpcRequest, JsonRpcNotification, JsonRpcResponse])
export type JsonRpcMessage = Static<typeof JsonRpcMessage>
