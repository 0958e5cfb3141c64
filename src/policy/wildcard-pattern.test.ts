import { describe, expect, it } from 'vitest';
import {
  buildGlob,
  findUnclosedVariable,
  matchGlob,
  parsePattern,
  type PatternSyntax,
} from './wildcard-pattern.js';

const resourceSyntax: PatternSyntax = { wildcards: true, variables: true };

function matches(pattern: string, subject: string, values: Record<string, string> = {}): boolean {
  const glob = buildGlob(parsePattern(pattern, resourceSyntax), (name) => values[name]);
  if (glob === undefined) throw new Error(`unresolved variable in ${pattern}`);
  return matchGlob(glob, subject);
}

describe('policy wildcards', () => {
  it('lets * span topic levels, slashes included', () => {
    expect(matches('some/*/topic', 'some/a/b/topic')).toBe(true);
    expect(matches('a/*', 'a/restricted/deep/level')).toBe(true);
    expect(matches('a/*', 'b/x')).toBe(false);
  });

  it('lets * match nothing at all', () => {
    expect(matches('dt/*', 'dt/')).toBe(true);
    expect(matches('*', '')).toBe(true);
  });

  it('lets ? match exactly one character', () => {
    expect(matches('dev?', 'dev1')).toBe(true);
    expect(matches('dev?', 'dev')).toBe(false);
    expect(matches('dev?', 'dev12')).toBe(false);
  });

  it('treats MQTT + and # as ordinary characters', () => {
    expect(matches('some/+/topic', 'some/+/topic')).toBe(true);
    expect(matches('some/+/topic', 'some/sensor/topic')).toBe(false);
    expect(matches('a/#', 'a/b')).toBe(false);
  });

  it('reads ${*}, ${?}, ${$} and $(*) as the literal characters', () => {
    expect(matches('a/${*}', 'a/*')).toBe(true);
    expect(matches('a/${*}', 'a/b')).toBe(false);
    expect(matches('q${?}', 'q?')).toBe(true);
    expect(matches('${$}aws/x', '$aws/x')).toBe(true);
    expect(matches('a/$(*)', 'a/*')).toBe(true);
    expect(matches('a/$(*)', 'a/b')).toBe(false);
  });

  it('keeps a $ that starts no escape or variable, as in $aws topics', () => {
    expect(matches('$aws/certificates/create/*', '$aws/certificates/create/json')).toBe(true);
  });

  it('substitutes variable values literally, never as wildcards', () => {
    expect(matches('my/${iot:ClientId}/topic', 'my/+/topic', { 'iot:ClientId': '+' })).toBe(true);
    expect(matches('my/${iot:ClientId}', 'my/anything', { 'iot:ClientId': '*' })).toBe(false);
    expect(matches('my/${iot:ClientId}', 'my/*', { 'iot:ClientId': '*' })).toBe(true);
  });

  it('yields no glob when a variable has no value', () => {
    expect(buildGlob(parsePattern('a/${iot:ClientId}', resourceSyntax), () => undefined)).toBeUndefined();
  });

  it('keeps ${...} as text where variables do not exist (Version 2008-10-17)', () => {
    const glob = buildGlob(
      parsePattern('a/${iot:ClientId}', { wildcards: true, variables: false }),
      () => 'x',
    );
    expect(glob && matchGlob(glob, 'a/${iot:ClientId}')).toBe(true);
  });

  it('treats * and ? literally when wildcards are off (StringEquals)', () => {
    const glob = buildGlob(parsePattern('a*?', { wildcards: false, variables: true }), () => undefined);
    expect(glob && matchGlob(glob, 'a*?')).toBe(true);
    expect(glob && matchGlob(glob, 'abc')).toBe(false);
  });

  it('decides a pattern built to make backtracking matchers explode', () => {
    const pattern = `${'a*'.repeat(60)}b`;
    expect(matches(pattern, 'a'.repeat(5000))).toBe(false);
    expect(matches(pattern, `${'a'.repeat(5000)}b`)).toBe(true);
  });

  it('finds a variable opened but never closed', () => {
    expect(findUnclosedVariable('topic/${iot:ClientId')).toBe(6);
    expect(findUnclosedVariable('topic/${iot:ClientId}/x')).toBe(-1);
  });
});
