import { TagFilterError } from './errors.js'

/**
 * Boolean tag filters: `web and (db or cache) and not beta`.
 *
 *   expr    := and ( ('or' | '||' | ',') and )*
 *   and     := unary ( ('and' | '&&') unary )*
 *   unary   := ('not' | '!') unary | primary
 *   primary := TAG | '(' expr ')'
 *
 * Keywords are case-insensitive; a tag is `[A-Za-z0-9_.:-]+` (the config's tag alphabet). A bad
 * filter throws a `TagFilterError` naming the 1-based position of the problem.
 */

type Node =
  | { op: 'tag', tag: string }
  | { op: 'not', arg: Node }
  | { op: 'and' | 'or', args: Node[] }

type TokenKind = 'tag' | 'and' | 'or' | 'not' | '(' | ')' | 'end'
interface Token { kind: TokenKind, text: string, position: number }

const TAG_CHAR = /[A-Za-z0-9_.:-]/
const SYMBOLS: Array<[string, TokenKind]> = [['&&', 'and'], ['||', 'or'], [',', 'or'], ['!', 'not'], ['(', '('], [')', ')']]
const KEYWORDS = new Map<string, TokenKind>([['and', 'and'], ['or', 'or'], ['not', 'not']])
/** how deep `(` and `not` may nest: a filter is a few tags, and the parser and evaluator recurse */
export const MAX_FILTER_DEPTH = 32

function tokenize (source: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < source.length) {
    const ch = source[i]
    if (/\s/.test(ch)) { i++; continue }
    const symbol = SYMBOLS.find(([s]) => source.startsWith(s, i))
    if (symbol) {
      tokens.push({ kind: symbol[1], text: symbol[0], position: i + 1 })
      i += symbol[0].length
      continue
    }
    if (!TAG_CHAR.test(ch)) {
      throw new TagFilterError(`unexpected character '${ch}' (tags use letters, digits, '_', '.', ':' and '-')`, i + 1)
    }
    const start = i
    while (i < source.length && TAG_CHAR.test(source[i])) i++
    const text = source.slice(start, i)
    tokens.push({ kind: KEYWORDS.get(text.toLowerCase()) ?? 'tag', text, position: start + 1 })
  }
  tokens.push({ kind: 'end', text: '', position: source.length + 1 })
  return tokens
}

class Parser {
  private at = 0
  private depth = 0
  constructor (private readonly tokens: Token[]) {}

  private peek (): Token { return this.tokens[this.at] }
  private next (): Token { return this.tokens[this.at++] }

  parse (): Node {
    if (this.peek().kind === 'end') throw new TagFilterError('the filter is empty', 1)
    const node = this.or()
    const rest = this.peek()
    if (rest.kind === ')') throw new TagFilterError("unexpected ')' with no '(' before it", rest.position)
    if (rest.kind !== 'end') throw new TagFilterError(`expected 'and', 'or' or the end, found '${rest.text}'`, rest.position)
    return node
  }

  private or (): Node {
    const args = [this.and()]
    while (this.peek().kind === 'or') { this.next(); args.push(this.and()) }
    return args.length === 1 ? args[0] : { op: 'or', args }
  }

  private and (): Node {
    const args = [this.unary()]
    while (this.peek().kind === 'and') { this.next(); args.push(this.unary()) }
    return args.length === 1 ? args[0] : { op: 'and', args }
  }

  private unary (): Node {
    if (this.peek().kind === 'not') { const not = this.next(); return { op: 'not', arg: this.nested(not, () => this.unary()) } }
    return this.primary()
  }

  /** `(` and `not` nest at most MAX_FILTER_DEPTH deep. */
  private nested (token: Token, parse: () => Node): Node {
    if (++this.depth > MAX_FILTER_DEPTH) throw new TagFilterError(`the filter nests deeper than ${MAX_FILTER_DEPTH} levels`, token.position)
    const node = parse()
    this.depth--
    return node
  }

  private primary (): Node {
    const token = this.next()
    if (token.kind === 'tag') return { op: 'tag', tag: token.text }
    if (token.kind === '(') {
      const inner = this.nested(token, () => this.or())
      const close = this.peek()
      if (close.kind !== ')') {
        if (close.kind === 'end') throw new TagFilterError("'(' is never closed", token.position)
        throw new TagFilterError(`expected ')' (closing the '(' at ${token.position}), found '${close.text}'`, close.position)
      }
      this.next()
      return inner
    }
    const found = token.kind === 'end' ? 'the end of the filter' : `'${token.text}'`
    throw new TagFilterError(`expected a tag, 'not' or '(', found ${found}`, token.position)
  }
}

function evaluate (node: Node, tags: ReadonlySet<string>): boolean {
  switch (node.op) {
    case 'tag': return tags.has(node.tag)
    case 'not': return !evaluate(node.arg, tags)
    case 'and': return node.args.every((a) => evaluate(a, tags))
    case 'or': return node.args.some((a) => evaluate(a, tags))
  }
}

function canonical (node: Node): string {
  switch (node.op) {
    case 'tag': return node.tag
    case 'not': return `not ${node.arg.op === 'tag' || node.arg.op === 'not' ? canonical(node.arg) : `(${canonical(node.arg)})`}`
    default: return node.args.map((a) => a.op === 'tag' || a.op === 'not' ? canonical(a) : `(${canonical(a)})`).join(` ${node.op} `)
  }
}

export interface TagFilter {
  /** the filter as written */
  source: string
  /** a normalized spelling: equal filters give equal strings (used as a cache key) */
  canonical: string
  /** whether a server carrying `tags` passes */
  matches: (tags: readonly string[]) => boolean
}

export function compileTagFilter (source: string): TagFilter {
  const tree = new Parser(tokenize(source)).parse()
  return {
    source,
    canonical: canonical(tree),
    matches: (tags) => evaluate(tree, new Set(tags))
  }
}

/** `?tags=a,b`: servers carrying any of them. */
export function anyOfTags (tags: readonly string[]): TagFilter {
  const wanted = new Set(tags)
  return {
    source: tags.join(','),
    canonical: [...wanted].sort().join(' or '),
    matches: (have) => have.some((t) => wanted.has(t))
  }
}
