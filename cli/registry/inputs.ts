import { InvalidInputError, MissingInputError } from './errors.js'
import type { Input } from './schema.js'

/** Which flag supplies an input: `--env K=V`, `--arg K=V` (arguments and `{variables}`), `--header K=V`. */
export type InputKind = 'env' | 'arg' | 'header'

export interface InputRequest {
  kind: InputKind
  /** the K of the flag that supplies it */
  key: string
  input: Input
  /** a previous answer was refused for this reason */
  problem?: string
}

/** Asks the user for one value; `undefined` when no answer will come (stdin closed). */
export type Ask = (request: InputRequest) => Promise<string | undefined>

export type ProvidedValues = Record<InputKind, Map<string, string[]>>

const MAX_ATTEMPTS = 3

/** Parses repeated `K=V` flags into a map of K → values, in order. */
export function parsePairs (flag: string, pairs: string[] = []): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    if (eq <= 0) throw new InvalidInputError(`${flag} wants KEY=VALUE, not '${pair}'`)
    const key = pair.slice(0, eq)
    out.set(key, [...(out.get(key) ?? []), pair.slice(eq + 1)])
  }
  return out
}

export function flagFor (kind: InputKind, key: string): string {
  return `--${kind} ${key}=…`
}

/**
 * Gives each input of a registry entry its value: a fixed `value` (its `{variables}` filled in), else a
 * flag, else an answer, else the default. A required input left without a value is collected and
 * reported all at once: nothing is left silently empty.
 */
export class InputResolver {
  private readonly provided: ProvidedValues
  private readonly ask?: Ask
  private readonly used = new Set<string>()
  /** required inputs that got no value, as the flag that would give it */
  readonly missing: string[] = []
  /** optional inputs left out, as the flag that would set them */
  readonly skipped: string[] = []
  /** variables answered once are reused wherever they appear */
  private readonly variableValues = new Map<string, string>()

  constructor (provided: ProvidedValues, ask?: Ask) {
    this.provided = provided
    this.ask = ask
  }

  /** The values for one input: none (left out), one, or several for a repeated argument given several times. */
  async resolve (kind: InputKind, key: string, input: Input & { variables?: Record<string, Input>, isRepeated?: boolean }): Promise<string[]> {
    if (input.value !== undefined) return [await this.fill(input.value, input.variables ?? {})]
    const given = this.provided[kind].get(key)
    if (given !== undefined) return this.checkGiven(kind, key, input, given)
    if (this.ask && input.isRequired) {
      const answer = await this.askFor(kind, key, input)
      if (answer !== undefined) return [answer]
    }
    if (input.default !== undefined) return [input.default]
    this.noValue(kind, key, input)
    return []
  }

  /** Values given on the command line, checked against the input's rules. */
  private checkGiven (kind: InputKind, key: string, input: Input & { isRepeated?: boolean }, given: string[]): string[] {
    this.used.add(`${kind}:${key}`)
    if (given.length > 1 && !input.isRepeated) throw new InvalidInputError(`${flagFor(kind, key).split(' ')[0]} ${key} was given ${given.length} times but takes one value`)
    for (const value of given) {
      const problem = check(input, value)
      if (problem) throw new InvalidInputError(`${kind} ${key}: ${problem}`)
    }
    return given
  }

  /** Records an input left without a value: missing when required, else skipped. */
  private noValue (kind: InputKind, key: string, input: Input): void {
    if (input.isRequired) this.missing.push(`${flagFor(kind, key)}${input.description ? ` (${input.description})` : ''}`)
    else this.skipped.push(flagFor(kind, key))
  }

  /** Fills `{name}` in a template from `variables` (or from the names a URL template uses); unknown names stay as they are. */
  async fill (template: string, variables: Record<string, Input>, alsoUnlisted = false): Promise<string> {
    const names = [...template.matchAll(/\{([A-Za-z0-9_.-]+)\}/g)].map((m) => m[1])
    let out = template
    for (const name of new Set(names)) {
      const spec = variables[name] ?? (alsoUnlisted ? { isRequired: true } : undefined)
      if (spec === undefined) continue
      let value = this.variableValues.get(name)
      if (value === undefined) {
        const values = await this.resolve('arg', name, { isRequired: true, ...spec })
        if (values.length === 0) continue
        value = values[0]
        this.variableValues.set(name, value)
      }
      out = out.split(`{${name}}`).join(value)
    }
    return out
  }

  private async askFor (kind: InputKind, key: string, input: Input): Promise<string | undefined> {
    let problem: string | undefined
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const answer = await this.ask!({ kind, key, input, problem })
      if (answer === undefined) return undefined
      const value = answer === '' && input.default !== undefined ? input.default : answer
      problem = value === '' ? 'a value is required' : check(input, value)
      if (!problem) return value
    }
    throw new InvalidInputError(`${kind} ${key}: ${problem}`)
  }

  /** Flags given for inputs the entry does not have: a typo the user should hear about. */
  unused (): string[] {
    const out: string[] = []
    for (const kind of ['env', 'arg', 'header'] as const) {
      for (const key of this.provided[kind].keys()) if (!this.used.has(`${kind}:${key}`)) out.push(`--${kind} ${key}`)
    }
    return out
  }

  /** Throws when a required input got no value. */
  assertComplete (): void {
    if (this.missing.length > 0) throw new MissingInputError(this.missing)
  }
}

/** Why a value does not fit its input, or undefined when it does. */
export function check (input: Input, value: string): string | undefined {
  if (input.choices && input.choices.length > 0 && !input.choices.includes(value)) return `'${value}' is not one of ${input.choices.join(', ')}`
  if (input.format === 'number' && (value.trim() === '' || !Number.isFinite(Number(value)))) return `'${value}' is not a number`
  if (input.format === 'boolean' && value !== 'true' && value !== 'false') return `'${value}' is not true or false`
  return undefined
}
