import { describe, expect, it } from 'vitest';
import { isWellFormedArnPattern, matchArnPattern, parseArnPattern, splitArn } from './arn-pattern.js';

const syntax = { wildcards: true, variables: true };
const match = (pattern: string, arn: string, values: Record<string, string> = {}): string =>
  matchArnPattern(parseArnPattern(pattern, syntax), splitArn(arn), (name) => values[name]);

describe('ARN patterns', () => {
  it('matches segment by segment, the resource keeping its colons', () => {
    expect(match('arn:aws:iot:*:123456789012:topic/a', 'arn:aws:iot:eu-west-1:123456789012:topic/a')).toBe(
      'match',
    );
    expect(match('arn:aws:iot:us-east-1:*:topic/a:b', 'arn:aws:iot:us-east-1:1:topic/a:b')).toBe('match');
  });

  it('keeps a wildcard inside its segment', () => {
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
  });

  it('lets a lone * match any resource', () => {
    expect(match('*', 'arn:aws:iot:us-east-1:1:client/dev')).toBe('match');
    expect(match('*', '*')).toBe('match');
  });

  it('accepts * and six-segment ARNs as well formed, nothing else', () => {
    expect(isWellFormedArnPattern('*')).toBe(true);
    expect(isWellFormedArnPattern('arn:aws:iot:us-east-1:1:topic/${iot:ClientId}')).toBe(true);
    expect(isWellFormedArnPattern('arn:aws:iot:*')).toBe(false);
    expect(isWellFormedArnPattern('topic/foo')).toBe(false);
  });
});
