import { describe, expect, it } from 'vitest';
import { typedIntoSecret } from './open-station.js';

const typed = (keys: string) => [...keys].reduce(typedIntoSecret, '');

describe('typedIntoSecret', () => {
  it('takes DEL and BS alike as backspace', () => {
    expect(typed('12\u007f3')).toBe('13');
    expect(typed('12\b3')).toBe('13');
    expect(typed('\b\u007f4')).toBe('4');
  });

  it('clears what was typed on Ctrl+U', () => {
    expect(typed('wrong\u0015right')).toBe('right');
    expect(typed('gone\u0015')).toBe('');
  });
});
