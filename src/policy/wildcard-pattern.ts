/**
 * Policy patterns: `*` matches any run of characters (including `/`, so it spans topic levels) and `?` exactly
 * one; MQTT `+` and `#` are ordinary characters (aws-iot-spec.md 4, Wildcards). `${iot:ClientId}`-style variables
 * are substituted as literal text, never as wildcards. Escapes `${*}`, `${?}`, `${$}` (IAM) and `$(*)`, `$(?)`,
 * `$($)` (the IoT page's spelling) stand for the literal character.
 */

export type PatternPart =
  { kind: 'text'; text: string } | { kind: 'star' } | { kind: 'one' } | { kind: 'variable'; name: string };

export interface PatternSyntax {
  /** `*` and `?` are wildcards (Resource, StringLike, ArnLike) rather than literal characters (StringEquals). */
  wildcards: boolean;
  /** `${...}` is a policy variable; only documents of Version 2012-10-17 have them (IAM rule). */
  variables: boolean;
}

const escapable = new Set(['*', '?', '$']);

export function parsePattern(source: string, syntax: PatternSyntax): PatternPart[] {
  const parts: PatternPart[] = [];
  let text = '';
  const flushText = (): void => {
    if (text.length > 0) parts.push({ kind: 'text', text });
    text = '';
  };
  let i = 0;
  while (i < source.length) {
    const char = source[i] as string;
    const opener = source[i + 1];
    if (syntax.variables && char === '$' && (opener === '{' || opener === '(')) {
      const closer = opener === '{' ? '}' : ')';
      const escaped = source[i + 2];
      if (escaped !== undefined && escapable.has(escaped) && source[i + 3] === closer) {
        text += escaped;
        i += 4;
        continue;
      }
      const end = opener === '{' ? source.indexOf('}', i + 2) : -1;
      if (end > i + 2) {
        flushText();
        parts.push({ kind: 'variable', name: source.slice(i + 2, end).trim() });
        i = end + 1;
        continue;
      }
    }
    if (syntax.wildcards && (char === '*' || char === '?')) {
      flushText();
      parts.push({ kind: char === '*' ? 'star' : 'one' });
    } else {
      text += char;
    }
    i += 1;
  }
  flushText();
  return parts;
}

/** Index of every `${` that has no closing `}`: a fault the validator reports. */
export function findUnclosedVariable(source: string): number {
  let from = 0;
  for (;;) {
    const start = source.indexOf('${', from);
    if (start < 0) return -1;
    const end = source.indexOf('}', start + 2);
    if (end < 0) return start;
    from = end + 1;
  }
}

export function variableNames(parts: readonly PatternPart[]): string[] {
  return parts.flatMap((part) => (part.kind === 'variable' ? [part.name] : []));
}

/** A pattern with its variables filled in: text plus, when it has wildcards, which positions are wildcards. */
export interface Glob {
  readonly text: string;
  /** null: no wildcards, so matching is string equality. Otherwise 0 literal, 1 `*`, 2 `?` per position. */
  readonly kinds: Uint8Array | null;
}

const literalKind = 0;
const starKind = 1;
const oneKind = 2;

/**
 * Fills in variables through `resolve`; undefined when one of them has no value (an unresolvable variable never
 * matches: aws-iot-spec.md 4, Variables).
 */
export function buildGlob(
  parts: readonly PatternPart[],
  resolve: (name: string) => string | undefined,
  foldCase = false,
): Glob | undefined {
  let text = '';
  let wildcardPositions: number[] | undefined;
  for (const part of parts) {
    if (part.kind === 'star' || part.kind === 'one') {
      (wildcardPositions ??= []).push(text.length);
      text += part.kind === 'star' ? '*' : '?';
      continue;
    }
    const literal = part.kind === 'text' ? part.text : resolve(part.name);
    if (literal === undefined) return undefined;
    // Folded piece by piece: lower-casing can change a length, which must not move the wildcard positions.
    text += foldCase ? literal.toLowerCase() : literal;
  }
  if (wildcardPositions === undefined) return { text, kinds: null };
  const kinds = new Uint8Array(text.length); // zero-filled: literalKind
  for (const position of wildcardPositions) kinds[position] = text[position] === '*' ? starKind : oneKind;
  return { text, kinds };
}

/** A glob with no variables, built once. */
export function constantGlob(parts: readonly PatternPart[], foldCase = false): Glob {
  return buildGlob(parts, () => undefined, foldCase) ?? { text: '', kinds: null };
}

export function hasVariables(parts: readonly PatternPart[]): boolean {
  return parts.some((part) => part.kind === 'variable');
}

/** `*`, `literal`, then the glob: matches a text where the glob matches after some occurrence of `literal`. */
export function afterAny(literal: string, glob: Glob): Glob {
  const kinds = new Uint8Array(1 + literal.length + glob.text.length); // zero-filled: literalKind
  kinds[0] = starKind;
  if (glob.kinds !== null) kinds.set(glob.kinds, 1 + literal.length);
  return { text: `*${literal}${glob.text}`, kinds };
}

/**
 * Greedy matching that remembers only the last `*`: at most O(pattern x subject) steps, never the exponential
 * backtracking of a naive recursive matcher (patterns come from users and fuzzers alike).
 */
export function matchGlob(glob: Glob, subject: string): boolean {
  const { text, kinds } = glob;
  if (kinds === null) return text === subject;
  const length = text.length;
  let p = 0;
  let s = 0;
  let starAt = -1;
  let starSubject = 0;
  while (s < subject.length) {
    const kind = p < length ? kinds[p] : -1;
    if (kind === oneKind || (kind === literalKind && text.charCodeAt(p) === subject.charCodeAt(s))) {
      p += 1;
      s += 1;
    } else if (kind === starKind) {
      starAt = p;
      starSubject = s;
      p += 1;
    } else if (starAt >= 0) {
      p = starAt + 1;
      starSubject += 1;
      s = starSubject;
    } else {
      return false;
    }
  }
  while (p < length && kinds[p] === starKind) p += 1;
  return p === length;
}
