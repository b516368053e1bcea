import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import t, { type Test } from 'tap'
import pino, { type Logger } from 'pino'
import { Backend } from '../../backends/backend.js'
import { BackendPool } from '../../backends/pool.js'
import { StdioTransport } from '../../backends/stdio-transport.js'
import type { ServerConfig } from '../../schemas/config.js'
import { LogCapture } from '../auth-helpers.js'
import { alive, ECHO_SERVER, echoFixture, tempDir, waitFor } from '../helpers.js'

// Backends without an HTTP server (STYLE.md habit 5): a Backend, the pool and the stdio transport,
// driven directly with real child processes, along the paths the gateway tests do not take.

const silent = pino({ level: 'silent' })

/** A stdio backend that runs `script` (an ES module) and then the echo fixture. */
function scripted (script: string, env: Record<string, string> = {}): ServerConfig {
  return { command: process.execPath, args: ['--input-type=module', '-e', `${script}\nawait import(${JSON.stringify(pathToFileURL(ECHO_SERVER).href)})`], env }
}

function backend (t: Test, config: ServerConfig, log: Logger = silent, name = 'b'): Backend {
  const b = new Backend(name, config, log, process.cwd())
  t.teardown(() => b.stop())
  return b
}

t.test('a backend with no handler for server requests refuses them with a clear error', async (t) => {
  const b = backend(t, echoFixture('b'))
  await b.start()
  t.equal(b.state, 'ready')
  const result = await b.request('tools/call', { name: 'sample', arguments: { prompt: 'hi' } }) as { isError?: boolean, content: Array<{ text: string }> }
  t.equal(result.isError, true, 'the backend\'s tool failed')
  t.match(result.content[0].text, /sampling\/createMessage is not supported by the gateway/)
})

t.test('a pool with no server-request handler refuses them too', async (t) => {
  const pool = new BackendPool(silent)
  t.teardown(() => pool.close())
  await pool.apply({ b: echoFixture('b') })
  const result = await pool.get('b')!.request('tools/call', { name: 'sample', arguments: { prompt: 'hi' } }) as { isError?: boolean, content: Array<{ text: string }> }
  t.equal(result.isError, true)
  t.match(result.content[0].text, /no handler for server requests/)
})

t.test('a config without what its transport needs fails with a reason', async (t) => {
  const stdio = backend(t, { type: 'stdio', restart: { maxRetries: 0 } })
  await stdio.start()
  t.equal(stdio.state, 'crash-loop', 'a stdio backend with no command is parked')
  t.equal(stdio.lastError, 'a stdio backend needs "command"')
  t.match(stdio.unavailableReason(), /parked after repeated failures \(last: a stdio backend needs "command"\)/)

  const sse = backend(t, { type: 'sse' })
  await sse.start()
  t.equal(sse.state, 'restarting', 'a remote backend is retried, never parked')
  t.equal(sse.lastError, 'a sse backend needs "url"')
})

t.test('a chatty child\'s stderr is logged at most 20 lines a second; the rest are counted', async (t) => {
  const logs = new LogCapture()
  const log = pino({ level: 'info' }, logs.stream)
  const b = backend(t, scripted(`
    for (let i = 0; i < 100; i++) process.stderr.write('line ' + i + '\\n')
    setTimeout(() => process.stderr.write('late line\\n'), 1100)
  `), log)
  await b.start()
  t.equal(b.state, 'ready')
  await waitFor(() => logs.entries.some((e) => e.stderr === 'late line'), 'the late line')
  const logged = logs.entries.filter((e) => e.msg === 'backend stderr')
  const dropped = logs.entries.filter((e) => e.msg === 'backend stderr lines dropped (rate limit)').map((e) => e.dropped as number)
  t.ok(dropped.length > 0, 'the dropped lines are reported')
  t.ok(logged.length < 101, `fewer lines logged (${logged.length}) than written`)
  t.equal(logged.length + dropped.reduce((a, b) => a + b, 0), 101, 'every line is either logged or counted')
})

t.test('a replacement that connects after the pool closed is stopped, not leaked', async (t) => {
  const dir = await tempDir(t)
  const pidFile = join(dir, 'pid')
  const pool = new BackendPool(silent)
  await pool.apply({ a: echoFixture('a') })
  const replacing = pool.apply({
    a: scripted(`
      import { writeFileSync } from 'node:fs'
      writeFileSync(process.env.PID_FILE, String(process.pid))
      await new Promise((resolve) => setTimeout(resolve, 500))
    `, { PID_FILE: pidFile })
  })
  const pid = Number(await waitFor(() => readFile(pidFile, 'utf8').catch(() => ''), 'the replacement to start'))
  t.ok(alive(pid))
  await pool.close()
  await replacing
  t.equal(pool.size, 0)
  await waitFor(() => !alive(pid), 'the replacement\'s process to end')
  t.notOk(alive(pid), 'the replacement was stopped once it found its place taken')
})

t.test('a server disabled in the config is not started', async (t) => {
  const pool = new BackendPool(silent)
  t.teardown(() => pool.close())
  await pool.apply({ on: echoFixture('on'), off: { ...echoFixture('off'), disabled: true } })
  t.same(pool.names(), ['on'])
  t.equal(pool.get('on')!.state, 'ready')
})

t.test('the stdio transport', async (t) => {
  t.test('a long stderr chunk with no newline is handed on in one piece', async (t) => {
    const lines: string[] = []
    const transport = new StdioTransport({
      command: process.execPath,
      args: ['-e', "process.stderr.write('x'.repeat(10000)); setTimeout(() => {}, 5000)"],
      onStderr: (line) => lines.push(line)
    })
    t.teardown(() => transport.close())
    await transport.start()
    await waitFor(() => lines.length > 0, 'stderr')
    t.ok(lines[0].length >= 8192, `a piece of ${lines[0].length} characters, not held back for a newline`)
    t.match(lines[0], /^x+$/)
  })

  t.test('sending to a child that has exited fails with how it ended', async (t) => {
    const transport = new StdioTransport({ command: process.execPath, args: ['-e', 'process.exit(5)'] })
    const closed = new Promise<void>((resolve) => { transport.onclose = resolve })
    await transport.start()
    await closed
    await t.rejects(transport.send({ jsonrpc: '2.0', id: 1, method: 'ping' }), { message: 'process exited with code 5' })
  })

  t.test('a transport never started: signalling does nothing, closing reports closed', async (t) => {
    const transport = new StdioTransport({ command: process.execPath })
    let closed = 0
    transport.onclose = () => { closed++ }
    t.equal(transport.pid, undefined)
    t.doesNotThrow(() => transport.signal('SIGTERM'))
    await transport.close()
    await transport.close()
    t.equal(closed, 1, 'onclose once')
    await t.rejects(transport.send({ jsonrpc: '2.0', id: 1, method: 'ping' }), { message: 'not connected' })
  })
})
