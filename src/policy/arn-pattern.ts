import {
  buildGlob,
  constantGlob,
  hasVariables,
  matchGlob,
  parsePattern,
  type Glob,
  type PatternPart,
  type PatternSyntax,
} from './wildcard-pattern.js';

/**
 * ARN patterns match segment by segment: `arn:partition:service:region:account:resource`, wildcards staying
 * inside their segment (IAM ArnLike rule); the resource segment keeps any further colons. `*` alone matches
 * every resource.
 */
export type ArnPattern = { kind: 'any' } | { kind: 'segments'; segments: ArnSegment[] };

/** A segment without variables is built into its glob once; one with variables is built per request. */
type ArnSegment = { kind: 'constant'; glob: Glob } | { kind: 'variable'; parts: PatternPart[] };

const arnSegmentCount = 6;

/** Splits at the first five colons that are not inside a `${...}` variable (variables hold colons: `iot:ClientId`). */
export function splitArnPattern(source: string): string[] {
  const segments: string[] = [];
  let start = 0;
  let depth = 0;
  for (let i = 0; i < source.length && segments.length < arnSegmentCount - 1; i += 1) {
    const char = source[i];
    if (char === '$' && source[i + 1] === '{') depth += 1;
    else if (char === '}' && depth > 0) depth -= 1;
    else if (char === ':' && depth === 0) {
      segments.push(source.slice(start, i));
      start = i + 1;
    }
  }
  segments.push(source.slice(start));
  return segments;
}

export function splitArn(arn: string): string[] {
  const segments: string[] = [];
  let start = 0;
  for (let i = 0; i < arn.length && segments.length < arnSegmentCount - 1; i += 1) {
    if (arn.charCodeAt(i) === 58 /* : */) {
      segments.push(arn.slice(start, i));
      start = i + 1;
    }
  }
  segments.push(arn.slice(start));
  return segments;
}

export function isWellFormedArnPattern(source: string): boolean {
  return source === '*' || (source.startsWith('arn:') && splitArnPattern(source).length === arnSegmentCount);
}

export function parseArnPattern(source: string, syntax: PatternSyntax): ArnPattern {
  if (source === '*') return { kind: 'any' };
  return {
    kind: 'segments',
    segments: splitArnPattern(source).map((segment): ArnSegment => {
      const parts = parsePattern(segment, syntax);
      return hasVariables(parts)
        ? { kind: 'variable', parts }
        : { kind: 'constant', glob: constantGlob(parts) };
    }),
  };
}

export type ArnMatch = 'match' | 'no-match' | 'unresolved';

/** `arnSegments` is the subject already cut by splitArn, so a request is split once for all statements. */
export function matchArnPattern(
  pattern: ArnPattern,
  arnSegments: readonly string[],
  resolve: (name: string) => string | undefined,
): ArnMatch {
  if (pattern.kind === 'any') return 'match';
  if (pattern.segments.length !== arnSegments.length) return 'no-match';
  let outcome: ArnMatch = 'match';
  for (let i = 0; i < pattern.segments.length; i += 1) {
    const segment = pattern.segments[i] as ArnSegment;
    const glob = segment.kind === 'constant' ? segment.glob : buildGlob(segment.parts, resolve);
    if (glob === undefined) return 'unresolved';
    if (outcome === 'match' && !matchGlob(glob, arnSegments[i] as string)) outcome = 'no-match';
  }
  return outcome;
}
