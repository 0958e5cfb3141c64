import { createHash, randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { SimWire } from '../../sim/sim-wire.js';
import type { CredentialSlot, DeviceIdentity, DeviceSimulator, SimulatorOptions } from '../device-driver.js';
import { JsonlDevice, type JsonlDeviceProfile, type JsonlResponse } from './jsonl-device.js';
import { LineSplitter } from './line-splitter.js';
import { encodeLine, slotNames } from './protocol.js';

export interface JsonlSimulatorOptions extends SimulatorOptions {
  /** Bytes per slot; defaults leave room for a long chain in `ca` and an RSA-4096 key in `key`. */
  slotCapacity?: Partial<JsonlDeviceProfile['slotCapacity']>;
  /** The device's line buffer, `\n` included, announced as hello.maxLine (MAX_LINE_BYTES by default). */
  maxLineBytes?: number;
  /** The chunk size announced in hello (MAX_CHUNK_BYTES by default). */
  chunkBytes?: number;
}

const defaultSlotCapacity: JsonlDeviceProfile['slotCapacity'] = { ca: 8192, certificate: 4096, key: 4096 };

/**
 * A jsonl device on a byte stream: JsonlDevice (the reference implementation) behind the shared SimWire,
 * which adds latency, UART pacing and faults. Fault `match` is tested against the command name
 * (`write.chunk`, `keygen`, ...), the jsonl equivalent of an AT command's text.
 */
export class JsonlSimulator implements DeviceSimulator {
  readonly driver = 'jsonl' as const;
  readonly identity: DeviceIdentity;
  private readonly device: JsonlDevice;
  private wire?: SimWire;
  /** Requests are answered in order, one at a time, as a single-threaded firmware loop would. */
  private work: Promise<void> = Promise.resolve();

  constructor(private readonly options: JsonlSimulatorOptions = {}) {
    const deviceId = deviceIdFromSeed(options.seed);
    this.identity = { deviceId, serialNumber: deviceId, model: 'jsonl-reference', firmware: '1.0.0' };
    this.device = new JsonlDevice({
      deviceId,
      model: this.identity.model ?? '',
      firmware: this.identity.firmware ?? '',
      slotCapacity: { ...defaultSlotCapacity, ...options.slotCapacity },
      ...(options.maxLineBytes !== undefined && { maxLineBytes: options.maxLineBytes }),
      ...(options.chunkBytes !== undefined && { chunkBytes: options.chunkBytes }),
    });
  }

  attach(stream: Duplex): void {
    this.device.reset();
    const wire = new SimWire(stream, this.options);
    const maxLineBytes = this.device.maxLineBytes;
    const splitter = new LineSplitter(
      maxLineBytes,
      (line) => this.enqueue(wire, line),
      () => this.send(wire, '', tooLong(maxLineBytes)),
    );
    wire.onBytes((chunk) => splitter.push(chunk));
    // A link that goes away is a reset to the device: an unfinished write is lost, never committed.
    stream.once('close', () => this.device.reset());
    this.wire = wire;
  }

  storedCredentials(): Map<CredentialSlot, Uint8Array> {
    const stored = new Map<CredentialSlot, Uint8Array>();
    for (const slot of slotNames) {
      const bytes = this.device.storedBytes(slot);
      if (bytes) stored.set(slot, Uint8Array.from(bytes));
    }
    return stored;
  }

  close(): void {
    this.device.reset();
    this.wire?.close();
  }

  private enqueue(wire: SimWire, line: Buffer): void {
    this.work = this.work.then(() => this.respond(wire, line));
  }

  private async respond(wire: SimWire, line: Buffer): Promise<void> {
    if (line.toString('utf8').trim() === '') return; // blank lines are keep-alives, never answered
    const command = commandName(line);
    if (wire.fault(command, 'refuse')) return this.send(wire, command, this.device.refusal(line));
    if (command.startsWith('write.') && wire.fault(command, 'storage-full')) {
      return this.send(wire, command, this.device.storageFull(line));
    }
    if (command === 'write.chunk' && this.disconnectsHere(wire, line)) return;
    this.send(wire, command, await this.device.answer(line));
  }

  /**
   * The disconnect fault tears a credential write: the wire counts the bytes staged including this chunk
   * against the announced length, and the device vanishes half way, before the chunk is taken.
   */
  private disconnectsHere(wire: SimWire, line: Buffer): boolean {
    const staged = this.device.stagedWrite();
    if (!staged) return false;
    const { data } = JSON.parse(line.toString('utf8')) as { data?: unknown };
    const chunkBytes = typeof data === 'string' ? Buffer.byteLength(data, 'base64') : 0;
    if (!wire.disconnectsDuring('write.chunk', staged.received + chunkBytes, staged.length)) return false;
    this.device.reset();
    return true;
  }

  private send(wire: SimWire, command: string, response: JsonlResponse): void {
    wire.answer(command, encodeLine(response), true);
  }
}

const tooLong = (maxLineBytes: number): JsonlResponse => ({
  id: 0,
  ok: false,
  err: { code: 'proto.line-too-long', msg: `Lines are at most ${maxLineBytes} bytes.` },
});

function commandName(line: Buffer): string {
  try {
    const cmd = (JSON.parse(line.toString('utf8')) as { cmd?: unknown } | null)?.cmd;
    return typeof cmd === 'string' ? cmd : '';
  } catch {
    return '';
  }
}

/** A chip-serial-like id; from the seed when given, so a seeded bench always shows the same devices. */
function deviceIdFromSeed(seed: number | undefined): string {
  const bytes =
    seed === undefined
      ? randomBytes(6)
      : createHash('sha256').update(`jsonl:${seed}`).digest().subarray(0, 6);
  return `JL${bytes.toString('hex').toUpperCase()}`;
}
