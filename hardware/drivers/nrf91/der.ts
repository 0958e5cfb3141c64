/**
 * The few DER pieces the nRF91 CSR handling needs: reading one TLV and writing one. Kept local because
 * hardware/ imports only src/api (design.md 2).
 */
export interface Tlv {
  tag: number;
  /** Offset of the content within the buffer. */
  start: number;
  /** Offset just past the content. */
  end: number;
  /** Offset of the tag byte. */
  offset: number;
}

export function readTlv(bytes: Uint8Array, offset: number): Tlv {
  if (offset + 2 > bytes.length) throw new RangeError('DER ends inside a header');
  const tag = bytes[offset]!;
  let length = bytes[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4 || start + count > bytes.length) throw new RangeError('bad DER length');
    length = 0;
    for (let index = 0; index < count; index++) length = length * 256 + bytes[start + index]!;
    start += count;
  }
  const end = start + length;
  if (end > bytes.length) throw new RangeError('DER content runs past the end');
  return { tag, start, end, offset };
}

export function tlv(tag: number, ...content: Uint8Array[]): Buffer {
  const body = Buffer.concat(content);
  const length = body.length;
  let header: number[];
  if (length < 0x80) header = [tag, length];
  else if (length < 0x100) header = [tag, 0x81, length];
  else if (length < 0x10000) header = [tag, 0x82, length >> 8, length & 0xff];
  else header = [tag, 0x83, length >> 16, (length >> 8) & 0xff, length & 0xff];
  return Buffer.concat([Buffer.from(header), body]);
}

export const SEQUENCE = 0x30;
export const SET = 0x31;
export const NULL_DER = Buffer.from([0x05, 0x00]);
/** ecdsa-with-SHA256, 1.2.840.10045.4.3.2 */
export const ECDSA_WITH_SHA256_OID = Buffer.from('06082a8648ce3d040302', 'hex');
