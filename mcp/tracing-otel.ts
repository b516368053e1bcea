import { AsyncLocalStorage } from 'node:async_hooks'
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type ContextManager, type Span } from '@opentelemetry/api'
import { getNumberFromEnv, getStringFromEnv, W3CTraceContextPropagator } from '@opentelemetry/core'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources'
import { AlwaysOffSampler, AlwaysOnSampler, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider, type Sampler } from '@opentelemetry/sdk-trace'
import { ATTR_ERROR_TYPE, ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions'
import { GATEWAY_INFO } from '../backends/backend.js'
import { RpcError } from '../backends/errors.js'
import { traceHeaders } from '../backends/trace-headers.js'
import type { Params } from './dispatch/deps.js'
import type { RequestTraceInfo, Tracing } from './tracing.js'

/** The active context follows async calls (the SDK's own manager only follows synchronous code). */
class AsyncLocalContextManager implements ContextManager {
  private readonly storage = new AsyncLocalStorage<Context>()
  active (): Context { return this.storage.getStore() ?? ROOT_CONTEXT }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>> (ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    return this.storage.run(ctx, () => fn.apply(thisArg, args))
  }

  bind<T> (ctx: Context, target: T): T {
    if (typeof target !== 'function') return target
    const manager = this
    return function (this: unknown, ...args: unknown[]) { return manager.with(ctx, () => (target as (...a: unknown[]) => unknown).apply(this, args)) } as T
  }

  enable (): this { return this }
  disable (): this { this.storage.disable(); return this }
}

/** OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG, as the specification names them (default parentbased_always_on). */
function samplerFromEnv (): Sampler {
  const name = getStringFromEnv('OTEL_TRACES_SAMPLER') ?? 'parentbased_always_on'
  const ratio = getNumberFromEnv('OTEL_TRACES_SAMPLER_ARG') ?? 1
  const root: Record<string, () => Sampler> = {
    always_on: () => new AlwaysOnSampler(),
    always_off: () => new AlwaysOffSampler(),
    traceidratio: () => new TraceIdRatioBasedSampler(ratio)
  }
  const base = name.replace(/^parentbased_/, '')
  const make = Object.hasOwn(root, base) ? root[base] : root.always_on
  return name.startsWith('parentbased_') || !Object.hasOwn(root, base) ? new ParentBasedSampler({ root: make() }) : make()
}

const propagator = new W3CTraceContextPropagator()

/** The context of a `traceparent` (and `tracestate`) the client sent, or the active one. */
function parentOf (meta: Params | undefined, header: string | undefined): Context {
  const traceparent = typeof meta?.traceparent === 'string' ? meta.traceparent : header
  if (!traceparent) return context.active()
  const carrier = { traceparent, ...(typeof meta?.tracestate === 'string' ? { tracestate: meta.tracestate } : {}) }
  return propagator.extract(ROOT_CONTEXT, carrier, { get: (c, key) => (c as Record<string, string>)[key], keys: (c) => Object.keys(c as object) })
}

/** `tools/call echo`: the method and its target, as the MCP semantic conventions name a span. */
function target (method: string, params: Params): string | undefined {
  const name = params.name
  if (typeof name === 'string' && (method === 'tools/call' || method === 'prompts/get')) return name
  return typeof params.uri === 'string' ? params.uri : undefined
}

function ended<T> (span: Span, run: () => Promise<T>): Promise<T> {
  return run().then((result) => {
    span.end()
    return result
  }, (err: unknown) => {
    const code = err instanceof RpcError ? err.code : undefined
    span.setAttribute(ATTR_ERROR_TYPE, code === undefined ? (err as Error)?.name ?? 'Error' : String(code))
    if (code !== undefined) span.setAttribute('rpc.response.status_code', String(code))
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message })
    span.end()
    throw err
  })
}

/** The OpenTelemetry tracing of the gateway: spans exported over OTLP/HTTP as the standard OTEL_* variables say. */
export function createOtelTracing (): Tracing {
  context.setGlobalContextManager(new AsyncLocalContextManager())
  propagation.setGlobalPropagator(propagator)
  const delay = getNumberFromEnv('OTEL_BSP_SCHEDULE_DELAY')
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: '1mcp-gateway', [ATTR_SERVICE_VERSION]: GATEWAY_INFO.version }).merge(detectResources({ detectors: [envDetector] })),
    sampler: samplerFromEnv(),
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter(), ...(delay === undefined ? {} : { scheduledDelayMillis: delay }) })]
  })
  const tracer = provider.getTracer('1mcp-gateway', GATEWAY_INFO.version)
  traceHeaders.current = () => {
    const headers: Record<string, string> = {}
    propagation.inject(context.active(), headers)
    return headers
  }
  const calls = new WeakMap<object, Context>()

  return {
    request (info: RequestTraceInfo, run) {
      const of = target(info.method, info.params)
      const parent = parentOf(info.params._meta as Params | undefined, info.traceparent)
      const span = tracer.startSpan(of ? `${info.method} ${of}` : info.method, {
        kind: SpanKind.SERVER,
        attributes: {
          'mcp.method.name': info.method,
          'mcp.session.id': info.sessionId.slice(0, 8),
          'jsonrpc.request.id': String(info.requestId),
          ...(info.protocolVersion ? { 'mcp.protocol.version': info.protocolVersion } : {}),
          ...(info.method === 'tools/call' && of ? { 'gen_ai.tool.name': of } : {}),
          ...(typeof info.params.uri === 'string' ? { 'mcp.resource.uri': info.params.uri } : {})
        }
      }, parent)
      const ctx = trace.setSpan(parent, span)
      calls.set(info.channel, ctx)
      return ended(span, () => context.with(ctx, run).finally(() => {
        const backend = info.backend()
        if (backend) span.setAttribute('mcp.gateway.backend', backend)
      }))
    },
    backendCall (backend, method, params, run) {
      const of = target(method, params)
      const span = tracer.startSpan(`${method}${of ? ` ${of}` : ''} → ${backend}`, { kind: SpanKind.CLIENT, attributes: { 'mcp.method.name': method, 'mcp.gateway.backend': backend, ...(of ? { 'mcp.gateway.target': of } : {}) } })
      const ctx = trace.setSpan(context.active(), span)
      const meta: Params = { ...(params._meta as Params | undefined) }
      propagation.inject(ctx, meta)
      return ended(span, () => context.with(ctx, () => run({ ...params, _meta: meta })))
    },
    clientRound (channel, method, run) {
      const parent = (channel && calls.get(channel)) || context.active()
      const span = tracer.startSpan(`${method} → client`, { kind: SpanKind.CLIENT, attributes: { 'mcp.method.name': method } }, parent)
      return ended(span, () => context.with(trace.setSpan(parent, span), run))
    },
    tokenCheck (traceparent) {
      const span = tracer.startSpan('token check', { kind: SpanKind.INTERNAL }, parentOf(undefined, traceparent))
      return (outcome) => {
        span.setAttribute('mcp.gateway.auth.outcome', outcome)
        if (outcome !== 'allowed') span.setStatus({ code: SpanStatusCode.ERROR, message: outcome })
        span.end()
      }
    },
    shutdown: () => {
      traceHeaders.current = undefined
      return provider.shutdown()
    }
  }
}
