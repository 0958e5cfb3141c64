/**
 * Minimal DER: the encoder splices certificate parts without an object model (building a certificate with
 * @peculiar/x509 costs ~2 ms, stack-notes.md 4), and the reader walks untrusted input (CSRs, chains) with
 * bounds checks, leaving interpretation to the caller.
 */
export const Tag = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  enumerated: 0x0a,
  utf8String: 0x0c,
  printableString: 0x13,
  teletexString: 0x14,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
  bmpString: 0x1e,
  sequence: 0x30,
  set: 0x31,
} as const;

/** Context-specific tag number n, constructed ([n] EXPLICIT or IMPLICIT over a constructed type). */
export const contextConstructed = (n: number): number => 0xa0 | n;
/** Context-specific tag number n, primitive ([n] IMPLICIT over a primitive type). */
export const contextPrimitive = (n: number): number => 0x80 | n;

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function lengthBytes(length: number): number[] {
  if (length < 0x80) return [length];
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

/** One TLV whose content is the concatenation of `contents`. */
export function tlv(tag: number, ...contents: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of contents) length += part.length;
  const header = lengthBytes(length);
  const out = new Uint8Array(1 + header.length + length);
  out[0] = tag;
  out.set(header, 1);
  let offset = 1 + header.length;
  for (const part of contents) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export const sequence = (...contents: Uint8Array[]): Uint8Array => tlv(Tag.sequence, ...contents);
export const set = (...contents: Uint8Array[]): Uint8Array => tlv(Tag.set, ...contents);
export const octetString = (bytes: Uint8Array): Uint8Array => tlv(Tag.octetString, bytes);
export const derNull = Uint8Array.of(Tag.null, 0);
export const derTrue = Uint8Array.of(Tag.boolean, 1, 0xff);

/** BIT STRING with no unused bits (keys, signatures, and the byte-aligned flag sets we write). */
export function bitString(bytes: Uint8Array, unusedBits = 0): Uint8Array {
  return tlv(Tag.bitString, Uint8Array.of(unusedBits), bytes);
}

/** A non-negative INTEGER from big-endian magnitude bytes, minimally encoded. */
export function unsignedInteger(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  const needsPad = trimmed.length === 0 || (trimmed[0]! & 0x80) !== 0;
  return needsPad ? tlv(Tag.integer, Uint8Array.of(0), trimmed) : tlv(Tag.integer, trimmed);
}

export function smallInteger(value: number): Uint8Array {
  const bytes: number[] = [];
  for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return unsignedInteger(Uint8Array.from(bytes.length === 0 ? [0] : bytes));
}

export function objectIdentifier(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map(Number);
  const bytes: number[] = [arcs[0]! * 40 + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [arc & 0x7f];
    for (let rest = Math.floor(arc / 128); rest > 0; rest = Math.floor(rest / 128)) {
      chunk.unshift(0x80 | (rest & 0x7f));
    }
    bytes.push(...chunk);
  }
  return tlv(Tag.oid, Uint8Array.from(bytes));
}

const textEncoder = new TextEncoder();
export const utf8String = (text: string): Uint8Array => tlv(Tag.utf8String, textEncoder.encode(text));
export const printableString = (text: string): Uint8Array =>
  tlv(Tag.printableString, textEncoder.encode(text));
export const ia5String = (text: string, tag: number = Tag.ia5String): Uint8Array =>
  tlv(tag, textEncoder.encode(text));

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, always seconds and Z. */
export function x509Time(date: Date): Uint8Array {
  const year = date.getUTCFullYear();
  const rest =
    pad2(date.getUTCMonth() + 1) +
    pad2(date.getUTCDate()) +
    pad2(date.getUTCHours()) +
    pad2(date.getUTCMinutes()) +
    pad2(date.getUTCSeconds()) +
    'Z';
  if (year < 2050) return tlv(Tag.utcTime, textEncoder.encode(pad2(year % 100) + rest));
  return tlv(Tag.generalizedTime, textEncoder.encode(String(year).padStart(4, '0') + rest));
}

/** Where one TLV sits in a buffer: [start, end) is the whole element, [contentStart, end) its content. */
export interface DerElement {
  readonly tag: number;
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
}

export class DerError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'DerError';
  }
}

/** Reads the TLV at `offset`, refusing indefinite lengths, non-minimal lengths and overruns of `limit`. */
export function readElement(bytes: Uint8Array, offset: number, limit = bytes.length): DerElement {
  if (offset + 2 > limit) throw new DerError('element header runs past the end', offset);
  const tag = bytes[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not used here', offset);
  const first = bytes[offset + 1]!;
  let length: number;
  let contentStart: number;
  if (first < 0x80) {
    length = first;
    contentStart = offset + 2;
  } else {
    const count = first & 0x7f;
    if (count === 0) throw new DerError('indefinite length is not DER', offset);
    if (count > 4) throw new DerError('length field too large', offset);
    if (offset + 2 + count > limit) throw new DerError('length field runs past the end', offset);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[offset + 2 + i]!;
    if (length < 0x80 || bytes[offset + 2] === 0) {
      throw new DerError('length is not minimally encoded', offset);
    }
    contentStart = offset + 2 + count;
  }
  const end = contentStart + length;
  if (end > limit) throw new DerError('element runs past its container', offset);
  return { tag, start: offset, contentStart, end };
}

/** Reads the TLV at `offset` and insists on its tag. */
export function expectElement(
  bytes: Uint8Array,
  offset: number,
  tag: number,
  what: string,
  limit = bytes.length,
): DerElement {
  const element = readElement(bytes, offset, limit);
  if (element.tag !== tag) {
    throw new DerError(
      `${what}: expected tag 0x${tag.toString(16)}, found 0x${element.tag.toString(16)}`,
      offset,
    );
  }
  return element;
}

/** The elements directly inside a constructed element, which must fill it exactly. */
export function childrenOf(bytes: Uint8Array, parent: DerElement): DerElement[] {
  const children: DerElement[] = [];
  let offset = parent.contentStart;
  while (offset < parent.end) {
    const child = readElement(bytes, offset, parent.end);
    children.push(child);
    offset = child.end;
  }
  return children;
}

export const contentOf = (bytes: Uint8Array, element: DerElement): Uint8Array =>
  bytes.subarray(element.contentStart, element.end);
export const wholeOf = (bytes: Uint8Array, element: DerElement): Uint8Array =>
  bytes.subarray(element.start, element.end);

export function decodeObjectIdentifier(content: Uint8Array): string {
  if (content.length === 0) throw new DerError('empty object identifier', 0);
  const arcs: number[] = [];
  let value = 0;
  let arcStart = true;
  for (const byte of content) {
    // X.690 8.19.2: an arc starting with 0x80 is padded, so the same OID would have two encodings.
    if (arcStart && byte === 0x80) throw new DerError('object identifier arc is not minimally encoded', 0);
    value = value * 128 + (byte & 0x7f);
    arcStart = (byte & 0x80) === 0;
    if (arcStart) {
      arcs.push(value);
      value = 0;
    }
  }
  // A last byte with its high bit set leaves an arc unfinished: read as the OID without it, a damaged
  // curve identifier would pass for P-256.
  if (!arcStart) throw new DerError('object identifier ends inside an arc', 0);
  const first = arcs.shift()!;
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...arcs].join('.');
}

/** Content of a BIT STRING whose bits are whole bytes (keys and signatures). */
export function bitStringBytes(bytes: Uint8Array, element: DerElement): Uint8Array {
  const content = contentOf(bytes, element);
  if (content.length === 0 || content[0] !== 0) {
    throw new DerError('bit string does not hold whole bytes', element.start);
  }
  return content.subarray(1);
}

const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf16be = new TextDecoder('utf-16be', { fatal: true });

/** Text of a directory string (the string types seen in X.500 names). */
export function decodeString(tag: number, content: Uint8Array): string {
  switch (tag) {
    case Tag.utf8String:
      return utf8.decode(content);
    case Tag.printableString:
    case Tag.ia5String:
    case Tag.teletexString:
      return latin1.decode(content);
    case Tag.bmpString:
      return utf16be.decode(content);
    default:
      throw new DerError(`unsupported string type 0x${tag.toString(16)}`, 0);
  }
}

export function decodeTime(bytes: Uint8Array, element: DerElement): Date {
  const text = latin1.decode(contentOf(bytes, element));
  const match =
    element.tag === Tag.utcTime
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
      : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!match) throw new DerError(`unreadable time '${text}'`, element.start);
  const [, y, mo, d, h, mi, s] = match.map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const year = element.tag === Tag.utcTime ? (y >= 50 ? 1900 + y : 2000 + y) : y;
  return new Date(Date.UTC(year, mo - 1, d, h, mi, s));
}
