import t from 'tap'
import { Writable } from 'node:stream'
import { pino, type Logger } from 'pino'
import { debugOn, RequestLogger, requestLoggerFactory } from '../../plugins/request-logger.js'
import { REDACT_PATHS } from '../../app.js'

/** A pino logger as the gateway configures it (redaction on), its lines collected, and how many children it made. */
function parentLogger (level: string) {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({ write (chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done() } })
  const logger = pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, stream)
  const made = { children: 0 }
  const child = logger.child
  // counts the children of the parent itself (a child's children go to pino's own method)
  logger.child = function (this: Logger, ...args: Parameters<Logger['child']>) {
    if (this === logger) made.children++
    return child.apply(this, args)
  } as Logger['child']
  return { logger, lines, made }
}

const flush = () => new Promise((resolve) => setImmediate(resolve))

t.test('a line below the level writes nothing and makes no child logger', async (t) => {
  const { logger, lines, made } = parentLogger('info')
  const log = new RequestLogger(logger, { reqId: 'req-1' })
  log.debug({ method: 'tools/call' }, 'call')
  log.trace('more')
  await flush()
  t.equal(lines.length, 0)
  t.equal(made.children, 0, 'the child is made only for a line that is written')
  t.equal(log.level, 'info', 'the level is the parent\'s')
})

t.test('a line at an enabled level carries the request id and is redacted like any other', async (t) => {
  const { logger, lines, made } = parentLogger('info')
  const log = new RequestLogger(logger, { reqId: 'req-7' })
  log.warn({ headers: { authorization: 'Bearer secret-token' }, backend: 'a' }, 'call failed')
  log.error('second line')
  await flush()
  t.equal(lines.length, 2)
  t.match(lines[0], { reqId: 'req-7', backend: 'a', msg: 'call failed', level: 40 })
  t.equal((lines[0].headers as Record<string, unknown>).authorization, '[redacted]')
  t.match(lines[1], { reqId: 'req-7', msg: 'second line' })
  t.equal(made.children, 1, 'one child for the request, made once')
})

t.test('a request may change its own level without changing the parent\'s', async (t) => {
  const { logger, lines } = parentLogger('info')
  const log = new RequestLogger(logger, { reqId: 'req-2' })
  log.level = 'debug'
  log.debug('now visible')
  await flush()
  t.equal(log.level, 'debug')
  t.equal(logger.level, 'info')
  t.match(lines, [{ reqId: 'req-2', msg: 'now visible' }])
  const grand = log.child({ step: 'inner' })
  grand.debug('from a child')
  await flush()
  t.match(lines[1], { reqId: 'req-2', step: 'inner', msg: 'from a child' })
})

t.test('the factory makes a plain child when the route sets its own level, or the logger is not pino', async (t) => {
  const { logger } = parentLogger('info')
  const lazy = requestLoggerFactory.call(undefined as never, logger, { reqId: 'a' }, {}, undefined as never)
  t.ok(lazy instanceof RequestLogger)
  const own = requestLoggerFactory.call(undefined as never, logger, { reqId: 'b' }, { level: 'debug' }, undefined as never)
  t.notOk(own instanceof RequestLogger)
  t.equal(own.level, 'debug')
  const plain = { child: () => plain, info () {}, error () {}, debug () {}, fatal () {}, warn () {}, trace () {}, silent () {}, level: 'info' }
  t.equal(requestLoggerFactory.call(undefined as never, plain as never, { reqId: 'c' }, {}, undefined as never), plain)
})

t.test('debugOn follows the level of the logger it is given, a request\'s own included', async (t) => {
  const { logger } = parentLogger('info')
  const log = new RequestLogger(logger, { reqId: 'req-3' })
  t.equal(debugOn(log), false)
  log.level = 'trace'
  t.equal(debugOn(log), true)
  t.equal(debugOn(logger), false, 'the parent stays at info')
  logger.level = 'debug'
  t.equal(debugOn(new RequestLogger(logger, { reqId: 'req-4' })), true)
})

t.test('a route\'s serializers (the gateway\'s on its routes) keep the child lazy and apply to its lines', async (t) => {
  const { logger, lines, made } = parentLogger('info')
  const log = requestLoggerFactory.call(undefined as never, logger, { reqId: 'd' }, { serializers: { req: (req: { url: string }) => ({ url: req.url.replace(/token=.*/, 'token=[redacted]') }) } }, undefined as never)
  t.ok(log instanceof RequestLogger)
  log.debug({ req: { url: '/x?token=secret' } }, 'below the level')
  t.equal(made.children, 0, 'no child for a line that is not written')
  log.info({ req: { url: '/x?token=secret' } }, 'incoming request')
  await flush()
  t.match(lines, [{ reqId: 'd', req: { url: '/x?token=[redacted]' } }])
})
