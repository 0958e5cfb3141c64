import { describe, expect, it } from 'vitest';
import { wholeNumber } from './option-values.js';

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
