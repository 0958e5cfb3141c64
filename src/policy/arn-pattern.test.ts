import { describe, expect, it } from 'vitest';
import {
  isWellFormedArnPattern,
  matchArnPattern,
  parseArnPattern,
  splitArn,
  type ArnPatternUse,
} from './arn-pattern.js';

const syntax = { wildcards: true, variables: true };
const matchAs =
  (use: ArnPatternUse) =>
  (pattern: string, arn: string, values: Record<string, string> = {}): string =>
    matchArnPattern(parseArnPattern(pattern, syntax, use), splitArn(arn), (name) => values[name]);
const match = matchAs('condition');
const matchResource = matchAs('resource');

describe('ARN patterns', () => {
  it('matches segment by segment, the resource keeping its colons', () => {
    for (const matcher of [match, matchResource]) {
      expect(
        matcher('arn:aws:iot:*:123456789012:topic/a', 'arn:aws:iot:eu-west-1:123456789012:topic/a'),
      ).toBe('match');
      expect(matcher('arn:aws:iot:us-east-1:*:topic/a:b', 'arn:aws:iot:us-east-1:1:topic/a:b')).toBe('match');
    }
  });

  it('keeps a wildcard inside its segment in an ArnLike value', () => {
    expect(match('arn:aws:iot:*:topic/x', 'arn:aws:iot:r:1:topic/x')).toBe('no-match');
  });

  it('does not split at the colon of a variable name', () => {
    expect(
      match('arn:aws:iot:us-east-1:1:client/${iot:ClientId}', 'arn:aws:iot:us-east-1:1:client/dev', {
        'iot:ClientId': 'dev',
      }),
    ).toBe('match');
  });

  it('reports a variable without a value as unresolved, not as a mismatch', () => {
    expect(
      match('arn:aws:iot:us-east-1:1:client/${iot:ClientId}', 'arn:aws:iot:us-east-1:1:client/dev'),
    ).toBe('unresolved');
    expect(matchResource('arn:aws:iot:*:client/${iot:ClientId}', 'arn:aws:iot:us-east-1:1:client/dev')).toBe(
      'unresolved',
    );
  });

  it('lets a lone * match any resource', () => {
    expect(match('*', 'arn:aws:iot:us-east-1:1:client/dev')).toBe('match');
    expect(match('*', '*')).toBe('match');
  });

  it('accepts * and six-segment ARNs as well formed, nothing else', () => {
    expect(isWellFormedArnPattern('*', 'condition')).toBe(true);
    expect(isWellFormedArnPattern('arn:aws:iot:us-east-1:1:topic/${iot:ClientId}', 'condition')).toBe(true);
    expect(isWellFormedArnPattern('arn:aws:iot:*', 'condition')).toBe(false);
    expect(isWellFormedArnPattern('topic/foo', 'condition')).toBe(false);
  });
});

// IAM Resource element: "If the * wildcard is the last character of a resource ARN segment, it can expand to
// match beyond the colon boundaries."
describe('ARN patterns in Resource and NotResource', () => {
  const topicA = 'arn:aws:iot:us-east-1:123456789012:topic/a';

  it('accept fewer than six segments when one of them ends in *', () => {
    for (const pattern of ['arn:aws:iot:*', 'arn:aws:iot:us-east-1:*', 'arn:aws:iot:*:topic/a', 'arn:*']) {
      expect(isWellFormedArnPattern(pattern, 'resource', syntax), pattern).toBe(true);
    }
    expect(isWellFormedArnPattern('arn:aws:iot:us-east-1', 'resource', syntax)).toBe(false);
    expect(isWellFormedArnPattern('arn:aws:iot:us-east-1:topic/*', 'resource', syntax)).toBe(true);
    // An escaped star is a literal character, not a wildcard.
    expect(isWellFormedArnPattern('arn:aws:iot:${*}', 'resource', syntax)).toBe(false);
    expect(isWellFormedArnPattern('topic/*', 'resource', syntax)).toBe(false);
  });

  it('let a * that ends a segment span colons', () => {
    expect(matchResource('arn:aws:iot:*', topicA)).toBe('match');
    expect(matchResource('arn:aws:iot:us-east-1:*', topicA)).toBe('match');
    expect(matchResource('arn:aws:iot:us-east-1:*', 'arn:aws:iot:eu-west-1:123456789012:topic/a')).toBe(
      'no-match',
    );
    expect(matchResource('arn:aws:iot:*:topic/a', topicA)).toBe('match');
    expect(matchResource('arn:aws:iot:*:topic/a', 'arn:aws:iot:us-east-1:123456789012:topic/b')).toBe(
      'no-match',
    );
    expect(matchResource('arn:aws:iot:us-*:topic/*', topicA)).toBe('match');
    expect(matchResource('arn:aws:iot:*', 'arn:aws:s3:::bucket')).toBe('no-match');
  });

  it('keep every other wildcard inside its segment', () => {
    expect(matchResource('arn:aws:iot:us-east-1*:a*b', 'arn:aws:iot:us-east-1:1:axb')).toBe('match');
    expect(matchResource('arn:aws:iot:us-east-1*:a*b', 'arn:aws:iot:us-east-1:1:a:b')).toBe('no-match');
    expect(matchResource('arn:aws:iot:us-east-1*:1?2', 'arn:aws:iot:us-east-1:1:2')).toBe('no-match');
  });

  it('stay linear in the colons of a long ARN', () => {
    const arn = `arn:aws:iot:r:1:topic/${'a:'.repeat(20000)}b`;
    const started = performance.now();
    expect(matchResource('arn:*:*:*:*:c', arn)).toBe('no-match');
    expect(matchResource('arn:*:*:*:*:b', arn)).toBe('match');
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
