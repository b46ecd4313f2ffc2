/**
 * A small evaluator for the part of CloudWatch Logs' JSON filter-pattern syntax the stack uses
 * (`{ ($.a = "x") && (($.b = "y") || ($.b != "z")) }`), so tests can check what a metric filter
 * counts against sample log lines instead of only its text. Anything outside that subset throws,
 * so a pattern this cannot read fails the test rather than passing it.
 * Syntax: https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html
 */

type Node = { kind: 'and' | 'or'; left: Node; right: Node } | { kind: 'compare'; path: string[]; op: '=' | '!='; value: string | number };

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  const re = /\s*(\$(?:\.[A-Za-z_][A-Za-z0-9_]*)+|"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|&&|\|\||!=|=|\(|\)|\{|\})/y;
  let at = 0;
  while (at < text.length) {
    if (/^\s*$/.test(text.slice(at))) break;
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m) throw new Error(`unsupported filter pattern syntax at ${JSON.stringify(text.slice(at))}`);
    tokens.push(m[1]!);
    at = re.lastIndex;
  }
  return tokens;
}

export function parseJsonFilterPattern(pattern: string): Node {
  const tokens = tokenize(pattern);
  let i = 0;
  const peek = () => tokens[i];
  const take = (expected?: string) => {
    const t = tokens[i++];
    if (t === undefined || (expected !== undefined && t !== expected))
      throw new Error(`expected ${expected ?? 'a token'}, got ${t ?? 'the end'} in ${pattern}`);
    return t;
  };
  const or = (): Node => {
    let left = and();
    while (peek() === '||') {
      take();
      left = { kind: 'or', left, right: and() };
    }
    return left;
  };
  const and = (): Node => {
    let left = unary();
    while (peek() === '&&') {
      take();
      left = { kind: 'and', left, right: unary() };
    }
    return left;
  };
  const unary = (): Node => {
    if (peek() === '(') {
      take('(');
      const inner = or();
      take(')');
      return inner;
    }
    const selector = take();
    if (!selector.startsWith('$.')) throw new Error(`expected a $.selector, got ${selector}`);
    const op = take();
    if (op !== '=' && op !== '!=') throw new Error(`unsupported operator ${op}`);
    const raw = take();
    const value = raw.startsWith('"') ? (JSON.parse(raw) as string) : Number(raw);
    return { kind: 'compare', path: selector.slice(2).split('.'), op, value };
  };
  take('{');
  const root = or();
  take('}');
  if (i !== tokens.length) throw new Error(`trailing tokens in ${pattern}`);
  return root;
}

const glob = (pattern: string, value: string) =>
  new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  ).test(value);

/** Whether a JSON log event matches: quoted values compare with strings (`*` globs), numbers with numbers. */
export function matchesJsonFilterPattern(pattern: string, event: unknown): boolean {
  const evaluate = (n: Node): boolean => {
    if (n.kind !== 'compare') return n.kind === 'and' ? evaluate(n.left) && evaluate(n.right) : evaluate(n.left) || evaluate(n.right);
    let field: unknown = event;
    for (const key of n.path) field = field !== null && typeof field === 'object' ? (field as Record<string, unknown>)[key] : undefined;
    if (field === undefined) return false;
    const equal =
      typeof n.value === 'string' ? typeof field === 'string' && glob(n.value, field) : typeof field === 'number' && field === n.value;
    return n.op === '=' ? equal : !equal;
  };
  return evaluate(parseJsonFilterPattern(pattern));
}
