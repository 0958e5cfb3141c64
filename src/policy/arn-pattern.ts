import {
  afterAny,
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
 * every resource. In Resource and NotResource a `*` that ends a segment may also span colons (IAM Resource
 * element), so `arn:aws:iot:*` and `arn:aws:iot:*:topic/a` stand for whole ARNs.
 */
export type ArnPattern = { kind: 'any' } | { kind: 'segments'; segments: ArnSegment[]; spansColons: boolean };

/** A segment without variables is built into its glob once; one with variables is built per request. */
type ArnSegment = ({ kind: 'constant'; glob: Glob } | { kind: 'variable'; parts: PatternPart[] }) & {
  endsWithStar: boolean;
};

/** Resource/NotResource (a segment-ending `*` spans colons) or an ArnLike/ArnEquals value (it does not). */
export type ArnPatternUse = 'resource' | 'condition';

/** A request's ARN, cut once for all the statements that look at it. */
export interface ArnSubject {
  text: string;
  segments: readonly string[];
}

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

export function splitArn(arn: string): ArnSubject {
  const segments: string[] = [];
  let start = 0;
  for (let i = 0; i < arn.length && segments.length < arnSegmentCount - 1; i += 1) {
    if (arn.charCodeAt(i) === 58 /* : */) {
      segments.push(arn.slice(start, i));
      start = i + 1;
    }
  }
  segments.push(arn.slice(start));
  return { text: arn, segments };
}

/** `*`, or an ARN of six segments; in a Resource, fewer when a segment ending in `*` stands for the rest. */
export function isWellFormedArnPattern(
  source: string,
  use: ArnPatternUse,
  syntax: PatternSyntax = { wildcards: true, variables: false },
): boolean {
  if (source === '*') return true;
  if (!source.startsWith('arn:')) return false;
  const segments = splitArnPattern(source);
  if (segments.length === arnSegmentCount) return true;
  return use === 'resource' && segments.some((segment) => endsWithStar(parsePattern(segment, syntax)));
}

export function parseArnPattern(source: string, syntax: PatternSyntax, use: ArnPatternUse): ArnPattern {
  if (source === '*') return { kind: 'any' };
  const segments = splitArnPattern(source).map((segment): ArnSegment => {
    const parts = parsePattern(segment, syntax);
    const ending = { endsWithStar: endsWithStar(parts) };
    return hasVariables(parts)
      ? { kind: 'variable', parts, ...ending }
      : { kind: 'constant', glob: constantGlob(parts), ...ending };
  });
  // Segment matching gives the same answers unless a star before the resource segment may span colons.
  const spansColons =
    use === 'resource' &&
    (segments.length < arnSegmentCount ||
      segments.slice(0, arnSegmentCount - 1).some((segment) => segment.endsWithStar));
  return { kind: 'segments', segments, spansColons };
}

function endsWithStar(parts: readonly PatternPart[]): boolean {
  return parts.at(-1)?.kind === 'star';
}

export type ArnMatch = 'match' | 'no-match' | 'unresolved';

/** `arn` is the subject already cut by splitArn, so a request is split once for all statements. */
export function matchArnPattern(
  pattern: ArnPattern,
  arn: ArnSubject,
  resolve: (name: string) => string | undefined,
): ArnMatch {
  if (pattern.kind === 'any') return 'match';
  if (pattern.spansColons) return matchSpanningPattern(pattern.segments, arn.text, resolve);
  if (pattern.segments.length !== arn.segments.length) return 'no-match';
  let outcome: ArnMatch = 'match';
  for (let i = 0; i < pattern.segments.length; i += 1) {
    const glob = segmentGlob(pattern.segments[i] as ArnSegment, resolve);
    if (glob === undefined) return 'unresolved';
    if (outcome === 'match' && !matchGlob(glob, arn.segments[i] as string)) outcome = 'no-match';
  }
  return outcome;
}

function segmentGlob(segment: ArnSegment, resolve: (name: string) => string | undefined): Glob | undefined {
  return segment.kind === 'constant' ? segment.glob : buildGlob(segment.parts, resolve);
}

function matchSpanningPattern(
  segments: readonly ArnSegment[],
  arn: string,
  resolve: (name: string) => string | undefined,
): ArnMatch {
  const globs: Glob[] = [];
  for (const segment of segments) {
    const glob = segmentGlob(segment, resolve);
    if (glob === undefined) return 'unresolved';
    globs.push(glob);
  }
  return matchAcrossColons(segments, globs, arn) ? 'match' : 'no-match';
}

/**
 * Segment i starts at one of `starts` and runs to the next colon, unless it ends in `*`: that star may take
 * any number of colons, so the next segment may start after any later colon. The resource segment takes the
 * rest of the ARN, colons included, as in segment matching; a last segment before it must reach the end.
 */
function matchAcrossColons(segments: readonly ArnSegment[], globs: readonly Glob[], arn: string): boolean {
  const last = globs.length - 1;
  let starts = [0];
  /** Set when `starts` is every position after a colon from this one on. */
  let afterAnyColonFrom: number | undefined;
  for (let i = 0; i <= last && starts.length > 0; i += 1) {
    const glob = globs[i] as Glob;
    if (i === arnSegmentCount - 1) {
      // One pass instead of one per start, which would be quadratic in the colons of a long topic.
      return afterAnyColonFrom === undefined
        ? starts.some((start) => matchGlob(glob, arn.slice(start)))
        : matchGlob(afterAny(':', glob), arn.slice(afterAnyColonFrom));
    }
    const spans = (segments[i] as ArnSegment).endsWithStar;
    const next: number[] = [];
    afterAnyColonFrom = undefined;
    for (const start of starts) {
      const colon = arn.indexOf(':', start);
      // A glob ending in `*` matches here when it matches a beginning of this colon-free run.
      if (!matchGlob(glob, arn.slice(start, colon < 0 ? arn.length : colon))) continue;
      if (i === last) {
        if (spans || colon < 0) return true;
      } else if (colon >= 0 && !spans) {
        next.push(colon + 1);
      } else if (colon >= 0) {
        // Starts are ascending, so a later one could only reach a subset of these colons.
        for (let at = colon; at >= 0; at = arn.indexOf(':', at + 1)) next.push(at + 1);
        afterAnyColonFrom = colon;
        break;
      }
    }
    starts = next;
  }
  return false;
}
