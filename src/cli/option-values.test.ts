import { describe, expect, it } from 'vitest';
import { parseAttributeOptions, wholeNumber, withoutByteOrderMark } from './option-values.js';

describe('wholeNumber', () => {
  it('reads a whole number at or above the minimum, and passes an absent option through', () => {
    expect(wholeNumber('quota', '500', 1)).toBe(500);
    expect(wholeNumber('seed', ' 0 ', 0)).toBe(0);
    expect(wholeNumber('days', undefined, 1)).toBeUndefined();
  });

  it('names the option and the text for anything else', () => {
    for (const text of ['abc', '1.5', '-3', '', '1e3', '99999999999999999999']) {
      expect(() => wholeNumber('quota', text, 1)).toThrow(
        expect.objectContaining({ code: 'input.invalid', field: 'quota' }),
      );
    }
    expect(() => wholeNumber('days', '0', 1)).toThrow('give a whole number of at least 1, not "0".');
  });
});

describe('parseAttributeOptions', () => {
  it('reads key=value pairs, a value keeping any further =, and a key named like an Object member', () => {
    expect(parseAttributeOptions(['color=red', 'hw=v2=rev', '__proto__=x', 'empty='])).toEqual(
      Object.fromEntries([
        ['color', 'red'],
        ['hw', 'v2=rev'],
        ['__proto__', 'x'],
        ['empty', ''],
      ]),
    );
    expect(parseAttributeOptions(undefined)).toEqual({});
  });

  it('refuses a key given twice instead of keeping one of the values', () => {
    expect(() => parseAttributeOptions(['a=1', 'b=2', 'a=2'])).toThrow(
      expect.objectContaining({
        code: 'input.invalid',
        field: 'attr',
        message: 'attr: a is given twice (a=1 and a=2); give each key once.',
      }),
    );
    // Even with the same value: each key is given once.
    expect(() => parseAttributeOptions(['a=1', 'a=1'], 'param')).toThrow('param: a is given twice');
    // An empty value is a value too (thing update removes the attribute with it).
    expect(() => parseAttributeOptions(['a=', 'a=1'])).toThrow('attr: a is given twice (a= and a=1)');
  });

  it('refuses a pair without a key', () => {
    for (const pair of ['novalue', '=1']) {
      expect(() => parseAttributeOptions([pair], 'param')).toThrow(`param: "${pair}" is not key=value.`);
    }
  });
});

describe('withoutByteOrderMark', () => {
  it('drops one leading byte order mark, and nothing else', () => {
    expect(withoutByteOrderMark('\uFEFF{"a":1}')).toBe('{"a":1}');
    expect(withoutByteOrderMark('{"a":"\uFEFF"}')).toBe('{"a":"\uFEFF"}');
  });
});
