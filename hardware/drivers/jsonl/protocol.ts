import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { z } from 'zod';

/**
 * The jsonl wire protocol, version 1: one JSON object per `\n`-terminated UTF-8 line, one request in flight.
 * Both ends (the driver and the simulator, which is the reference device) validate with these schemas,
 * so the document (docs/jsonl-protocol.md) and the code cannot drift apart silently.
 */
export const JSONL_PROTOCOL_VERSION = 1;

/**
 * Longest line the station takes from a device, `\n` included, and the reference device's line buffer
 * (its hello.maxLine). 1 KiB lets a small MCU keep one static line buffer; a full chunk line (256 bytes ->
 * 344 base64 characters plus fields) stays well under it. A device with less announces its own maxLine,
 * and the station's chunks shrink to fit it.
 */
export const MAX_LINE_BYTES = 1024;

/**
 * Largest raw payload per chunk. 256 bytes is 344 base64 characters, which fits the 1 KiB line with room
 * to spare, is one flash page on most MCUs, and takes ~22 ms at 115,200 baud, so a lost chunk is cheap to
 * resend and per-chunk timeouts stay short (protocols.md 5.2 recommends <= 256 B chunks).
 */
export const MAX_CHUNK_BYTES = 256;

/** Largest challenge the device signs; a PoP challenge is 32 bytes, the cap keeps the line bounded. */
export const MAX_CHALLENGE_BYTES = 256;

export const slotNames = ['ca', 'certificate', 'key'] as const;
export type SlotName = (typeof slotNames)[number];

/** Error codes a device may answer with (`err.code`); docs/jsonl-protocol.md section 6 explains each. */
export const deviceErrorCodes = [
  'proto.bad-json',
  'proto.line-too-long',
  'proto.version',
  'proto.unknown-cmd',
  'proto.bad-args',
  'slot.unknown',
  'slot.empty',
  'slot.protected',
  'slot.too-large',
  'storage.full',
  'write.not-begun',
  'write.offset',
  'payload.crc',
  'write.length',
  'write.digest',
  'key.none',
  'key.invalid',
  'keygen.failed',
  'refused',
  'busy',
  'internal',
] as const;
export type DeviceErrorCode = (typeof deviceErrorCodes)[number];

/** CRC-32 (IEEE 802.3, as zlib and most MCU HALs compute it) as 8 lowercase hex digits. */
export function crc32Hex(bytes: Uint8Array): string {
  return crc32(bytes).toString(16).padStart(8, '0');
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'standard base64');
const crcHex = z.string().regex(/^[0-9a-f]{8}$/, '8 lowercase hex digits');
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits');
const slot = z.enum(slotNames);
const requestId = z.number().int().min(1).max(0x7fffffff);
const byteCount = z.number().int().min(0);

/** Requests, host -> device. */
export const requestSchema = z.discriminatedUnion('cmd', [
  z.object({ id: requestId, cmd: z.literal('hello'), proto: z.number().int() }),
  z.object({ id: requestId, cmd: z.literal('keygen'), cn: z.string().max(64).optional() }),
  z.object({
    id: requestId,
    cmd: z.literal('write.begin'),
    slot,
    len: byteCount,
    sha256,
  }),
  z.object({
    id: requestId,
    cmd: z.literal('write.chunk'),
    slot,
    off: byteCount,
    data: base64,
    crc: crcHex,
  }),
  z.object({ id: requestId, cmd: z.literal('write.commit'), slot }),
  z.object({ id: requestId, cmd: z.literal('write.abort'), slot }),
  z.object({ id: requestId, cmd: z.literal('slot.digest'), slot }),
  z.object({
    id: requestId,
    cmd: z.literal('slot.read'),
    slot,
    off: byteCount,
    max: z.number().int().min(1).max(MAX_CHUNK_BYTES),
  }),
  z.object({ id: requestId, cmd: z.literal('slot.delete'), slot }),
  z.object({ id: requestId, cmd: z.literal('sign'), challenge: base64, crc: crcHex }),
]);
export type JsonlRequest = z.infer<typeof requestSchema>;
export type JsonlCommand = JsonlRequest['cmd'];

/** A response's id: the request's, or 0 when the device could not read one (bad JSON, overlong line). */
const responseId = z.number().int().min(0).max(0x7fffffff);

/** Every response carries the request id and `ok`; failures carry `err`. */
export const responseEnvelopeSchema = z.object({ id: responseId, ok: z.boolean() });

export const errorResponseSchema = z.object({
  id: responseId,
  ok: z.literal(false),
  err: z.object({ code: z.string().max(64), msg: z.string().max(512) }),
});

/** Success bodies, per command. */
export const helloResultSchema = z.object({
  proto: z.number().int(),
  device: z.string().min(1).max(64),
  model: z.string().max(64),
  fw: z.string().max(64),
  caps: z.object({
    keygen: z.boolean(),
    keyInject: z.boolean(),
    sign: z.boolean(),
    readBack: z.enum(['full', 'digest']),
  }),
  /** Capacity of each slot in bytes; a slot the device lacks is absent. */
  slots: z.partialRecord(slot, byteCount),
  maxLine: z.number().int().min(256),
  chunk: z.number().int().min(16).max(MAX_CHUNK_BYTES),
});
export type HelloResult = z.infer<typeof helloResultSchema>;

export const keygenResultSchema = z.object({ csr: base64, crc: crcHex });
export const writeChunkResultSchema = z.object({ next: byteCount });
export const writeCommitResultSchema = z.object({ len: byteCount, sha256 });
export const slotDigestResultSchema = z.object({
  present: z.boolean(),
  len: byteCount.optional(),
  sha256: sha256.optional(),
});
export const slotReadResultSchema = z.object({
  off: byteCount,
  len: byteCount,
  data: base64,
  crc: crcHex,
});
export const slotDeleteResultSchema = z.object({ existed: z.boolean() });
export const signResultSchema = z.object({ sig: base64, crc: crcHex });
export const emptyResultSchema = z.object({});

/** Serialises one message as a wire line. */
export function encodeLine(message: object): Buffer {
  return Buffer.from(`${JSON.stringify(message)}\n`, 'utf8');
}
