import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Test } from 'tap'
import { BIN } from './cli-helpers.js'
import { ECHO_SERVER, uncoveredChildEnv, waitFor } from './helpers.js'
import type { ServerConfig } from '../schemas/config.js'

/** A real `1mcp serve` process: its output so far, and how it ended. */
export interface ServeProcess {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  /** resolves with the exit code (or the signal) once the process has ended; bounded by `timeoutMs` */
  exited: (timeoutMs?: number) => Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /** the base URL from the listen line */
  base: (timeoutMs?: number) => Promise<string>
}

/** Starts `node bin/1mcp.mjs serve ARGS` (the real CLI); killed at teardown if still running. */
export function startServe (t: Test, args: string[], env: NodeJS.ProcessEnv = {}): ServeProcess {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: uncoveredChildEnv(env) })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { err += chunk })
  const ended = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    async exited (timeoutMs = 15_000) {
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`the gateway was still running ${timeoutMs} ms later; its stderr: ${err}`)), timeoutMs)
      })
      try {
        const [code, signal] = await Promise.race([ended, late])
        return { code, signal }
      } finally {
        clearTimeout(timer)
      }
    },
    base: (timeoutMs = 30_000) => waitFor(() => /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1], 'the listen line', timeoutMs) as Promise<string>
  }
}

/**
 * A stdio backend that leaves a grandchild behind in its process group, as `npx` wrappers and shells
 * do: `sh -c 'echo $$ > PIDFILE; sleep MARKER & exec node echo-server.mjs'`. `MARKER` is a unique sleep
 * length, so the grandchild can be found by its command line.
 */
export function backendWithGrandchild (dir: string, name: string): { config: ServerConfig, pidFile: string, marker: string } {
  const pidFile = join(dir, `${name}.pid`)
  const marker = `300.${process.pid}${Math.floor(Math.random() * 1e6)}`
  const script = `echo $$ > '${pidFile}'; sleep ${marker} & exec '${process.execPath}' '${ECHO_SERVER}'`
  return { config: { command: 'sh', args: ['-c', script], env: { FIXTURE_NAME: name } }, pidFile, marker }
}

/** The pids of the processes whose command line contains `text`. */
export function processesWith (text: string): number[] {
  const found: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cmdline = readFileSync(join('/proc', entry, 'cmdline'), 'utf8').replace(/\0/g, ' ')
      if (cmdline.includes(text) && Number(entry) !== process.pid) found.push(Number(entry))
    } catch {
      // the process ended meanwhile
    }
  }
  return found
}

/** The pid a backend wrote to its pid file, when it got that far. */
export function pidIn (file: string): number | undefined {
  return existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) : undefined
}

const HTTP_ECHO = new URL('./fixtures/http-echo.mjs', import.meta.url).pathname

/**
 * Starts the remote Streamable HTTP echo fixture on `port` (0: any), or another fixture that prints
 * `listening <port>` (`fixture`, with `env`); resolves with the child and its port.
 */
export async function startRemote (t: Test, port = 0, fixture = HTTP_ECHO, env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess, port: number }> {
  const child = spawn(process.execPath, [fixture], { env: { ...process.env, PORT: String(port), FIXTURE_NAME: 'remote', ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { child.kill('SIGKILL') })
  let out = ''
  child.stdout!.on('data', (chunk) => { out += chunk })
  const chosen = await waitFor(() => /listening (\d+)/.exec(out)?.[1], 'the remote fixture to listen')
  return { child, port: Number(chosen) }
}
