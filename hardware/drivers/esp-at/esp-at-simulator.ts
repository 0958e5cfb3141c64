import { createHash, randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { CredentialSlot, DeviceIdentity, DeviceSimulator, SimulatorOptions } from '../device-driver.js';
import { SimWire } from '../../sim/sim-wire.js';
import { parseEspAtArguments, type EspAtArgument } from './at-arguments.js';
import { MfgNvs, SYSMFG_BINARY, SYSMFG_STRING, type NvsEntry, type SysmfgType } from './mfg-nvs.js';

/** ESP-AT takes at most 256 bytes per command, line end included (protocols.md 2). */
export const ESP_AT_MAX_COMMAND_BYTES = 256;

export interface EspAtSimulatorOptions extends SimulatorOptions {
  /** Echo as the module starts (on by default, protocols.md 2); ATE0/ATE1 change it. */
  echo?: boolean;
  /** Room in mfg_nvs for all stored items, counted in NVS entries. */
  nvsCapacityBytes?: number;
  /** The `.N` suffix storedCredentials() reads the client_* keys from. */
  slotIndex?: number;
  /**
   * How long the module spends committing a write to flash before its final OK; bytes that arrive in that
   * time get `busy p...` and are dropped, as ESP-AT does for a command sent while one runs (protocols.md 2).
   */
  flashWriteMs?: number;
  /**
   * The module has saved Wi-Fi credentials and joins the network while it answers the first command that
   * starts with this text: the unsolicited `WIFI CONNECTED` and `WIFI GOT IP` (ESP-AT Wi-Fi AT commands)
   * come ahead of that answer's lines.
   */
  wifiJoinsDuring?: string;
}

const SLOT_NAMESPACES: Record<CredentialSlot, string> = {
  ca: 'client_ca',
  certificate: 'client_cert',
  key: 'client_key',
};

const FIRMWARE_LINES = [
  'AT version:2.4.0.0(s-4c6eb65 - ESP32 - May 20 2022 03:12:58)',
  'SDK version:qa-test-v4.3.3-20220423',
  'compile time(5a6ba9e):May 20 2022 03:31:31',
  'Bin version:2.4.0(WROOM-32)',
];

interface PendingWrite {
  command: string;
  namespace: string;
  key: string;
  type: SysmfgType;
  length: number;
  received: Buffer[];
  receivedBytes: number;
}

/** Types 1-6 are integers with these ranges. */
const INTEGER_RANGES: Record<number, [number, number]> = {
  1: [0, 0xff],
  2: [-0x80, 0x7f],
  3: [0, 0xffff],
  4: [-0x8000, 0x7fff],
  5: [0, 0xffffffff],
  6: [-0x80000000, 0x7fffffff],
};

/**
 * An ESP32 running ESP-AT: echo, AT+GMR, AT+CIPSTAMAC?, and the AT+SYSMFG manufacturing NVS with its
 * `>` raw-data prompt (protocols.md 2). Faults, latency and pacing go through the shared SimWire.
 */
export class EspAtSimulator implements DeviceSimulator {
  readonly driver = 'esp-at' as const;
  readonly identity: DeviceIdentity;
  private readonly nvs: MfgNvs;
  private readonly slotIndex: number;
  private readonly flashWriteMs: number;
  private echo: boolean;
  private wire?: SimWire;
  private pending = Buffer.alloc(0);
  private write?: PendingWrite;
  private busy = false;
  /** After an over-long command, the rest of it up to its line end is thrown away. */
  private discarding = false;
  /** Whether the module has yet to report joining Wi-Fi (wifiJoinsDuring). */
  private wifiJoinPending: boolean;

  constructor(private readonly options: EspAtSimulatorOptions = {}) {
    this.wifiJoinPending = options.wifiJoinsDuring !== undefined;
    this.echo = options.echo ?? true;
    this.nvs = new MfgNvs(options.nvsCapacityBytes ?? 16 * 1024);
    this.slotIndex = options.slotIndex ?? 0;
    this.flashWriteMs = options.flashWriteMs ?? 0;
    const mac = macFromSeed(options.seed);
    this.identity = { deviceId: mac, mac, model: 'WROOM-32', firmware: '2.4.0.0' };
  }

  attach(stream: Duplex): void {
    this.resetLink();
    this.wire = new SimWire(stream, this.options);
    this.wire.onBytes((chunk) => this.receive(chunk));
    // A link that goes away takes an unfinished write with it: nothing half-received is stored.
    stream.once('close', () => this.resetLink());
  }

  storedCredentials(): Map<CredentialSlot, Uint8Array> {
    const stored = new Map<CredentialSlot, Uint8Array>();
    for (const [slot, namespace] of Object.entries(SLOT_NAMESPACES) as [CredentialSlot, string][]) {
      const entry = this.nvs.get(namespace, `${namespace}.${this.slotIndex}`);
      if (entry && typeof entry.value !== 'number') stored.set(slot, Uint8Array.from(entry.value));
    }
    return stored;
  }

  close(): void {
    this.wire?.close();
  }

  private resetLink(): void {
    this.write = undefined;
    this.pending = Buffer.alloc(0);
    this.discarding = false;
  }

  private receive(chunk: Buffer): void {
    if (this.busy) {
      this.answer('', 'busy p...\r\n');
      return;
    }
    this.pending = Buffer.concat([this.pending, chunk]);
    while (this.pending.length > 0 && !this.busy) {
      if (this.write) {
        this.takePayload();
        continue;
      }
      const lineEnd = this.pending.indexOf(0x0a);
      if (this.discarding) {
        this.pending = lineEnd === -1 ? Buffer.alloc(0) : this.pending.subarray(lineEnd + 1);
        this.discarding = lineEnd === -1;
        continue;
      }
      if (lineEnd === -1) {
        if (this.pending.length > ESP_AT_MAX_COMMAND_BYTES) this.rejectOverlong();
        return;
      }
      const raw = this.pending.subarray(0, lineEnd + 1);
      this.pending = this.pending.subarray(lineEnd + 1);
      if (raw.length > ESP_AT_MAX_COMMAND_BYTES) {
        this.answer('', '\r\nERROR\r\n');
        continue;
      }
      const line = raw.toString('latin1').replace(/\r?\n$/, '');
      if (this.echo) this.answer(line, `${line}\r\n`);
      if (line.trim() !== '') this.runCommand(line);
    }
    if (this.busy && this.pending.length > 0) {
      this.pending = Buffer.alloc(0);
      this.answer('', 'busy p...\r\n');
    }
  }

  /** An over-long command is refused once; the rest of it, up to its line end, is discarded. */
  private rejectOverlong(): void {
    this.answer('', '\r\nERROR\r\n');
    this.pending = Buffer.alloc(0);
    this.discarding = true;
  }

  private runCommand(line: string): void {
    if (this.wire?.fault(line, 'refuse')) return this.error(line);
    const upper = line.toUpperCase();
    if (upper === 'AT') return this.ok(line);
    if (upper === 'ATE0' || upper === 'ATE1') {
      this.echo = upper === 'ATE1';
      return this.ok(line);
    }
    if (upper === 'AT+GMR') return this.ok(line, FIRMWARE_LINES);
    if (upper === 'AT+CIPSTAMAC?') return this.ok(line, [`+CIPSTAMAC:"${this.identity.mac ?? ''}"`]);
    if (upper === 'AT+SYSMFG?') {
      return this.ok(
        line,
        this.nvs.namespaceNames().map((name) => `+SYSMFG:"${name}"`),
      );
    }
    if (line.startsWith('AT+SYSMFG=')) return this.sysmfg(line, parseEspAtArguments(line.slice(10)));
    this.error(line);
  }

  private sysmfg(line: string, args: EspAtArgument[] | undefined): void {
    const [operation, namespace, key, type, value, extra] = args ?? [];
    if (operation?.kind !== 'number') return this.error(line);
    if (namespace !== undefined && (namespace.kind !== 'string' || !this.nvs.hasNamespace(namespace.value))) {
      return this.error(line);
    }
    if (key !== undefined && key.kind !== 'string') return this.error(line);
    switch (operation.value) {
      case 0:
        if (!namespace || type) return this.error(line);
        return this.nvs.erase(namespace.value, key?.value) ? this.ok(line) : this.error(line);
      case 1:
        return this.read(line, namespace?.value, key?.value, type, value, extra);
      case 2:
        if (!namespace || !key || type?.kind !== 'number' || value?.kind !== 'number' || extra) {
          return this.error(line);
        }
        return this.startWrite(line, namespace.value, key.value, type.value, value.value);
      default:
        return this.error(line);
    }
  }

  private read(
    line: string,
    namespace: string | undefined,
    key: string | undefined,
    offset: EspAtArgument | undefined,
    length: EspAtArgument | undefined,
    extra: EspAtArgument | undefined,
  ): void {
    if (namespace === undefined) {
      return this.ok(
        line,
        this.nvs.namespaceNames().map((name) => `+SYSMFG:"${name}"`),
      );
    }
    if (key === undefined) {
      const keys = this.nvs.keys(namespace) ?? [];
      return this.ok(
        line,
        keys.map(([name, entry]) => `+SYSMFG:"${namespace}","${name}",${entry.type}`),
      );
    }
    const entry = this.nvs.get(namespace, key);
    if (!entry || extra || (offset === undefined) !== (length === undefined)) return this.error(line);
    const header = `+SYSMFG:"${namespace}","${key}",${entry.type},`;
    if (typeof entry.value === 'number') {
      if (offset) return this.error(line);
      return this.ok(line, [`${header}${entry.value}`]);
    }
    let value = Buffer.from(entry.value);
    if (offset && length) {
      if (offset.kind !== 'number' || length.kind !== 'number') return this.error(line);
      if (offset.value < 0 || length.value <= 0 || offset.value + length.value > value.length) {
        return this.error(line);
      }
      value = value.subarray(offset.value, offset.value + length.value);
    }
    // The value follows the length raw, line ends and all: only the length says where it stops.
    this.answer(
      line,
      Buffer.concat([
        Buffer.from(`${header}${value.length},`, 'latin1'),
        value,
        Buffer.from('\r\n\r\nOK\r\n'),
      ]),
    );
  }

  private startWrite(line: string, namespace: string, key: string, type: number, value: number): void {
    if (!this.nvs.accepts(namespace, key) || type < 1 || type > 8) return this.error(line);
    if (type !== SYSMFG_STRING && type !== SYSMFG_BINARY) {
      const [low, high] = INTEGER_RANGES[type] ?? [0, -1];
      if (value < low || value > high) return this.error(line);
      const stored = this.wire?.fault(line, 'storage-full')
        ? false
        : this.nvs.set(namespace, key, { type: type as SysmfgType, value });
      return stored ? this.ok(line) : this.error(line);
    }
    if (value <= 0) return this.error(line);
    this.write = {
      command: line,
      namespace,
      key,
      type: type as SysmfgType,
      length: value,
      received: [],
      receivedBytes: 0,
    };
    this.answer(line, '\r\nOK\r\n\r\n>');
  }

  /** Takes exactly the announced number of raw bytes, then commits them. */
  private takePayload(): void {
    const write = this.write;
    if (!write) return;
    const wanted = write.length - write.receivedBytes;
    const piece = this.pending.subarray(0, wanted);
    this.pending = this.pending.subarray(piece.length);
    write.received.push(piece);
    write.receivedBytes += piece.length;
    if (this.wire?.disconnectsDuring(write.command, write.receivedBytes, write.length)) {
      this.resetLink();
      return;
    }
    if (write.receivedBytes < write.length) return;
    this.write = undefined;
    this.commit(write);
  }

  private commit(write: PendingWrite): void {
    const entry: NvsEntry = { type: write.type, value: Buffer.concat(write.received) };
    const full = this.wire?.fault(write.command, 'storage-full') ?? false;
    const stored = !full && this.nvs.set(write.namespace, write.key, entry);
    if (this.flashWriteMs <= 0) return this.finishWrite(write.command, stored);
    this.busy = true;
    setTimeout(() => {
      this.busy = false;
      this.finishWrite(write.command, stored);
    }, this.flashWriteMs).unref();
  }

  private finishWrite(command: string, stored: boolean): void {
    this.answer(command, stored ? '\r\nOK\r\n' : '\r\nERROR\r\n', true);
  }

  private ok(command: string, info: string[] = []): void {
    const joinsDuring = this.options.wifiJoinsDuring;
    if (this.wifiJoinPending && joinsDuring !== undefined && command.toUpperCase().startsWith(joinsDuring)) {
      this.wifiJoinPending = false;
      info = ['WIFI CONNECTED', 'WIFI GOT IP', ...info];
    }
    this.answer(command, `${info.map((line) => `${line}\r\n`).join('')}\r\nOK\r\n`, true);
  }

  private error(command: string): void {
    this.answer(command, '\r\nERROR\r\n', true);
  }

  private answer(command: string, text: string | Buffer, final = false): void {
    this.wire?.answer(command, typeof text === 'string' ? Buffer.from(text, 'latin1') : text, final);
  }
}

/** Espressif's OUI and three bytes from the seed, so a seeded bench always shows the same MACs. */
function macFromSeed(seed: number | undefined): string {
  const bytes =
    seed === undefined
      ? randomBytes(3)
      : createHash('sha256').update(`esp-at:${seed}`).digest().subarray(0, 3);
  return ['24', '0a', 'c4', ...[...bytes].map((byte) => byte.toString(16).padStart(2, '0'))].join(':');
}
