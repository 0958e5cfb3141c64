import { StationError, invalidInput } from '../../../src/api/errors.js';
import type { ByteLink } from '../../transport/byte-link.js';
import type {
  CredentialReadBack,
  CredentialSlot,
  CsrRequest,
  DeviceCapabilities,
  DeviceDriver,
  DeviceIdentity,
  DeviceOperationOptions,
  DeviceSession,
  UsbMatch,
} from '../device-driver.js';
import { JsonlChannel, type JsonlRequestBody } from './jsonl-channel.js';
import {
  JSONL_PROTOCOL_VERSION,
  MAX_CHALLENGE_BYTES,
  crc32Hex,
  emptyResultSchema,
  encodeLine,
  helloResultSchema,
  keygenResultSchema,
  sha256Hex,
  signResultSchema,
  slotDeleteResultSchema,
  slotDigestResultSchema,
  slotReadResultSchema,
  writeChunkResultSchema,
  writeCommitResultSchema,
  type HelloResult,
} from './protocol.js';

/** pid.codes test VID:PID; a product line ships its own pair (createJsonlDriver({ usb })). */
export const defaultJsonlUsbMatch: UsbMatch = { vendorId: '1209', productId: '0001' };

const commandTimeoutMs = 5_000;
/** P-256 keygen plus a CSR signature takes a slow MCU a few seconds. */
const keygenTimeoutMs = 20_000;
/** Request ids count up to this and wrap to 1 (docs/jsonl-protocol.md section 3). */
const MAX_REQUEST_ID = 0x7fffffff;
/** A chunk whose CRC the device rejected is sent again this many times before giving up. */
const chunkAttempts = 3;

export interface JsonlDriverOptions {
  usb?: readonly UsbMatch[];
}

export function createJsonlDriver(options: JsonlDriverOptions = {}): DeviceDriver {
  return {
    name: 'jsonl',
    identityFields: ['deviceId', 'serialNumber', 'model', 'firmware'],
    usb: options.usb ?? [defaultJsonlUsbMatch],
    // RTS/CTS off: custom boards rarely wire it and pseudo-terminals ignore it (protocols.md 6.7).
    serial: { baudRate: 115_200, rtscts: false },
    async open(link, openOptions) {
      const channel = new JsonlChannel(link, commandTimeoutMs);
      try {
        const hello = await sayHello(channel, openOptions);
        return new JsonlSession(link, channel, hello);
      } catch (error) {
        channel.detach();
        throw error;
      }
    },
  };
}

export const jsonlDriver = createJsonlDriver();

async function sayHello(channel: JsonlChannel, options: DeviceOperationOptions = {}): Promise<HelloResult> {
  const hello = await channel.request(
    { cmd: 'hello', proto: JSONL_PROTOCOL_VERSION },
    helloResultSchema,
    options,
  );
  if (hello.proto !== JSONL_PROTOCOL_VERSION) {
    throw new StationError(
      'device.unsupported-protocol',
      `The device speaks jsonl protocol ${hello.proto}; this station speaks ${JSONL_PROTOCOL_VERSION}.`,
      { port: channel.link.port },
    );
  }
  return hello;
}

class JsonlSession implements DeviceSession {
  readonly driver = 'jsonl' as const;
  private helloUsed = false;

  constructor(
    private readonly link: ByteLink,
    private readonly channel: JsonlChannel,
    private hello: HelloResult,
  ) {}

  get port(): string {
    return this.link.port;
  }

  async identify(options?: DeviceOperationOptions): Promise<DeviceIdentity> {
    // The first identify answers from the hello that opened the session a moment ago: asking again
    // would cost the device an exchange for the same facts. Later calls ask the device afresh.
    if (this.helloUsed) this.hello = await sayHello(this.channel, options);
    this.helloUsed = true;
    return {
      deviceId: this.hello.device,
      serialNumber: this.hello.device,
      model: this.hello.model,
      firmware: this.hello.fw,
    };
  }

  capabilities(): DeviceCapabilities {
    const { caps, slots } = this.hello;
    return {
      keyGeneration: caps.keygen,
      keyInjection: caps.keyInject && slots.key !== undefined,
      readBack: caps.readBack,
      proofOfPossession: caps.sign,
      maxCredentialBytes: Math.min(slots.ca ?? 0, slots.certificate ?? 0),
    };
  }

  async generateCsr(request: CsrRequest, options: DeviceOperationOptions = {}): Promise<Uint8Array> {
    const body: JsonlRequestBody =
      request.commonName === undefined ? { cmd: 'keygen' } : { cmd: 'keygen', cn: request.commonName };
    const result = await this.channel.request(body, keygenResultSchema, {
      timeoutMs: keygenTimeoutMs,
      ...options,
    });
    return this.checkedPayload(result.csr, result.crc, 'keygen');
  }

  async writeCredential(
    slot: CredentialSlot,
    content: Uint8Array,
    options: DeviceOperationOptions = {},
  ): Promise<void> {
    if (content.length === 0) throw invalidInput('content', 'a credential has at least one byte');
    const secret = slot === 'key';
    const digest = sha256Hex(content);
    await this.channel.request(
      { cmd: 'write.begin', slot, len: content.length, sha256: digest },
      emptyResultSchema.loose(),
      options,
    );
    const chunkBytes = this.writeChunkBytes(slot, content.length);
    for (let offset = 0; offset < content.length; offset += chunkBytes) {
      const chunk = content.subarray(offset, offset + chunkBytes);
      await this.writeChunk(slot, offset, chunk, secret, options);
      options.onProgress?.(offset + chunk.length, content.length);
    }
    const committed = await this.channel.request({ cmd: 'write.commit', slot }, writeCommitResultSchema, {
      ...options,
      secret,
    });
    if (committed.sha256 !== digest || committed.len !== content.length) {
      throw new StationError(
        'device.write-corrupted',
        `The device committed ${slot} with a different digest than was sent; write it again.`,
        { port: this.port, details: { slot } },
      );
    }
  }

  async readCredential(
    slot: CredentialSlot,
    options: DeviceOperationOptions = {},
  ): Promise<CredentialReadBack> {
    const digest = await this.channel.request({ cmd: 'slot.digest', slot }, slotDigestResultSchema, options);
    if (!digest.present) return { slot, present: false };
    if (slot === 'key' || this.hello.caps.readBack !== 'full') {
      return { slot, present: true, sha256: digest.sha256 };
    }
    const bytes = await this.readSlotBytes(slot, digest.len ?? 0, options);
    const sha256 = sha256Hex(bytes);
    if (digest.sha256 !== undefined && digest.sha256 !== sha256) {
      throw this.garbled(`The bytes read from ${slot} do not match the digest the device reported.`);
    }
    return { slot, present: true, sha256, bytes };
  }

  async deleteCredential(slot: CredentialSlot, options: DeviceOperationOptions = {}): Promise<void> {
    await this.channel.request({ cmd: 'slot.delete', slot }, slotDeleteResultSchema, options);
  }

  async signChallenge(challenge: Uint8Array, options: DeviceOperationOptions = {}): Promise<Uint8Array> {
    if (challenge.length === 0 || challenge.length > MAX_CHALLENGE_BYTES) {
      throw invalidInput('challenge', `a challenge is 1 to ${MAX_CHALLENGE_BYTES} bytes`);
    }
    const bytes = Buffer.from(challenge);
    const result = await this.channel.request(
      { cmd: 'sign', challenge: bytes.toString('base64'), crc: crc32Hex(bytes) },
      signResultSchema,
      options,
    );
    return this.checkedPayload(result.sig, result.crc, 'sign');
  }

  async close(): Promise<void> {
    this.channel.detach();
    if (!this.link.closed) await this.link.close();
  }

  /**
   * The hello chunk size, or less when a write.chunk line of that size would not fit the device's line
   * buffer (hello.maxLine, `\n` included): the line is the JSON envelope, at the largest id and offset it
   * can have in this write, plus the base64 of the chunk (4 characters per 3 bytes).
   */
  private writeChunkBytes(slot: CredentialSlot, length: number): number {
    const envelope = encodeLine({
      id: MAX_REQUEST_ID,
      cmd: 'write.chunk',
      slot,
      off: length,
      data: '',
      crc: crc32Hex(Buffer.alloc(0)),
    }).length;
    const fitting = Math.floor((this.hello.maxLine - envelope) / 4) * 3;
    if (fitting < 1) {
      throw new StationError(
        'device.unsupported',
        `The device on ${this.port} announces lines of at most ${this.hello.maxLine} bytes: too short for a write.chunk request.`,
        { port: this.port, details: { maxLine: this.hello.maxLine } },
      );
    }
    return Math.min(this.hello.chunk, fitting);
  }

  private async writeChunk(
    slot: CredentialSlot,
    offset: number,
    chunk: Uint8Array,
    secret: boolean,
    options: DeviceOperationOptions,
  ): Promise<void> {
    const data = Buffer.from(chunk);
    const request = {
      cmd: 'write.chunk',
      slot,
      off: offset,
      data: data.toString('base64'),
      crc: crc32Hex(data),
    };
    for (let attempt = 1; ; attempt += 1) {
      try {
        const { next } = await this.channel.request(request as JsonlRequestBody, writeChunkResultSchema, {
          ...options,
          secret,
        });
        if (next !== offset + chunk.length) {
          throw this.garbled(
            `The device acknowledged ${slot} up to byte ${next}, not ${offset + chunk.length}.`,
          );
        }
        return;
      } catch (error) {
        // A chunk damaged on the wire (payload.crc) is worth sending again; anything else is not.
        const damaged = error instanceof StationError && error.details?.deviceCode === 'payload.crc';
        if (!damaged || attempt >= chunkAttempts) throw error;
      }
    }
  }

  private async readSlotBytes(slot: CredentialSlot, length: number, options: DeviceOperationOptions) {
    const parts: Buffer[] = [];
    let offset = 0;
    while (offset < length) {
      const max = Math.min(this.hello.chunk, length - offset);
      const result = await this.channel.request(
        { cmd: 'slot.read', slot, off: offset, max },
        slotReadResultSchema,
        options,
      );
      const data = this.checkedPayload(result.data, result.crc, 'slot.read');
      if (result.off !== offset || data.length === 0 || result.len !== length) {
        throw this.garbled(`The device answered slot.read for ${slot} out of order.`);
      }
      parts.push(data);
      offset += data.length;
    }
    return Buffer.concat(parts, length);
  }

  private checkedPayload(base64: string, crc: string, cmd: string): Buffer {
    const bytes = Buffer.from(base64, 'base64');
    if (crc32Hex(bytes) !== crc)
      throw this.garbled(`The payload of ${cmd} arrived damaged (CRC-32 mismatch).`);
    return bytes;
  }

  private garbled(message: string): StationError {
    return new StationError('transport.garbled', message, { port: this.port });
  }
}
