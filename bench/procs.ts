import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

/** A process the benchmark started; every one is stopped before the benchmark exits. */
export interface Proc {
  name: string
  child: ChildProcess
  startedAt: number
  /** the last lines it wrote to stderr, for error messages */
  stderr: string[]
  exited: Promise<void>
}

const running = new Set<Proc>()

export function start (name: string, command: string, args: string[], options: { env?: NodeJS.ProcessEnv, cwd?: string } = {}): Proc {
  const startedAt = performance.now()
  const child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'ignore', 'pipe'] })
  const stderr: string[] = []
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => {
    stderr.push(...chunk.split('\n').filter(Boolean))
    if (stderr.length > 40) stderr.splice(0, stderr.length - 40)
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const proc: Proc = { name, child, startedAt, stderr, exited }
  running.add(proc)
  void exited.then(() => running.delete(proc))
  return proc
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
export async function stop (proc: Proc, graceMs = 8000): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return
  proc.child.kill('SIGTERM')
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), graceMs)
  await proc.exited
  clearTimeout(timer)
}

export async function stopAll (): Promise<void> {
  await Promise.all([...running].map((p) => stop(p)))
}

/** A port free on loopback right now. */
export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** Polls `check` every `everyMs` until it returns a value; throws after `timeoutMs`. */
export async function poll<T> (check: () => Promise<T | undefined>, what: string, timeoutMs = 30_000, everyMs = 5): Promise<T> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const value = await check().catch(() => undefined)
    if (value !== undefined) return value
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(everyMs)
  }
}

/** Milliseconds from the process's spawn until GET `url` answers 200. */
export async function timeToHttp (proc: Proc, url: string, timeoutMs = 30_000): Promise<number> {
  return poll(async () => {
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited early: ${proc.stderr.slice(-5).join('\n')}`)
    const res = await fetch(url)
    await res.arrayBuffer()
    return res.ok ? performance.now() - proc.startedAt : undefined
  }, `${proc.name} at ${url}`, timeoutMs, 2).catch((err: Error) => {
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited with code ${proc.child.exitCode}: ${proc.stderr.slice(-5).join('\n')}`)
    throw err
  })
}

/** Resident set size of a process in MB (Linux /proc). */
export function rssMb (pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN)
  return kb / 1024
}

const TICKS_PER_SECOND = 100

/** CPU time (user + system) a process has used so far, in ms (Linux /proc; 10 ms resolution). */
export function cpuMs (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 1000 / TICKS_PER_SECOND
}
