import { createInterface, type Interface } from 'node:readline'
import { Writable } from 'node:stream'
import { RegistryError } from './errors.js'
import type { Ask, InputRequest } from './inputs.js'

/**
 * Asks questions on a line-oriented input: a terminal (secrets are not echoed) or a pipe (tests, scripts:
 * one answer per line). Lines that arrive before their question are kept in order. Close it when done,
 * or an open stdin keeps the process alive.
 */
export class LinePrompter {
  private readonly rl: Interface
  private readonly lines: string[] = []
  private readonly waiting: Array<(line: string | undefined) => void> = []
  private ended = false
  private interrupted = false
  private muted = false
  private readonly write: (text: string) => void

  constructor (input: NodeJS.ReadableStream & { isTTY?: boolean }, write: (text: string) => void) {
    this.write = write
    const echo = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        if (!this.muted) write(chunk.toString())
        done()
      }
    })
    this.rl = createInterface({ input, output: echo, terminal: input.isTTY === true, crlfDelay: Infinity })
    this.rl.on('line', (line) => {
      const waiter = this.waiting.shift()
      if (waiter) waiter(line)
      else this.lines.push(line)
    })
    // Ctrl+C on a terminal in raw mode reaches readline, not the process: end the questions
    this.rl.on('SIGINT', () => {
      this.interrupted = true
      this.rl.close()
    })
    this.rl.on('close', () => {
      this.ended = true
      for (const waiter of this.waiting.splice(0)) waiter(undefined)
    })
  }

  /** The next line after writing `question`; `undefined` once the input has ended. */
  async question (question: string, secret = false): Promise<string | undefined> {
    this.write(question)
    const queued = this.lines.shift()
    if (queued !== undefined) return this.answered(queued, secret)
    if (this.ended) {
      this.write('\n')
      return undefined
    }
    this.muted = secret
    const line = await new Promise<string | undefined>((resolve) => this.waiting.push(resolve))
    this.muted = false
    if (this.interrupted) {
      this.write('\n')
      throw new RegistryError('CANCELLED', 'cancelled: nothing was written', undefined, 130)
    }
    return line === undefined ? (this.write('\n'), undefined) : this.answered(line, secret)
  }

  private answered (line: string, secret: boolean): string {
    // a terminal echoed the answer (or hid it); a pipe did not, so end the prompt's line ourselves
    if (secret || !this.rl.terminal) this.write('\n')
    return line.trim()
  }

  close (): void {
    this.rl.close()
  }
}

const KIND_NAMES: Record<InputRequest['kind'], string> = { arg: 'argument', env: 'environment variable', header: 'header' }

/** The question for one input, e.g. `WEATHER_API_KEY (env) — API key [secret, required]: `. */
export function questionFor (request: InputRequest): string {
  const { input, kind, key, problem } = request
  const notes = [input.isSecret ? 'secret' : '', input.isRequired ? 'required' : 'optional'].filter(Boolean)
  const parts = [`${key} (${KIND_NAMES[kind]})`]
  if (input.description) parts.push(`— ${input.description}`)
  let text = `${parts.join(' ')} [${notes.join(', ')}]`
  if (input.choices?.length) text += ` one of: ${input.choices.join(', ')}`
  if (input.default !== undefined) text += ` (default: ${input.default})`
  else if (input.placeholder) text += ` (e.g. ${input.placeholder})`
  return `${problem ? `  ${problem}; try again.\n` : ''}${text}: `
}

/** An `Ask` that puts each question to the prompter. */
export function promptAsk (prompter: LinePrompter): Ask {
  return (request) => prompter.question(questionFor(request), request.input.isSecret === true)
}
