import { describe, expect, it } from 'vitest';
import { parseEspAtArguments, quoteEspAtString } from './at-arguments.js';

describe('ESP-AT arguments', () => {
  it('parses quoted strings and bare numbers', () => {
    expect(parseEspAtArguments('2,"client_cert","client_cert.0",8,1164')).toEqual([
      { kind: 'number', value: 2 },
      { kind: 'string', value: 'client_cert' },
      { kind: 'string', value: 'client_cert.0' },
      { kind: 'number', value: 8 },
      { kind: 'number', value: 1164 },
    ]);
  });

  it('round-trips the escaped characters comma, quote and backslash', () => {
    const awkward = 'a,b"c\\d';
    expect(parseEspAtArguments(quoteEspAtString(awkward))).toEqual([{ kind: 'string', value: awkward }]);
  });

  it('rejects unterminated strings, empty arguments and junk between arguments', () => {
    expect(parseEspAtArguments('"open')).toBeUndefined();
    expect(parseEspAtArguments('1,,2')).toBeUndefined();
    expect(parseEspAtArguments('"a"x,1')).toBeUndefined();
    expect(parseEspAtArguments('1,')).toBeUndefined();
  });
});
