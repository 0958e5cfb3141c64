import 'reflect-metadata';
import { createPrivateKey, createPublicKey, sign, webcrypto, type KeyObject } from 'node:crypto';
import { Pkcs10CertificateRequestGenerator } from '@peculiar/x509';
import {
  JSONL_PROTOCOL_VERSION,
  MAX_CHALLENGE_BYTES,
  MAX_CHUNK_BYTES,
  MAX_LINE_BYTES,
  crc32Hex,
  requestSchema,
  sha256Hex,
  type DeviceErrorCode,
  type HelloResult,
  type JsonlRequest,
  type SlotName,
} from './protocol.js';

/**
 * The reference jsonl device: the state and answers docs/jsonl-protocol.md specifies, with no wire in
 * it (the simulator puts it on a byte stream). A firmware team can read this file as the specification
 * in code: one handler per command, the same checks in the same order.
 */
export interface JsonlDeviceProfile {
  deviceId: string;
  model: string;
  firmware: string;
  /** Bytes each slot holds; a write.begin with a larger len is refused with slot.too-large. */
  slotCapacity: Record<SlotName, number>;
  /** The line cap announced in hello, `\n` included (at least 256); MAX_LINE_BYTES by default. */
  maxLineBytes?: number;
  /** The chunk size announced in hello (16 to 256); MAX_CHUNK_BYTES by default. */
  chunkBytes?: number;
}

export type JsonlResponse =
  | ({ id: number; ok: true } & Record<string, unknown>)
  | { id: number; ok: false; err: { code: DeviceErrorCode; msg: string } };

interface StoredSlot {
  bytes: Uint8Array;
  /** The key slot holds either a key the station wrote or one the device made (keygen). */
  origin: 'written' | 'generated';
}

interface StagedWrite {
  slot: SlotName;
  length: number;
  sha256: string;
  chunks: Buffer[];
  next: number;
}

class DeviceRefusal extends Error {
  constructor(
    readonly code: DeviceErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export class JsonlDevice {
  private readonly slots = new Map<SlotName, StoredSlot>();
  private deviceKey: KeyObject | undefined;
  private staged: StagedWrite | undefined;

  readonly maxLineBytes: number;
  readonly chunkBytes: number;

  constructor(readonly profile: JsonlDeviceProfile) {
    this.maxLineBytes = profile.maxLineBytes ?? MAX_LINE_BYTES;
    this.chunkBytes = profile.chunkBytes ?? MAX_CHUNK_BYTES;
  }

  /** Answers one request line; never throws (every failure is an error response). */
  async answer(line: Buffer): Promise<JsonlResponse> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line.toString('utf8'));
    } catch {
      return failure(0, 'proto.bad-json', 'The line is not valid JSON.');
    }
    const id = readId(parsed);
    const request = requestSchema.safeParse(parsed);
    if (!request.success) {
      const cmd = (parsed as { cmd?: unknown } | null)?.cmd;
      const known = typeof cmd === 'string' && knownCommands.has(cmd);
      return known
        ? failure(id, 'proto.bad-args', `Bad arguments: ${request.error.issues[0]?.message ?? ''}`)
        : failure(id, 'proto.unknown-cmd', `Unknown command ${JSON.stringify(cmd)}.`);
    }
    try {
      const body = await this.handle(request.data);
      return { id: request.data.id, ok: true, ...body };
    } catch (error) {
      if (error instanceof DeviceRefusal) return failure(request.data.id, error.code, error.message);
      return failure(request.data.id, 'internal', 'The device failed internally.');
    }
  }

  /** The refusal a real device gives when its storage is full (used by the storage-full fault). */
  storageFull(line: Buffer): JsonlResponse {
    return failure(readIdFromLine(line), 'storage.full', 'Credential storage is full.');
  }

  /** The refusal a real device gives when it will not do a command (used by the refuse fault). */
  refusal(line: Buffer): JsonlResponse {
    return failure(readIdFromLine(line), 'refused', 'The device refuses this command now.');
  }

  /** What a reset does: a write in progress lives in RAM only and is lost (a torn write is never committed). */
  reset(): void {
    this.staged = undefined;
  }

  /** How far the write in progress has come, if one is staged. */
  stagedWrite(): { slot: SlotName; received: number; length: number } | undefined {
    const staged = this.staged;
    return staged && { slot: staged.slot, received: staged.next, length: staged.length };
  }

  storedBytes(slot: SlotName): Uint8Array | undefined {
    const stored = this.slots.get(slot);
    return stored?.origin === 'written' ? stored.bytes : undefined;
  }

  private async handle(request: JsonlRequest): Promise<Record<string, unknown>> {
    switch (request.cmd) {
      case 'hello':
        return this.hello(request.proto);
      case 'keygen':
        return this.keygen(request.cn);
      case 'write.begin':
        return this.writeBegin(request.slot, request.len, request.sha256);
      case 'write.chunk':
        return this.writeChunk(request.slot, request.off, request.data, request.crc);
      case 'write.commit':
        return this.writeCommit(request.slot);
      case 'write.abort':
        if (this.staged?.slot === request.slot) this.staged = undefined;
        return {};
      case 'slot.digest':
        return this.slotDigest(request.slot);
      case 'slot.read':
        return this.slotRead(request.slot, request.off, request.max);
      case 'slot.delete':
        return this.slotDelete(request.slot);
      case 'sign':
        return this.signChallenge(request.challenge, request.crc);
    }
  }

  private hello(proto: number): HelloResult {
    if (proto !== JSONL_PROTOCOL_VERSION) {
      throw new DeviceRefusal('proto.version', `This device speaks protocol ${JSONL_PROTOCOL_VERSION}.`);
    }
    return {
      proto: JSONL_PROTOCOL_VERSION,
      device: this.profile.deviceId,
      model: this.profile.model,
      fw: this.profile.firmware,
      caps: { keygen: true, keyInject: true, sign: true, readBack: 'full' },
      slots: { ...this.profile.slotCapacity },
      maxLine: this.maxLineBytes,
      chunk: this.chunkBytes,
    };
  }

  private async keygen(commonName: string | undefined): Promise<Record<string, unknown>> {
    const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ]);
    const csr = await Pkcs10CertificateRequestGenerator.create(
      {
        name: [{ CN: [commonName ?? this.profile.deviceId] }],
        keys,
        signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      },
      // Node's webcrypto is the standard Crypto; the library's type names the DOM one, absent under lib ES2023.
      webcrypto as unknown as Parameters<typeof Pkcs10CertificateRequestGenerator.create>[1],
    );
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
    this.deviceKey = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
    const spki = createPublicKey(this.deviceKey).export({ format: 'der', type: 'spki' });
    this.slots.set('key', { bytes: spki, origin: 'generated' });
    const der = Buffer.from(csr.rawData);
    return { csr: der.toString('base64'), crc: crc32Hex(der) };
  }

  private writeBegin(slot: SlotName, length: number, sha256: string): Record<string, unknown> {
    const capacity = this.profile.slotCapacity[slot];
    if (length === 0) throw new DeviceRefusal('proto.bad-args', 'len must be at least 1.');
    if (length > capacity) {
      throw new DeviceRefusal('slot.too-large', `Slot ${slot} holds at most ${capacity} bytes.`);
    }
    // A new write replaces any unfinished one: the old staging is simply dropped.
    this.staged = { slot, length, sha256, chunks: [], next: 0 };
    return { chunk: this.chunkBytes };
  }

  private writeChunk(slot: SlotName, offset: number, data: string, crc: string): Record<string, unknown> {
    const staged = this.stagedFor(slot);
    const bytes = Buffer.from(data, 'base64');
    if (bytes.length === 0 || bytes.length > this.chunkBytes) {
      throw new DeviceRefusal('proto.bad-args', `A chunk carries 1 to ${this.chunkBytes} bytes.`);
    }
    if (crc32Hex(bytes) !== crc) {
      throw new DeviceRefusal('payload.crc', 'The chunk does not match its CRC-32; send it again.');
    }
    if (offset !== staged.next) {
      throw new DeviceRefusal('write.offset', `Expected the chunk at offset ${staged.next}.`);
    }
    if (offset + bytes.length > staged.length) {
      throw new DeviceRefusal('write.length', `The chunk runs past the announced ${staged.length} bytes.`);
    }
    staged.chunks.push(bytes);
    staged.next += bytes.length;
    return { next: staged.next };
  }

  private writeCommit(slot: SlotName): Record<string, unknown> {
    const staged = this.stagedFor(slot);
    // Whatever happens next, the staging is gone: a failed commit must be restarted from write.begin.
    this.staged = undefined;
    if (staged.next !== staged.length) {
      throw new DeviceRefusal('write.length', `Received ${staged.next} of ${staged.length} bytes.`);
    }
    const bytes = Buffer.concat(staged.chunks, staged.length);
    const digest = sha256Hex(bytes);
    if (digest !== staged.sha256) {
      throw new DeviceRefusal('write.digest', 'The received bytes do not match the announced SHA-256.');
    }
    if (slot === 'key') this.deviceKey = parseP256Key(bytes);
    this.slots.set(slot, { bytes, origin: 'written' });
    return { len: bytes.length, sha256: digest };
  }

  private slotDigest(slot: SlotName): Record<string, unknown> {
    const stored = this.slots.get(slot);
    if (!stored) return { present: false };
    return { present: true, len: stored.bytes.length, sha256: sha256Hex(stored.bytes) };
  }

  private slotRead(slot: SlotName, offset: number, max: number): Record<string, unknown> {
    if (slot === 'key') throw new DeviceRefusal('slot.protected', 'The key slot is never read out.');
    const stored = this.slots.get(slot);
    if (!stored) throw new DeviceRefusal('slot.empty', `Slot ${slot} is empty.`);
    if (offset > stored.bytes.length) {
      throw new DeviceRefusal('proto.bad-args', `off is past the ${stored.bytes.length} stored bytes.`);
    }
    const data = Buffer.from(stored.bytes.subarray(offset, offset + max));
    return { off: offset, len: stored.bytes.length, data: data.toString('base64'), crc: crc32Hex(data) };
  }

  private slotDelete(slot: SlotName): Record<string, unknown> {
    const existed = this.slots.delete(slot);
    if (slot === 'key') this.deviceKey = undefined;
    if (this.staged?.slot === slot) this.staged = undefined;
    return { existed };
  }

  private signChallenge(challenge: string, crc: string): Record<string, unknown> {
    if (!this.deviceKey) throw new DeviceRefusal('key.none', 'No device key: run keygen or write one.');
    const bytes = Buffer.from(challenge, 'base64');
    if (bytes.length === 0 || bytes.length > MAX_CHALLENGE_BYTES) {
      throw new DeviceRefusal('proto.bad-args', `A challenge is 1 to ${MAX_CHALLENGE_BYTES} bytes.`);
    }
    if (crc32Hex(bytes) !== crc) {
      throw new DeviceRefusal('payload.crc', 'The challenge does not match its CRC-32; send it again.');
    }
    const signature = sign('sha256', bytes, this.deviceKey); // DER ECDSA-Sig-Value by default
    return { sig: signature.toString('base64'), crc: crc32Hex(signature) };
  }

  private stagedFor(slot: SlotName): StagedWrite {
    if (this.staged?.slot !== slot) {
      throw new DeviceRefusal('write.not-begun', `No write to slot ${slot} is in progress.`);
    }
    return this.staged;
  }
}

const knownCommands = new Set<string>(requestSchema.options.map((option) => option.shape.cmd.value));

function failure(id: number, code: DeviceErrorCode, msg: string): JsonlResponse {
  return { id, ok: false, err: { code, msg } };
}

function readId(parsed: unknown): number {
  const id = (parsed as { id?: unknown } | null)?.id;
  return typeof id === 'number' && Number.isInteger(id) && id > 0 && id <= 0x7fffffff ? id : 0;
}

function readIdFromLine(line: Buffer): number {
  try {
    return readId(JSON.parse(line.toString('utf8')));
  } catch {
    return 0;
  }
}

/** Accepts PEM or DER (PKCS#8 or SEC1) P-256 private keys, as a key written to the key slot must be. */
function parseP256Key(bytes: Buffer): KeyObject {
  const text = bytes.toString('utf8');
  try {
    const key = text.includes('-----BEGIN')
      ? createPrivateKey(text)
      : createPrivateKey({ key: bytes, format: 'der', type: 'pkcs8' });
    if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return key;
  } catch {
    // fall through to the refusal
  }
  throw new DeviceRefusal('key.invalid', 'The key slot takes a P-256 private key (PEM or PKCS#8 DER).');
}
