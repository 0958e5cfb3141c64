import { describe, expect, it } from 'vitest';
import type { ResourcePlan } from '../api/templates.js';
import { evaluateTemplate, parseTemplate, validateTemplate, type ParseOptions } from './index.js';
import { maxExpressionDepth, splitSubText } from './parse-expression.js';

const parameters = {
  Serial: { Type: 'String' },
  Csv: { Type: 'String', Default: 'a,b,c' },
  Location: { Type: 'String', Default: 'Seattle' },
};
const mappings = { Table: { Seattle: { Url: 'https://example.aws', Groups: ['g1', 'g2'] } } };

/** A template whose DeviceConfiguration.Value is the expression under test. */
function withValue(value: unknown, options?: ParseOptions) {
  return parseTemplate(
    JSON.stringify({
      Parameters: parameters,
      Mappings: mappings,
      Resources: { p: { Type: 'AWS::IoT::Policy', Properties: { PolicyName: 'p' } } },
      DeviceConfiguration: { Value: value },
    }),
    options,
  );
}

function staticFaults(value: unknown): string[] {
  const parsed = withValue(value);
  return parsed.ok ? [] : parsed.errors.map((issue) => `${issue.path}: ${issue.message}`);
}

function evaluate(value: unknown, dictionary: Record<string, unknown> = { Serial: 'SN1' }): string {
  const parsed = withValue(value);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const evaluated = evaluateTemplate(parsed.value, { parameters: dictionary });
  if (!evaluated.ok)
    throw new Error(evaluated.errors.map((issue) => `${issue.path}: ${issue.message}`).join('\n'));
  return (evaluated.value as ResourcePlan).deviceConfiguration.Value ?? '';
}

describe('intrinsic functions: evaluation', () => {
  it('Ref reads the dictionary, then the Default', () => {
    expect(evaluate({ Ref: 'Serial' })).toBe('SN1');
    expect(evaluate({ Ref: 'Location' })).toBe('Seattle');
  });

  it('Fn::Join joins a list; an empty delimiter concatenates', () => {
    expect(evaluate({ 'Fn::Join': ['', ['ThingPrefix_', { Ref: 'Serial' }]] })).toBe('ThingPrefix_SN1');
    expect(evaluate({ 'Fn::Join': ['-', { 'Fn::Split': [',', { Ref: 'Csv' }] }] })).toBe('a-b-c');
  });

  it('Fn::Select picks from a literal list, a split or a mapped list', () => {
    expect(evaluate({ 'Fn::Select': [1, { 'Fn::Split': [',', { Ref: 'Csv' }] }] })).toBe('b');
    expect(evaluate({ 'Fn::Select': ['0', ['x', 'y']] })).toBe('x');
    expect(evaluate({ 'Fn::Select': [1, { 'Fn::FindInMap': ['Table', 'Seattle', 'Groups'] }] })).toBe('g2');
  });

  it('Fn::FindInMap takes keys from parameters', () => {
    expect(evaluate({ 'Fn::FindInMap': ['Table', { Ref: 'Location' }, 'Url'] })).toBe('https://example.aws');
  });

  it('Fn::Sub substitutes parameters and its own variables; ${!X} stays literal', () => {
    expect(evaluate({ 'Fn::Sub': 'thing/${Serial}/${!Literal}' })).toBe('thing/SN1/${Literal}');
    expect(
      evaluate({ 'Fn::Sub': ['${Prefix}-${Serial}', { Prefix: { 'Fn::Select': [0, ['dev', 'prod']] } }] }),
    ).toBe('dev-SN1');
    expect(evaluate({ 'Fn::Sub': 'no placeholders, ${unclosed' })).toBe('no placeholders, ${unclosed');
  });

  it('names the parameter that has neither a value nor a Default', () => {
    expect(() => evaluate({ Ref: 'Serial' }, {})).toThrow(
      'DeviceConfiguration.Value: parameter "Serial" has no value and no Default',
    );
  });

  it('takes an explicit "" as the value, not the Default (aws-iot-spec.md 1, OPEN)', () => {
    expect(evaluate({ 'Fn::Join': ['', ['[', { Ref: 'Location' }, ']']] }, { Location: '' })).toBe('[]');
  });

  it('reports an index out of range at run time with the list length', () => {
    expect(() => evaluate({ 'Fn::Select': [5, { 'Fn::Split': [',', { Ref: 'Csv' }] }] })).toThrow(
      'DeviceConfiguration.Value: Fn::Select index 5 out of range (list has 3)',
    );
  });

  it('reports a mapping key the parameter does not match', () => {
    expect(() => evaluate({ 'Fn::FindInMap': ['Table', { Ref: 'Serial' }, 'Url'] })).toThrow(
      'Fn::FindInMap: mapping "Table" has no key "SN1"',
    );
  });

  it('reports a mapped list where a string is needed', () => {
    expect(() => evaluate({ 'Fn::FindInMap': ['Table', 'Seattle', 'Groups'] })).toThrow(
      'DeviceConfiguration.Value: yields a list of 2 where a string is needed',
    );
  });

  it('refuses dictionary values that are not strings or are longer than AWS allows', () => {
    expect(() => evaluate({ Ref: 'Serial' }, { Serial: 7 })).toThrow(
      'parameters.Serial: a parameter value must be a string',
    );
    expect(() => evaluate({ Ref: 'Serial' }, { Serial: 'x'.repeat(4097) })).toThrow(
      'at most 4096 characters',
    );
  });

  it('caps what Fn::Sub can build, so a hostile template cannot exhaust memory', () => {
    const repeated = '${Big}'.repeat(40);
    expect(() =>
      evaluate({ 'Fn::Sub': [repeated, { Big: { Ref: 'Serial' } }] }, { Serial: 'x'.repeat(4096) }),
    ).toThrow('Fn::Sub yields more than 65536 characters');
  });
});

describe('intrinsic functions: validation', () => {
  it('refuses undocumented functions, naming the path', () => {
    expect(staticFaults({ 'Fn::If': ['c', 'a', 'b'] })).toEqual([
      'DeviceConfiguration.Value: Fn::If is not supported in AWS IoT provisioning templates (only Ref, Fn::Join, Fn::Select, Fn::Split, Fn::FindInMap, Fn::Sub)',
    ]);
    expect(staticFaults({ 'Fn::GetAtt': ['thing', 'Arn'] })[0]).toMatch(/Fn::GetAtt is not supported/);
  });

  it('refuses a function object with more than one key', () => {
    expect(staticFaults({ Ref: 'Serial', Other: 1 })).toEqual([
      'DeviceConfiguration.Value: a function call holds exactly one key, found Ref, Other',
    ]);
  });

  it('checks arity and argument shapes', () => {
    expect(staticFaults({ 'Fn::Join': [''] })).toEqual([
      'DeviceConfiguration.Value: Fn::Join takes 2 arguments [delimiter, [values]], found 1',
    ]);
    expect(staticFaults({ 'Fn::Join': [{ Ref: 'Serial' }, ['a']] })).toEqual([
      'DeviceConfiguration.Value.Fn::Join[0]: Fn::Join delimiter must be a literal string, found an object',
    ]);
    expect(staticFaults({ 'Fn::Select': 'x' })).toEqual([
      'DeviceConfiguration.Value: Fn::Select takes a list [index, list], found a string',
    ]);
    expect(staticFaults({ 'Fn::FindInMap': ['Table', 'Seattle'] })[0]).toMatch(/takes 3 arguments/);
    expect(staticFaults({ 'Fn::Join': ['', { 'Fn::Split': ['', 'abc'] }] })).toEqual([
      'DeviceConfiguration.Value.Fn::Join[1].Fn::Split[0]: Fn::Split delimiter is empty',
    ]);
    expect(staticFaults({ Ref: ['Serial'] })).toEqual([
      'DeviceConfiguration.Value: Ref takes a parameter name, found a list',
    ]);
  });

  it('enforces CloudFormation nesting: a list function where a string goes, a string where a list goes', () => {
    expect(staticFaults({ 'Fn::Split': [',', 'a,b'] })).toEqual([
      'DeviceConfiguration.Value: Fn::Split cannot stand where a string is expected (allowed: Ref, Fn::Join, Fn::Select, Fn::Sub, Fn::FindInMap)',
    ]);
    expect(staticFaults({ 'Fn::Join': [',', { Ref: 'Csv' }] })).toEqual([
      'DeviceConfiguration.Value.Fn::Join[1]: Ref cannot stand where a list of strings is expected (allowed: Fn::Split, Fn::FindInMap)',
    ]);
    expect(staticFaults({ 'Fn::Select': [{ 'Fn::Join': ['', ['1']] }, ['a', 'b']] })[0]).toMatch(
      /Fn::Join cannot stand where a list index is expected/,
    );
  });

  it('reports a literal Fn::Select index out of range before evaluation', () => {
    expect(staticFaults({ 'Fn::Select': [3, ['a', 'b']] })).toEqual([
      'DeviceConfiguration.Value: Fn::Select index 3 out of range (list has 2)',
    ]);
    expect(staticFaults({ 'Fn::Select': ['one', ['a']] })[0]).toMatch(/index "one" is not a whole number/);
    expect(staticFaults({ 'Fn::Select': [-1, ['a']] })[0]).toMatch(/a list index must be a whole number/);
  });

  it('refuses Refs to nothing, to resources and to unknown AWS:: names', () => {
    expect(staticFaults({ Ref: 'Nothing' })).toEqual([
      'DeviceConfiguration.Value: Ref "Nothing" names no parameter declared in Parameters',
    ]);
    expect(staticFaults({ Ref: 'p' })).toEqual([
      'DeviceConfiguration.Value: Ref "p" names a resource; in AWS IoT templates Ref names a parameter',
    ]);
    expect(staticFaults({ Ref: 'AWS::Region' })).toEqual([
      'DeviceConfiguration.Value: Ref "AWS::Region" is not a built-in parameter of AWS IoT templates',
    ]);
    expect(staticFaults({ Ref: 'AWS::IoT::Certificate::Id' })).toEqual([]);
  });

  it('lets undeclared Refs through only when told to read them from the dictionary', () => {
    const parsed = withValue({ Ref: 'Nothing' }, { undeclaredParameters: 'from-dictionary' });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    const evaluated = evaluateTemplate(parsed.value, { parameters: { Nothing: 'found' } });
    expect(evaluated.ok && evaluated.value.deviceConfiguration.Value).toBe('found');
  });

  it('checks Fn::Sub placeholders: declared names, no attributes, no empty ones', () => {
    expect(staticFaults({ 'Fn::Sub': '${Missing}' })).toEqual([
      'DeviceConfiguration.Value.Fn::Sub: Fn::Sub ${Missing} names no parameter declared in Parameters',
    ]);
    expect(staticFaults({ 'Fn::Sub': '${thing.Arn}' })[0]).toMatch(
      /reads a resource attribute \(Fn::GetAtt\)/,
    );
    expect(staticFaults({ 'Fn::Sub': 'a${}b' })[0]).toMatch(/empty \$\{\} placeholder/);
    expect(staticFaults({ 'Fn::Sub': ['${a}', ['not an object']] })[0]).toMatch(
      /variables must be an object/,
    );
  });

  it('checks literal FindInMap keys against Mappings', () => {
    expect(staticFaults({ 'Fn::FindInMap': ['Nope', 'Seattle', 'Url'] })).toEqual([
      'DeviceConfiguration.Value.Fn::FindInMap[0]: Fn::FindInMap: no mapping named "Nope" in Mappings',
    ]);
    expect(staticFaults({ 'Fn::FindInMap': ['Table', 'Berlin', 'Url'] })[0]).toMatch(/has no key "Berlin"/);
    expect(staticFaults({ 'Fn::FindInMap': ['Table', 'Seattle', 'Nope'] })[0]).toMatch(
      /"Table.Seattle" has no key "Nope"/,
    );
  });

  it(`refuses nesting deeper than ${maxExpressionDepth} levels instead of exhausting the stack`, () => {
    let value: unknown = { Ref: 'Serial' };
    for (let level = 0; level < 40; level += 1) value = { 'Fn::Join': ['', [value]] };
    expect(
      validateTemplate(
        JSON.stringify({
          Parameters: parameters,
          Resources: { p: { Type: 'AWS::IoT::Policy', Properties: { PolicyName: 'p' } } },
          DeviceConfiguration: { Value: value },
        }),
      )[0]?.message,
    ).toBe(`nested more than ${maxExpressionDepth} levels deep`);
  });
});

describe('splitSubText', () => {
  it('separates text, variables and ${!} escapes', () => {
    expect(splitSubText('a${X}b${!Y}c${Z')).toEqual([
      { kind: 'text', text: 'a' },
      { kind: 'variable', name: 'X' },
      { kind: 'text', text: 'b${Y}c${Z' },
    ]);
  });
});
