import { describe, expect, it } from 'vitest';
import { parameterSourceSchema } from '../api/jobs.js';
import { formatSequence, parseParameterList, resolveParameters, suppliedParameters } from './parameters.js';

const source = (input: unknown) => parameterSourceSchema.parse(input);

describe('formatSequence', () => {
  it('pads the number to the placeholder width', () => {
    expect(formatSequence('SN-{000000}', 42)).toBe('SN-000042');
  });
  it('keeps every digit of a number wider than the placeholder', () => {
    expect(formatSequence('SN-{00}', 1234)).toBe('SN-1234');
  });
  it('refuses a pattern without a placeholder', () => {
    expect(() => formatSequence('SN-', 1)).toThrow(/placeholder/);
  });
});

describe('resolveParameters', () => {
  it('layers constants, list row, identity, sequence and technician input, later ones winning', () => {
    const params = resolveParameters(
      source({
        constants: { Location: 'WA', ThingName: 'const' },
        identity: { SerialNumber: 'imei' },
        sequence: { parameter: 'ThingName', pattern: 'LB-{0000}' },
        list: { rows: [{ Batch: 'B7', Location: 'OR' }], assign: 'in-order' },
        operator: { parameter: 'Label', prompt: 'Scan the label' },
      }),
      { imei: '352656100367872' },
      { sequenceNumber: 7, listRow: { Batch: 'B7', Location: 'OR' }, operatorValue: ' L-1 ' },
    );
    expect(params).toEqual({
      Location: 'OR',
      Batch: 'B7',
      SerialNumber: '352656100367872',
      ThingName: 'LB-0007',
      Label: 'L-1',
    });
  });

  it('matches a list row on a device field', () => {
    const spec = source({
      list: {
        rows: [
          { Serial: 'A1', ThingName: 'alpha' },
          { Serial: 'B2', ThingName: 'bravo' },
        ],
        assign: 'match',
        matchParameter: 'Serial',
        matchIdentity: 'serialNumber',
      },
    });
    expect(resolveParameters(spec, { serialNumber: 'B2' }, {})).toEqual({ Serial: 'B2', ThingName: 'bravo' });
    // Not "no row left": a technician looks for the device's value in the list.
    expect(() => resolveParameters(spec, { serialNumber: 'C3' }, {})).toThrow(
      expect.objectContaining({
        code: 'provisioning.list-no-match',
        message: "the parameter list has no row with Serial = C3 (this device's serialNumber)",
      }),
    );
    expect(() => resolveParameters(spec, { mac: 'aa' }, {})).toThrow(
      'the device reported no serialNumber to find its row of the parameter list by',
    );
  });

  it('names the parameter when the device lacks the identity field it maps from', () => {
    expect(() =>
      resolveParameters(source({ identity: { SerialNumber: 'imei' } }), { mac: 'aa' }, {}),
    ).toThrow('the device reported no imei for parameter SerialNumber');
  });

  it('asks for the technician value when none was entered', () => {
    const spec = source({ operator: { parameter: 'Label', prompt: 'Scan the label' } });
    expect(() => resolveParameters(spec, {}, { operatorValue: '  ' })).toThrow(
      'Scan the label: no value entered',
    );
  });

  it('rejects a matching list without the fields to match on', () => {
    expect(() => source({ list: { rows: [{ a: 'b' }], assign: 'match' } })).toThrow(/matchParameter/);
  });

  it('rejects a matching list where a device could match no row or two', () => {
    const list = (rows: Record<string, string>[]) =>
      source({ list: { rows, assign: 'match', matchParameter: 'Serial', matchIdentity: 'imei' } });
    expect(() => list([{ Serial: '1' }, { ThingName: 'b' }])).toThrow(
      'row 2 has no Serial to match a device on',
    );
    expect(() => list([{ Serial: '1' }, { Serial: '2' }, { Serial: '1' }])).toThrow(
      'rows 1 and 3 both have Serial = 1; a device must match one row',
    );
    expect(list([{ Serial: '1' }, { Serial: '2' }]).list?.rows).toHaveLength(2);
    // In order, rows need no such column.
    expect(source({ list: { rows: [{ a: '1' }, { a: '1' }], assign: 'in-order' } }).list?.rows).toHaveLength(
      2,
    );
  });
});

describe('parseParameterList', () => {
  it('reads AWS bulk JSON lines and reports bad lines by number', () => {
    const text = [
      '{"ThingName":"foo","SerialNumber":"123"}',
      'not json',
      '',
      '[1]',
      '{"ThingName":5}',
      '{"ThingName":"bar"}',
    ].join('\n');
    const parsed = parseParameterList(text, 'jsonl');
    expect(parsed.rows).toEqual([{ ThingName: 'foo', SerialNumber: '123' }, { ThingName: 'bar' }]);
    expect(parsed.errors).toEqual([
      { line: 2, message: 'not valid JSON' },
      { line: 4, message: 'a line must be one JSON object of parameters' },
      { line: 5, message: 'parameter ThingName must be a string' },
    ]);
  });

  it('reads CSV with a header, quoted fields spanning lines, and reports short rows by line', () => {
    const text = 'ThingName,Note\nfoo,"two\nlines"\nbar\nbaz,ok\n';
    const parsed = parseParameterList(text, 'csv');
    expect(parsed.rows).toEqual([
      { ThingName: 'foo', Note: 'two\nlines' },
      { ThingName: 'baz', Note: 'ok' },
    ]);
    expect(parsed.errors).toEqual([{ line: 4, message: 'expected 2 columns, found 1' }]);
  });

  it('refuses CSV whose header leaves a column unnamed', () => {
    expect(parseParameterList('a,,c\n1,2,3\n', 'csv').errors[0]?.message).toMatch(/name every column/);
  });
});

describe('suppliedParameters', () => {
  it('names what every source gives: constants, identity, list columns, sequence, technician input', () => {
    const sources = source({
      constants: { Location: 'WA' },
      identity: { SerialNumber: 'imei' },
      list: { rows: [{ Batch: '1' }, { Batch: '2', Colour: 'red' }], assign: 'in-order' },
      sequence: { parameter: 'ThingName', pattern: 'SN-{000}' },
      operator: { parameter: 'Label', prompt: 'Scan the label' },
    });
    expect([...suppliedParameters(sources)].sort()).toEqual([
      'Batch',
      'Colour',
      'Label',
      'Location',
      'SerialNumber',
      'ThingName',
    ]);
  });
});
