import { describe, expect, it } from 'vitest';
import {
  checkAttributes,
  checkDescription,
  checkSearchableAttributes,
  checkThingGroupName,
  checkThingName,
  checkThingTypeName,
} from './thing-rules.js';

function fieldOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    expect(error).toMatchObject({ code: 'input.invalid' });
    return (error as { field?: string }).field;
  }
  return undefined;
}

describe('thing names (1-128 of [a-zA-Z0-9:_-])', () => {
  it.each(['a', 'SN-0001', 'factory:line_3-bench', 'x'.repeat(128)])('accepts %s', (name) => {
    expect(checkThingName(name)).toBe(name);
  });

  it.each([
    ['empty', ''],
    ['too long', 'x'.repeat(129)],
    ['a space', 'my thing'],
    ['a slash', 'a/b'],
    ['a dot', 'a.b'],
    ['non-ASCII', 'caf\u00e9'],
  ])('refuses a name with %s, naming the field', (_case, name) => {
    expect(fieldOf(() => checkThingName(name))).toBe('thingName');
  });

  it('applies the same rule to thing type and thing group names', () => {
    expect(fieldOf(() => checkThingTypeName('a b'))).toBe('thingTypeName');
    expect(fieldOf(() => checkThingGroupName('a b'))).toBe('thingGroupName');
    expect(checkThingGroupName('line-3')).toBe('line-3');
  });
});

describe('attributes', () => {
  it('accepts the characters AWS allows in names and values', () => {
    expect(() => checkAttributes({ 'a_b.c,d@e/f:g#h-i': 'v_.,@/:#=[]-', empty: '' }, false)).not.toThrow();
  });

  it('accepts names of 128 and values of 800 characters', () => {
    expect(() => checkAttributes({ ['n'.repeat(128)]: 'v'.repeat(800) }, false)).not.toThrow();
  });

  it('refuses a name over 128 characters, naming the attribute', () => {
    const name = 'n'.repeat(129);
    expect(fieldOf(() => checkAttributes({ [name]: 'v' }, false))).toBe(`attributes.${name}`);
  });

  it('refuses an empty attribute name', () => {
    expect(fieldOf(() => checkAttributes({ '': 'v' }, false))).toBe('attributes.');
  });

  it('refuses a name with a character outside the pattern', () => {
    expect(fieldOf(() => checkAttributes({ 'col or': 'red' }, false))).toBe('attributes.col or');
    expect(fieldOf(() => checkAttributes({ 'a=b': 'red' }, false))).toBe('attributes.a=b');
  });

  it('refuses a value over 800 characters', () => {
    expect(fieldOf(() => checkAttributes({ color: 'v'.repeat(801) }, false))).toBe('attributes.color');
  });

  it('refuses a value with a character outside the pattern', () => {
    expect(fieldOf(() => checkAttributes({ color: 'dark red' }, false))).toBe('attributes.color');
    expect(fieldOf(() => checkAttributes({ color: 'r\u00f6t' }, false))).toBe('attributes.color');
  });

  it('allows 3 attributes without a thing type and refuses a 4th', () => {
    const three = { a: '1', b: '2', c: '3' };
    expect(() => checkAttributes(three, false)).not.toThrow();
    expect(fieldOf(() => checkAttributes({ ...three, d: '4' }, false))).toBe('attributes');
  });

  it('allows 50 attributes with a thing type and refuses a 51st', () => {
    const fifty = Object.fromEntries(Array.from({ length: 50 }, (_, index) => [`a${index}`, 'v']));
    expect(() => checkAttributes(fifty, true)).not.toThrow();
    expect(fieldOf(() => checkAttributes({ ...fifty, extra: 'v' }, true))).toBe('attributes');
  });
});

describe('thing type properties', () => {
  it('allows at most 3 distinct, valid searchable attributes', () => {
    expect(() => checkSearchableAttributes(['a', 'b', 'c'])).not.toThrow();
    expect(fieldOf(() => checkSearchableAttributes(['a', 'b', 'c', 'd']))).toBe('searchableAttributes');
    expect(fieldOf(() => checkSearchableAttributes(['a', 'a']))).toBe('searchableAttributes');
    expect(fieldOf(() => checkSearchableAttributes(['a b']))).toBe('searchableAttributes');
  });

  it('allows printable descriptions up to 2028 characters', () => {
    expect(() => checkDescription('description', 'Nordic nRF9160 trackers, line 3 \u00e9')).not.toThrow();
    expect(fieldOf(() => checkDescription('description', 'x'.repeat(2029)))).toBe('description');
    expect(fieldOf(() => checkDescription('description', 'two\nlines'))).toBe('description');
  });
});
