import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { CredentialSlot, DeviceIdentity, DeviceSimulator, SimulatorOptions } from '../device-driver.js';
import { SimWire } from '../../sim/sim-wire.js';
import { integerArgument, splitAtArguments, type AtArgument } from './at-command-line.js';
import { simulatedModemIdentity } from './modem-identity.js';
import { credentialTypes, defaultSecTag } from './nrf91-credentials.js';
import { simulateKeygen } from './simulated-keygen.js';

export interface Nrf91SimulatorOptions extends SimulatorOptions {
  /** sec_tag whose types 0/1/2 storedCredentials() reports as ca/certificate/key. */
  secTag?: number;
  /** CFUN after boot; an application that connects at once boots in 1 (protocols.md 1.2). */
  bootCfun?: number;
  /** `AT+CGMR` answer. */
  firmware?: string;
  /** `AT+CGMM` answer. */
  model?: string;
  /** Older firmware signs CSRs with ecdsa-with-SHA256 plus a NULL parameter (protocols.md 6.6). */
  keygenNullParameter?: boolean;
  /** Writing an occupied <sec_tag,type>: replace it, or refuse with 519 (INFERRED, protocols.md 1.7). */
  occupiedSlot?: 'overwrite' | 'already-exists';
  /** Credential storage; writes beyond it get 515. */
  capacityBytes?: number;
  /** at_host disables UART RX while a command runs, so bytes sent then are lost (protocols.md 1.1). */
  dropInputWhileBusy?: boolean;
  /**
   * The application's Zephyr log shares the AT UART: a log line lands in every answer just before its
   * final result code (the worst place for a host parser), in colour as Zephyr prints it to a terminal
   * (ANSI escapes, protocols.md 1.1) or plain.
   */
  logOnAtUart?: 'colour' | 'plain';
}

/** CONFIG_AT_HOST_CMD_MAX_LEN default; overflow is silently dropped (protocols.md 1.1). */
export const atHostBufferBytes = 4096;
/** at_host keeps a NUL after the command, so its buffer stores 4,095 characters. */
const storedCharacters = atHostBufferBytes - 1;

const CR = 0x0d;
const LF = 0x0a;
const QUOTE = 0x22;
const activeCfun = new Set([1, 2, 21]);
const validCfun = new Set([0, 1, 2, 4, 20, 21, 30, 31, 40, 41, 44]);
const maxSecTag = 2_147_483_647;

/**
 * An nRF91 modem behind NCS at_host, as protocols.md section 1 describes it: no echo, CR/LF/CRLF, quotes
 * protect line ends, a 4,096-byte buffer (4,095 characters, the line end's included) that drops
 * overflow, CMEE and CFUN behaviour, %CMNG storage
 * byte-exact with uppercase SHA-256 in lists, %KEYGEN making a real P-256 key and CSR.
 */
export class Nrf91Simulator implements DeviceSimulator {
  readonly driver = 'nrf91' as const;
  readonly identity: DeviceIdentity;
  private readonly secTag: number;
  private readonly firmware: string;
  private readonly model: string;
  private readonly credentials = new Map<string, Buffer>();
  private readonly line = Buffer.alloc(storedCharacters);
  private length = 0;
  private inQuotes = false;
  private busy = false;
  private cfun: number;
  private cmee = 0;
  private wire: SimWire | undefined;

  constructor(private readonly options: Nrf91SimulatorOptions = {}) {
    const { imei, uuid } = simulatedModemIdentity(options.seed);
    this.secTag = options.secTag ?? defaultSecTag;
    this.firmware = options.firmware ?? 'mfw_nrf9160_1.3.5';
    this.model = options.model ?? 'nRF9160-SICA';
    this.cfun = options.bootCfun ?? 1;
    this.identity = { deviceId: uuid, imei, uuid, model: this.model, firmware: this.firmware };
  }

  attach(stream: Duplex): void {
    this.wire?.close();
    this.length = 0;
    this.inQuotes = false;
    this.busy = false;
    const wire = new SimWire(stream, this.options);
    wire.onBytes((chunk) => this.receive(wire, chunk));
    this.wire = wire;
  }

  storedCredentials(): Map<CredentialSlot, Uint8Array> {
    const stored = new Map<CredentialSlot, Uint8Array>();
    for (const [slot, type] of Object.entries(credentialTypes) as [CredentialSlot, number][]) {
      const bytes = this.credentials.get(`${this.secTag},${type}`);
      if (bytes) stored.set(slot, Uint8Array.from(bytes));
    }
    return stored;
  }

  close(): void {
    this.wire?.close();
    this.wire = undefined;
  }

  /** at_host's line editor, byte by byte. */
  private receive(wire: SimWire, chunk: Buffer): void {
    for (const byte of chunk) {
      if (this.busy && (this.options.dropInputWhileBusy ?? true)) continue;
      if ((byte === CR || byte === LF) && !this.inQuotes) {
        // The line end takes a character too: at_host in CRLF mode stores the CR and sends the command on
        // the LF (in CR mode the previous command's LF waits at the start of the buffer). In a full buffer
        // it is dropped like any overflow, and the command is never sent.
        if (this.length === this.line.length) continue;
        const command = this.line.toString('latin1', 0, this.length);
        this.length = 0;
        this.inQuotes = false;
        // Lines without a printable character are dropped without an answer.
        if (/[!-~]/.test(command)) this.run(wire, command);
        continue;
      }
      // Delete the previous character; at_host leaves its quote parity as it was, even for a quote.
      if (byte === 0x08 || byte === 0x7f) {
        if (this.length > 0) this.length--;
        continue;
      }
      if (this.length === this.line.length) continue;
      this.line[this.length++] = byte;
      if (byte === QUOTE) this.inQuotes = !this.inQuotes;
    }
  }

  private run(wire: SimWire, command: string): void {
    if (wire.disconnectsDuring(command, command.length, command.length)) return;
    this.busy = true;
    const lines = wire.fault(command, 'refuse') ? this.cmeError(514) : this.execute(wire, command.trim());
    if (this.options.logOnAtUart) lines.splice(-1, 0, logLine(this.options.logOnAtUart));
    const answer = Buffer.from(lines.map((text) => `${text}\r\n`).join(''), 'latin1');
    wire.answer(command, answer, true, () => {
      if (this.wire === wire) this.busy = false;
    });
  }

  /** The answer lines, the final result code last. */
  private execute(wire: SimWire, command: string): string[] {
    const match = /^AT([+%][A-Z]+|)(\?|=\?|=(.*))?$/is.exec(command);
    if (!match) return ['ERROR'];
    const name = match[1]!.toUpperCase();
    const query = match[2] === '?';
    const args = match[3] === undefined ? [] : splitAtArguments(match[3]);
    if (!args) return ['ERROR'];
    switch (name) {
      case '':
        return ['OK'];
      case '+CMEE':
        return this.cmeeCommand(query, args);
      case '+CFUN':
        return this.cfunCommand(query, args);
      case '+CGSN':
        if (args.length === 0) return [this.identity.imei!, 'OK'];
        return integerArgument(args[0], 1, 1) ? [`+CGSN: "${this.identity.imei}"`, 'OK'] : ['ERROR'];
      case '+CGMR':
        return [this.firmware, 'OK'];
      case '+CGMM':
        return [this.model, 'OK'];
      case '%DEVICEUUID':
        return [`%DEVICEUUID: ${this.identity.uuid}`, 'OK'];
      case '%CMNG':
        return this.cmng(wire, command, args);
      case '%KEYGEN':
        return this.keygen(wire, command, args);
      default:
        return ['ERROR'];
    }
  }

  private cmeeCommand(query: boolean, args: AtArgument[]): string[] {
    if (query) return [`+CMEE: ${this.cmee}`, 'OK'];
    const value = integerArgument(args[0], 0, 1);
    if (value === undefined || args.length !== 1) return ['ERROR'];
    this.cmee = value;
    return ['OK'];
  }

  private cfunCommand(query: boolean, args: AtArgument[]): string[] {
    if (query) return [`+CFUN: ${this.cfun}`, 'OK'];
    const value = integerArgument(args[0], 0, 44);
    if (value === undefined || !validCfun.has(value) || args.length !== 1) return ['ERROR'];
    this.cfun = value;
    return ['OK'];
  }

  private cmng(wire: SimWire, command: string, args: AtArgument[]): string[] {
    const opcode = integerArgument(args[0], 0, 3);
    const secTag = integerArgument(args[1], 0, maxSecTag);
    const type = integerArgument(args[2], 0, 11);
    switch (opcode) {
      case 0: {
        const content = args[3];
        if (secTag === undefined || type === undefined || !content?.quoted || content.text.length === 0) {
          return ['ERROR'];
        }
        if (args.length > 5) return ['ERROR'];
        if (this.online()) return this.cmeError(518);
        return this.store(wire, command, `${secTag},${type}`, Buffer.from(content.text, 'latin1'));
      }
      case 1:
        if (args.length > 3 || (args[1] && secTag === undefined) || (args[2] && type === undefined)) {
          return ['ERROR'];
        }
        return [...this.list(secTag, type), 'OK'];
      case 2: {
        if (secTag === undefined || type === undefined || args.length !== 3) return ['ERROR'];
        const stored = this.credentials.get(`${secTag},${type}`);
        if (!stored) return this.cmeError(513);
        // Private keys never leave the modem (INFERRED, protocols.md 1.3).
        if (type === 2 || type === 8) return this.cmeError(514);
        return [`%CMNG: ${secTag},${type},"${sha256Upper(stored)}","${stored.toString('latin1')}"`, 'OK'];
      }
      case 3:
        if (secTag === undefined || type === undefined || args.length !== 3) return ['ERROR'];
        if (this.online()) return this.cmeError(518);
        if (!this.credentials.delete(`${secTag},${type}`)) return this.cmeError(513);
        return ['OK'];
      default:
        return ['ERROR'];
    }
  }

  private list(secTag: number | undefined, type: number | undefined): string[] {
    return [...this.credentials.entries()]
      .map(([key, bytes]) => {
        const [tag, kind] = key.split(',').map(Number) as [number, number];
        return { tag, kind, bytes };
      })
      .filter(
        ({ tag, kind }) => (secTag === undefined || tag === secTag) && (type === undefined || kind === type),
      )
      .sort((a, b) => a.tag - b.tag || a.kind - b.kind)
      .map(({ tag, kind, bytes }) => `%CMNG: ${tag},${kind},"${sha256Upper(bytes)}"`);
  }

  private keygen(wire: SimWire, command: string, args: AtArgument[]): string[] {
    const secTag = integerArgument(args[0], 0, maxSecTag);
    const keyType = integerArgument(args[1], 2, 8);
    const content = args[2] === undefined ? 0 : integerArgument(args[2], 0, 1);
    const attributes = args[3];
    if (secTag === undefined || (keyType !== 2 && keyType !== 8) || content === undefined) return ['ERROR'];
    if (attributes && !attributes.quoted) return ['ERROR'];
    if (this.online()) return this.cmeError(518);
    const generated = simulateKeygen({
      deviceUuid: this.identity.uuid!,
      secTag,
      content: content as 0 | 1,
      nullParameter: this.options.keygenNullParameter ?? false,
      ...(attributes && { attributes: attributes.text }),
    });
    if (!generated) return ['ERROR'];
    const keyPem = generated.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    const stored = this.store(wire, command, `${secTag},${keyType}`, Buffer.from(keyPem, 'latin1'));
    if (stored[0] !== 'OK') return stored;
    return [`%KEYGEN: "${generated.response}"`, 'OK'];
  }

  private store(wire: SimWire, command: string, key: string, bytes: Buffer): string[] {
    const existing = this.credentials.get(key);
    if (existing && this.options.occupiedSlot === 'already-exists') return this.cmeError(519);
    const used = [...this.credentials.values()].reduce((sum, stored) => sum + stored.length, 0);
    const capacity = this.options.capacityBytes ?? 64 * 1024;
    if (wire.fault(command, 'storage-full') || used - (existing?.length ?? 0) + bytes.length > capacity) {
      return this.cmeError(515);
    }
    this.credentials.set(key, bytes);
    return ['OK'];
  }

  private online(): boolean {
    return activeCfun.has(this.cfun);
  }

  /** Numeric only after AT+CMEE=1; bare ERROR otherwise (protocols.md 1.1). */
  private cmeError(code: number): string[] {
    return [this.cmee === 1 ? `+CME ERROR: ${code}` : 'ERROR'];
  }
}

/** A Zephyr warning as the logging subsystem prints it, coloured (bold yellow) for a terminal or plain. */
function logLine(style: 'colour' | 'plain'): string {
  const text = '[00:00:05.120,000] <wrn> lte_lc: LTE link down';
  return style === 'colour' ? `\x1b[1;33m${text}\x1b[0m` : text;
}

function sha256Upper(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex').toUpperCase();
}
