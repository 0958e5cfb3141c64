import { describe, expect, it } from 'vitest';
import { compileCondition, parseConditionOperator, type ContextLookup } from './condition-operators.js';
import type { ContextValue } from './policy-variables.js';

function lookupOf(values: Record<string, ContextValue>): ContextLookup {
  return {
    value: (name) => values[name],
    text: (name) => {
      const value = values[name];
      return typeof value === 'string' ? value : undefined;
    },
  };
}

/** Evaluates `{"<operator>": {"<key>": values}}` against a context with `key` set to `actual`. */
function holds(
  operatorName: string,
  values: string[],
  actual: ContextValue,
  extra: Record<string, ContextValue> = {},
): boolean {
  const operator = parseConditionOperator(operatorName);
  if (typeof operator === 'string') throw new Error(operator);
  const condition = compileCondition(operator, 'test:Key', values, { wildcards: true, variables: true });
  return condition(lookupOf({ 'test:Key': actual, ...extra }));
}

describe('condition operators', () => {
  it('StringEquals compares exactly, any policy value may match', () => {
    expect(holds('StringEquals', ['a', 'b'], 'b')).toBe(true);
    expect(holds('StringEquals', ['a'], 'A')).toBe(false);
    expect(holds('StringEquals', ['a*'], 'abc')).toBe(false);
  });

  it('StringNotEquals holds when no value matches, and when the key is absent (IAM)', () => {
    expect(holds('StringNotEquals', ['a', 'b'], 'c')).toBe(true);
    expect(holds('StringNotEquals', ['a', 'b'], 'a')).toBe(false);
    expect(holds('StringNotEquals', ['a'], undefined)).toBe(true);
  });

  it('StringEqualsIgnoreCase and StringNotEqualsIgnoreCase fold case', () => {
    expect(holds('StringEqualsIgnoreCase', ['Sensor'], 'SENSOR')).toBe(true);
    expect(holds('StringNotEqualsIgnoreCase', ['Sensor'], 'sensor')).toBe(false);
  });

  it('StringLike and StringNotLike use * and ?', () => {
    expect(holds('StringLike', ['dt/*/temp'], 'dt/a/b/temp')).toBe(true);
    expect(holds('StringLike', ['dev?'], 'dev10')).toBe(false);
    expect(holds('StringNotLike', ['dev?'], 'dev10')).toBe(true);
  });

  it('substitutes variables in policy values and fails when they have no value', () => {
    expect(holds('StringEquals', ['${iot:ClientId}'], 'c1', { 'iot:ClientId': 'c1' })).toBe(true);
    expect(holds('StringEquals', ['${iot:ClientId}'], 'c1')).toBe(false);
  });

  it('Numeric operators compare numbers, not text', () => {
    expect(holds('NumericEquals', ['10'], '10.0')).toBe(true);
    expect(holds('NumericNotEquals', ['10'], '11')).toBe(true);
    expect(holds('NumericLessThan', ['10'], '9')).toBe(true);
    expect(holds('NumericLessThanEquals', ['10'], '10')).toBe(true);
    expect(holds('NumericGreaterThan', ['10'], '9')).toBe(false);
    expect(holds('NumericGreaterThanEquals', ['10'], '10')).toBe(true);
    expect(holds('NumericEquals', ['10'], 'ten')).toBe(false);
  });

  it('Date operators compare ISO 8601 dates and epoch seconds', () => {
    expect(holds('DateLessThan', ['2030-01-01T00:00:00Z'], '2029-12-31T23:59:59Z')).toBe(true);
    expect(holds('DateGreaterThan', ['2030-01-01T00:00:00Z'], '1893456000')).toBe(false);
    expect(holds('DateEquals', ['2030-01-01T00:00:00Z'], '1893456000')).toBe(true);
    expect(holds('DateNotEquals', ['2030-01-01T00:00:00Z'], '1893456001')).toBe(true);
  });

  it('Bool compares true/false case-insensitively', () => {
    expect(holds('Bool', ['true'], 'true')).toBe(true);
    expect(holds('Bool', ['true'], 'TRUE')).toBe(true);
    expect(holds('Bool', ['true'], 'false')).toBe(false);
    expect(holds('Bool', ['true'], undefined)).toBe(false);
  });

  it('IpAddress and NotIpAddress test CIDR ranges, IPv4 and IPv6', () => {
    expect(holds('IpAddress', ['203.0.113.0/24'], '203.0.113.9')).toBe(true);
    expect(holds('IpAddress', ['203.0.113.0/24'], '203.0.114.9')).toBe(false);
    expect(holds('IpAddress', ['2001:db8::/32'], '2001:db8:1::7')).toBe(true);
    expect(holds('IpAddress', ['2001:db8::/32'], '203.0.113.9')).toBe(false);
    expect(holds('NotIpAddress', ['10.0.0.0/8'], '192.0.2.1')).toBe(true);
    expect(holds('IpAddress', ['10.0.0.0/8'], 'not-an-ip')).toBe(false);
  });

  it('ArnEquals/ArnLike match ARNs segment by segment; the Not forms negate', () => {
    const arn = 'arn:aws:iot:us-east-1:123456789012:thing/sensor-7';
    expect(holds('ArnEquals', ['arn:aws:iot:*:123456789012:thing/*'], arn)).toBe(true);
    expect(holds('ArnLike', ['arn:aws:iot:us-east-1:123456789012:thing/sensor-?'], arn)).toBe(true);
    expect(holds('ArnNotEquals', ['arn:aws:iot:*:123456789012:thing/*'], arn)).toBe(false);
    expect(holds('ArnNotLike', ['arn:aws:iot:*:999999999999:thing/*'], arn)).toBe(true);
  });

  it('Null tests presence: true wants the key absent, false wants it present', () => {
    expect(holds('Null', ['true'], undefined)).toBe(true);
    expect(holds('Null', ['true'], 'x')).toBe(false);
    expect(holds('Null', ['false'], 'x')).toBe(true);
    expect(holds('Null', ['false'], [])).toBe(false);
  });

  it('IfExists passes when the key is absent and tests it when present', () => {
    expect(holds('StringEqualsIfExists', ['a'], undefined)).toBe(true);
    expect(holds('StringEqualsIfExists', ['a'], 'b')).toBe(false);
  });

  it('ForAllValues holds when every member matches, vacuously for an empty or absent set', () => {
    expect(holds('ForAllValues:StringEquals', ['LastWill'], [])).toBe(true);
    expect(holds('ForAllValues:StringEquals', ['LastWill'], undefined)).toBe(true);
    expect(holds('ForAllValues:StringEquals', ['LastWill'], ['LastWill'])).toBe(true);
    expect(holds('ForAllValues:StringEquals', ['LastWill'], ['LastWill', 'PersistentConnect'])).toBe(false);
    expect(holds('ForAllValues:StringNotEquals', ['PersistentConnect'], ['LastWill'])).toBe(true);
  });

  it('ForAnyValue needs at least one member that matches', () => {
    expect(holds('ForAnyValue:StringEquals', ['PersistentConnect'], ['LastWill', 'PersistentConnect'])).toBe(
      true,
    );
    expect(holds('ForAnyValue:StringEquals', ['PersistentConnect'], [])).toBe(false);
    expect(holds('ForAnyValue:StringEquals', ['PersistentConnect'], undefined)).toBe(false);
    expect(
      holds('ForAnyValue:StringNotEquals', ['PersistentConnect'], ['PersistentConnect', 'LastWill']),
    ).toBe(true);
  });

  it('refuses names that are not operators, and Null with qualifiers', () => {
    expect(parseConditionOperator('StringEqual')).toMatch(/unknown condition operator/);
    expect(parseConditionOperator('ForSomeValues:StringEquals')).toMatch(/unknown condition operator/);
    expect(parseConditionOperator('ForAllValues:Null')).toMatch(/Null takes/);
    expect(parseConditionOperator('NullIfExists')).toMatch(/Null takes/);
    expect(parseConditionOperator('toString')).toMatch(/unknown condition operator/);
  });

  it('refuses two set qualifiers, which IAM grammar does not allow, in either order', () => {
    for (const name of [
      'ForAllValues:ForAnyValue:StringEquals',
      'ForAnyValue:ForAllValues:StringEquals',
      'ForAllValues:ForAllValues:StringEquals',
    ]) {
      expect(parseConditionOperator(name), name).toMatch(/at most one set qualifier/);
    }
  });
});
