import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { SdkError, SdkErrorCode, serializeMessage, type JSONRPCMessage, type Transport } from '@modelcontextprotocol/client'
import { LineReader } from './stdio-line-reader.js'

export interface StdioOptions {
  command: string
  args?: string[]
  env?: Record<string, string>
  cwd?: string
  /** called with each line the child writes to stderr */
  onStderr?: (line: string) => void
  /** time between SIGTERM and SIGKILL when stopping */
  killGraceMs?: number
  /** the longest line (one message) the child may write, bytes (read at each chunk: a config change applies at once) */
  maxMessageBytes?: () => number
  /** the child wrote a line longer than that (it is skipped up to its newline) */
  onOversized?: (limit: number) => void
}

/** Variables a child needs to run at all; everything else must be configured explicitly. */
const INHERITED_ENV = process.platform === 'win32'
  ? ['APPDATA', 'HOMEDRIVE', 'HOMEPATH', 'LOCALAPPDATA', 'PATH', 'PROCESSOR_ARCHITECTURE', 'SYSTEMDRIVE', 'SYSTEMROOT', 'TEMP', 'USERNAME', 'USERPROFILE', 'PROGRAMFILES']
  : ['HOME', 'LOGNAME', 'PATH', 'SHELL', 'TERM', 'USER', 'LANG', 'TMPDIR', 'NODE_OPTIONS', 'NODE_PATH', 'npm_config_cache']

function childEnv (extra: Record<string, string> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const key of INHERITED_ENV) if (process.env[key] !== undefined) env[key] = process.env[key]
  return { ...env, ...extra }
}

const STDERR_TAIL_LINES = 3
const STDERR_TAIL_CHARS = 300

/** How a child ended; a failure quotes the last lines it wrote to stderr (a missing npm package says so there). */
function describeExit (code: number | null, signal: NodeJS.Signals | null, tail: string[]): string {
  if (signal) return `process killed by ${signal}`
  const base = `process exited with code ${code}`
  return code !== 0 && tail.length > 0 ? `${base}; its stderr ended with: ${tail.join(' | ')}` : base
}

/** Messages waiting for the next write to a child's stdin, and the promise their senders wait on. */
interface Batch { lines: string[], promise: Promise<void>, resolve: () => void, reject: (err: Error) => void }

function newBatch (): Batch {
  const batch = { lines: [] } as unknown as Batch
  batch.promise = new Promise<void>((resolve, reject) => { batch.resolve = resolve; batch.reject = reject })
  return batch
}

/**
 * The process groups of the children this process started whose leader it has not yet seen exit:
 * what a last, synchronous kill on exit must reach (see killBackendGroups).
 */
const liveGroups = new Set<number>()

/**
 * SIGKILLs every process group of a backend this process started that may still run. Synchronous,
 * for the exit paths that cannot wait for an orderly close (`process.on('exit')`, a close that hangs).
 */
export function killBackendGroups (): void {
  for (const pid of liveGroups) {
    try {
      process.kill(-pid, 'SIGKILL')
    } catch {
      // the group is already gone
    }
  }
  liveGroups.clear()
}

/**
 * The MCP stdio transport, spawning the child in its own process group so that stopping it
 * also stops whatever it started (`npx` wrappers, shells), and reporting how the child ended.
 */
export class StdioTransport implements Transport {
  onclose?: () => void
  onerror?: (error: Error) => void
  onmessage?: (message: JSONRPCMessage) => void
  /** takes a message before `onmessage`, true when it did: the answers to requests sent straight over this transport (DirectRequests) */
  takeFirst?: (message: JSONRPCMessage) => boolean
  /** why the child went away, for error messages */
  exitReason?: string
  private child?: ChildProcess
  private readonly buffer: LineReader
  private closed = false
  private batch?: Batch
  /** the child's last lines on stderr, quoted when it exits with an error */
  private readonly stderrTail: string[] = []
  /** settles once the child exited and how is known */
  private ended?: Promise<void>

  constructor (private readonly options: StdioOptions) {
    this.buffer = new LineReader(options.maxMessageBytes)
  }

  get pid (): number | undefined { return this.child?.pid }

  start (): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.options.command, this.options.args ?? [], {
        env: childEnv(this.options.env),
        cwd: this.options.cwd,
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: process.platform !== 'win32',
        windowsHide: true
      })
      this.child = child
      const group = process.platform === 'win32' ? undefined : child.pid
      if (group !== undefined) liveGroups.add(group)
      child.once('error', (err) => {
        this.exitReason = this.spawnFailure(err as NodeJS.ErrnoException)
        reject(new Error(this.exitReason))
        this.finish()
      })
      child.once('spawn', () => resolve())
      this.ended = new Promise((resolve) => child.once('exit', (code, signal) => {
        // what the child left running in its group (a shell's `sleep &`) goes with it
        this.signal('SIGKILL')
        if (group !== undefined) liveGroups.delete(group)
        // what it wrote to stderr just before exiting may still be in the pipe: wait for the pipe to
        // close (briefly: a grandchild can hold it open), so the reason can quote it
        const stderrClosed = new Promise<void>((resolve) => { if (!child.stderr || child.stderr.closed) resolve(); else child.stderr.once('close', resolve) })
        const waited = new Promise<void>((resolve) => setTimeout(resolve, 100).unref())
        void Promise.race([stderrClosed, waited]).then(() => {
          this.exitReason ??= describeExit(code, signal, this.stderrTail)
          this.finish()
          resolve()
        })
      }))
      child.stdout?.on('data', (chunk: Buffer) => this.onData(chunk))
      child.stdout?.on('error', (err) => this.onerror?.(err))
      child.stdin?.on('error', (err) => this.onerror?.(err))
      this.readStderr(child)
    })
  }

  /** Why the child could not be started, naming what to fix. */
  private spawnFailure (err: NodeJS.ErrnoException): string {
    const { command, cwd } = this.options
    if (err.code === 'ENOENT' && cwd !== undefined && !existsSync(cwd)) return `could not start: the working directory ${cwd} does not exist (check "cwd")`
    if (err.code === 'ENOENT') return `could not start: command '${command}' not found (ENOENT); check "command" in the config, or install it`
    if (err.code === 'EACCES') return `could not start: command '${command}' is not executable (EACCES)`
    return `could not start '${command}': ${err.code ?? err.message}`
  }

  private readStderr (child: ChildProcess): void {
    let pending = ''
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (chunk: string) => {
      pending += chunk
      let nl: number
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).trimEnd()
        pending = pending.slice(nl + 1)
        if (line) this.heard(line)
      }
      if (pending.length > 8192) { this.heard(pending); pending = '' }
    })
  }

  private heard (line: string): void {
    this.stderrTail.push(line.length > STDERR_TAIL_CHARS ? `${line.slice(0, STDERR_TAIL_CHARS)}…` : line)
    if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift()
    this.options.onStderr?.(line)
  }

  private onData (chunk: Buffer): void {
    const messages = this.buffer.read(chunk, this.onBadLine, this.onOversized)
    for (const message of messages) if (!this.takeFirst?.(message)) this.onmessage?.(message)
  }

  private readonly onBadLine = (line: string, reason: string): void => this.options.onStderr?.(`(stdout, ${reason}) ${line.slice(0, 500)}`)
  private readonly onOversized = (limit: number): void => this.options.onOversized?.(limit)

  /**
   * Queues the message; everything queued in one turn of the event loop reaches the child in one
   * write. A pipe write costs a system call and a wake-up of the child: the messages of several
   * clients that arrive together share them (10-12 per write at 8x4 in the benchmark). Resolves once
   * the batch is written (or, under backpressure, drained).
   */
  send (message: JSONRPCMessage): Promise<void> {
    if (!this.child?.stdin || this.closed) return Promise.reject(this.notConnected())
    if (!this.batch) {
      const batch = this.batch = newBatch()
      setImmediate(() => this.flush(batch))
    }
    this.batch.lines.push(serializeMessage(message))
    return this.batch.promise
  }

  /** A send to a child that is gone: the SDK's own "not connected", so every caller reports the backend unavailable. */
  private notConnected (): SdkError {
    return new SdkError(SdkErrorCode.NotConnected, this.exitReason ?? 'not connected')
  }

  private flush ({ lines, resolve, reject }: Batch): void {
    this.batch = undefined
    const stdin = this.child?.stdin
    const gone = () => reject(this.notConnected())
    if (!stdin || this.closed || stdin.writableEnded || stdin.destroyed) {
      gone()
      return
    }
    if (stdin.write(lines.length === 1 ? lines[0] : lines.join(''))) {
      resolve()
      return
    }
    // backpressure: the senders wait for the child to read, or to go away
    const drained = () => { stdin.off('close', closed); resolve() }
    const closed = () => { stdin.off('drain', drained); gone() }
    stdin.once('drain', drained)
    stdin.once('close', closed)
  }

  private finish (): void {
    if (this.closed) return
    this.closed = true
    this.buffer.clear()
    // messages still queued for the next write will not be written
    if (this.batch) this.flush(this.batch)
    this.onclose?.()
  }

  /** Ends the child: closes stdin, then SIGTERM to its group, then SIGKILL. */
  async close (): Promise<void> {
    const child = this.child
    if (this.closed) return
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      await this.ended
      this.finish()
      return
    }
    this.exitReason ??= 'stopped by the gateway'
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.stdin?.end()
    const grace = this.options.killGraceMs ?? 2000
    const term = setTimeout(() => this.signal('SIGTERM'), Math.min(200, grace))
    const kill = setTimeout(() => this.signal('SIGKILL'), grace)
    term.unref()
    kill.unref()
    await exited
    clearTimeout(term)
    clearTimeout(kill)
    this.signal('SIGKILL')
    this.finish()
  }

  /** Stops reading the child's stdout: once the pipe is full, the child blocks on its writes. */
  pause (): void { this.child?.stdout?.pause() }

  resume (): void { this.child?.stdout?.resume() }

  /** Signals the whole process group, so grandchildren go too. */
  signal (signal: NodeJS.Signals): void {
    const pid = this.child?.pid
    if (pid === undefined) return
    try {
      process.kill(process.platform === 'win32' ? pid : -pid, signal)
    } catch {
      // the group is already gone
    }
  }
}
