import { describe, expect, it } from 'vitest';
import {
  MAX_CHUNK_BYTES,
  MAX_LINE_BYTES,
  crc32Hex,
  encodeLine,
  requestSchema,
  sha256Hex,
} from './protocol.js';

describe('jsonl protocol', () => {
  it('computes CRC-32/IEEE as zlib and MCU HALs do (check value of "123456789")', () => {
    expect(crc32Hex(Buffer.from('123456789'))).toBe('cbf43926');
    expect(crc32Hex(new Uint8Array())).toBe('00000000');
  });

  it('gives SHA-256 as lowercase hex', () => {
    expect(sha256Hex(Buffer.from('abc'))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });

  it('fits the largest chunk request in one line', () => {
    const data = Buffer.alloc(MAX_CHUNK_BYTES, 0xff);
    const line = encodeLine({
      id: 0x7fffffff,
      cmd: 'write.chunk',
      slot: 'certificate',
      off: 1_000_000,
      data: data.toString('base64'),
      crc: crc32Hex(data),
    });
    expect(line.length).toBeLessThan(MAX_LINE_BYTES);
    expect(line[line.length - 1]).toBe(0x0a);
  });

  it('rejects requests with a bad slot, a bad CRC format or a missing id', () => {
    expect(requestSchema.safeParse({ id: 1, cmd: 'slot.digest', slot: 'ca' }).success).toBe(true);
    expect(requestSchema.safeParse({ id: 1, cmd: 'slot.digest', slot: 'firmware' }).success).toBe(false);
    expect(requestSchema.safeParse({ id: 1, cmd: 'sign', challenge: 'AA==', crc: 'D202EF8D' }).success).toBe(
      false,
    );
    expect(requestSchema.safeParse({ cmd: 'hello', proto: 1 }).success).toBe(false);
  });
});
