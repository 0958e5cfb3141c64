import { describe, expect, it } from 'vitest';
import { formatQuectelChecksum, parseQuectelChecksum, quectelChecksum } from './upload-checksum.js';

describe('Quectel upload checksum', () => {
  it('XORs big-endian byte pairs and pads an odd last byte low: "hello" gives 6b09', () => {
    const checksum = quectelChecksum(new TextEncoder().encode('hello'));
    expect(checksum).toBe(0x6b09);
    expect(formatQuectelChecksum(checksum)).toBe('6b09');
  });

  it('is zero for no data and for a repeated word', () => {
    expect(quectelChecksum(new Uint8Array())).toBe(0);
    expect(quectelChecksum(Uint8Array.of(0x12, 0x34, 0x12, 0x34))).toBe(0);
  });

  it('prints lowercase hex without leading zeros or 0x', () => {
    expect(formatQuectelChecksum(0x00ab)).toBe('ab');
    expect(formatQuectelChecksum(0xbeef)).toBe('beef');
  });

  it('parses the printed value as hex, never as decimal', () => {
    expect(parseQuectelChecksum('2d19')).toBe(0x2d19);
    expect(parseQuectelChecksum('1187')).toBe(0x1187);
    expect(parseQuectelChecksum('0x12')).toBeUndefined();
    expect(parseQuectelChecksum('12345')).toBeUndefined();
    expect(parseQuectelChecksum('')).toBeUndefined();
  });
});
