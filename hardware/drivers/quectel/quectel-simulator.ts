import { createHash, randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { CredentialSlot, DeviceIdentity, DeviceSimulator, SimulatorOptions } from '../device-driver.js';
import { SimWire } from '../../sim/sim-wire.js';
import { parseQuectelArguments, type QuectelArgument } from './quectel-arguments.js';
import { formatQuectelChecksum, quectelChecksum } from './upload-checksum.js';
import {
  QuectelDriveStore,
  formatQuectelFileName,
  parseQuectelFileName,
  type QuectelDrive,
  type QuectelFileName,
} from './ufs.js';

export interface QuectelSimulatorOptions extends SimulatorOptions {
  /** Echo as the module starts (on by default, protocols.md 3); ATE0/ATE1 change it. */
  echo?: boolean;
  ufsCapacityBytes?: number;
  /** The SSL context storedCredentials() reads the cacert/clientcert/clientkey bindings of (0-5). */
  sslContext?: number;
  /** Some SIMs pad the ICCID with a trailing F (protocols.md 3). */
  iccidTrailingF?: boolean;
  /**
   * The module is still starting up while it answers the first command that starts with this text: its
   * unsolicited `RDY`, `+CPIN: READY` and `+QIND: SMS DONE` come ahead of that answer's lines.
   */
  startupUrcsDuring?: string;
}

/** protocols.md gives no command-length limit for Quectel; the buffer is bounded anyway (INFERRED). */
export const QUECTEL_MAX_COMMAND_BYTES = 2048;
const RAM_CAPACITY_BYTES = 64 * 1024;
/** ACK mode: the module sends `A` after each 1 KB and the host waits for it (protocols.md 3). */
const ACK_EVERY_BYTES = 1024;
const MAX_OPEN_FILES = 4;

/** The Quectel file error table (protocols.md 3, [QERR]), as `+CME ERROR: n` or, with CMEE=2, as text. */
export const QUECTEL_FILE_ERRORS = {
  400: 'invalid input value',
  401: 'larger than the size of the file',
  402: 'read zero byte',
  403: 'drive full',
  405: 'file not found',
  406: 'invalid file name',
  407: 'file already existed',
  409: 'fail to write the file',
  410: 'fail to open the file',
  411: 'fail to read the file',
  413: 'reach the max number of file allowed to be opened',
  414: 'the file read-only',
  416: 'invalid file descriptor',
  417: 'fail to list the file',
  418: 'fail to delete the file',
  419: 'fail to get disk info',
  420: 'no space',
  421: 'time out',
  423: 'file too large',
  425: 'invalid parameter',
  426: 'file already opened',
} as const;
export type QuectelFileError = keyof typeof QUECTEL_FILE_ERRORS;

const REFUSAL_CODES: Record<string, QuectelFileError> = {
  'AT+QFUPL': 409,
  'AT+QFDEL': 418,
  'AT+QFLST': 417,
  'AT+QFLDS': 419,
  'AT+QFOPEN': 410,
  'AT+QFREAD': 411,
  'AT+QFDWL': 411,
};

const SSL_FILE_SETTINGS = ['cacert', 'clientcert', 'clientkey'] as const;
const SSL_NUMBER_SETTINGS: Record<string, number> = { seclevel: 2, sslversion: 4, ignorelocaltime: 1 };
const SLOT_SETTINGS: Record<CredentialSlot, (typeof SSL_FILE_SETTINGS)[number]> = {
  ca: 'cacert',
  certificate: 'clientcert',
  key: 'clientkey',
};

interface Upload {
  command: string;
  file: QuectelFileName;
  /** Undefined: take bytes until the inactivity timeout. */
  size?: number;
  timeoutMs: number;
  ackMode: boolean;
  received: Buffer[];
  receivedBytes: number;
  timer?: NodeJS.Timeout;
}

interface OpenFile {
  file: QuectelFileName;
  position: number;
}

/**
 * A Quectel BG96 with its UFS/RAM file system, AT+QFUPL (CONNECT, raw bytes, XOR checksum), QFDWL (the
 * same the other way), QFLST, QFDEL, QFOPEN/QFREAD/QFCLOSE and AT+QSSLCFG bindings (protocols.md 3).
 * Faults, latency and pacing go through the shared SimWire.
 */
export class QuectelSimulator implements DeviceSimulator {
  readonly driver = 'quectel' as const;
  readonly identity: DeviceIdentity;
  private readonly iccid: string;
  private readonly sslContext: number;
  private readonly drives: Record<QuectelDrive, QuectelDriveStore>;
  private readonly sslSettings = new Map<string, string | number>();
  private readonly openFiles = new Map<number, OpenFile>();
  private nextHandle = 1;
  private echo: boolean;
  /** Whether the start-up URCs (startupUrcsDuring) are still to come. */
  private startupUrcsPending: boolean;
  private cmee = 1;
  private wire?: SimWire;
  private pending = Buffer.alloc(0);
  private upload?: Upload;
  private discarding = false;

  constructor(private readonly options: QuectelSimulatorOptions = {}) {
    this.startupUrcsPending = options.startupUrcsDuring !== undefined;
    this.echo = options.echo ?? true;
    this.sslContext = options.sslContext ?? 1;
    this.drives = {
      UFS: new QuectelDriveStore(options.ufsCapacityBytes ?? 128 * 1024),
      RAM: new QuectelDriveStore(RAM_CAPACITY_BYTES),
    };
    const digits = digitsFromSeed(options.seed, 25);
    const imei = withLuhn(`86110703${digits.slice(0, 6)}`);
    this.iccid = `8901260${digits.slice(6, 18)}${options.iccidTrailingF === false ? '' : 'F'}`;
    this.identity = {
      deviceId: imei,
      imei,
      serialNumber: this.iccid.replace(/F$/, ''),
      model: 'BG96',
      firmware: 'BG96MAR02A07M1G',
    };
  }

  attach(stream: Duplex): void {
    this.resetLink();
    this.wire = new SimWire(stream, this.options);
    this.wire.onBytes((chunk) => this.receive(chunk));
    stream.once('close', () => this.resetLink());
  }

  storedCredentials(): Map<CredentialSlot, Uint8Array> {
    const stored = new Map<CredentialSlot, Uint8Array>();
    for (const [slot, setting] of Object.entries(SLOT_SETTINGS) as [CredentialSlot, string][]) {
      const path = this.sslSettings.get(`${setting},${this.sslContext}`);
      const file = typeof path === 'string' ? parseQuectelFileName(path) : undefined;
      const content = file && this.drives[file.drive].get(file.name);
      if (content) stored.set(slot, Uint8Array.from(content));
    }
    return stored;
  }

  close(): void {
    this.resetLink();
    this.wire?.close();
  }

  /**
   * A link that goes away is a power cycle to the module: an upload in progress is dropped, open files
   * close, RAM: files are lost and echo comes back on.
   */
  private resetLink(): void {
    clearTimeout(this.upload?.timer);
    this.upload = undefined;
    this.pending = Buffer.alloc(0);
    this.discarding = false;
    this.openFiles.clear();
    this.drives.RAM.clear();
    this.echo = this.options.echo ?? true;
    this.cmee = 1;
  }

  private receive(chunk: Buffer): void {
    this.pending = Buffer.concat([this.pending, chunk]);
    while (this.pending.length > 0) {
      if (this.upload) {
        this.takeUploadBytes(this.upload);
        continue;
      }
      const lineEnd = this.pending.findIndex((byte) => byte === 0x0d || byte === 0x0a);
      if (this.discarding) {
        this.pending = lineEnd === -1 ? Buffer.alloc(0) : this.pending.subarray(lineEnd + 1);
        this.discarding = lineEnd === -1;
        continue;
      }
      if (lineEnd === -1) {
        if (this.pending.length > QUECTEL_MAX_COMMAND_BYTES) {
          this.pending = Buffer.alloc(0);
          this.discarding = true;
          this.answer('', '\r\nERROR\r\n', true);
        }
        return;
      }
      // A CR-LF pair ends one command, not two.
      const consumed =
        this.pending[lineEnd] === 0x0d && this.pending[lineEnd + 1] === 0x0a ? lineEnd + 2 : lineEnd + 1;
      const raw = this.pending.subarray(0, consumed);
      this.pending = this.pending.subarray(consumed);
      const line = raw.subarray(0, lineEnd).toString('latin1').trim();
      if (line === '') continue;
      if (this.echo) this.answer(line, raw);
      this.runCommand(line);
    }
  }

  private runCommand(line: string): void {
    const upper = line.toUpperCase();
    const equals = line.indexOf('=');
    const name = (equals === -1 ? upper : upper.slice(0, equals)).replace(/\?$/, '');
    const args = equals === -1 ? [] : parseQuectelArguments(line.slice(equals + 1));
    if (this.wire?.fault(line, 'refuse')) return this.refuse(line, name);
    if (!args) return this.error(line);
    switch (name) {
      case 'AT':
        return this.ok(line);
      case 'ATE0':
      case 'ATE1':
        this.echo = name === 'ATE1';
        return this.ok(line);
      case 'AT&F':
      case 'AT&F0':
        this.echo = true;
        this.cmee = 1;
        return this.ok(line);
      case 'ATI':
        return this.ok(line, ['Quectel', 'BG96', `Revision: ${this.identity.firmware ?? ''}`]);
      case 'AT+GMR':
        return this.ok(line, [this.identity.firmware ?? '']);
      case 'AT+GSN':
      case 'AT+CGSN':
        return this.ok(line, [this.identity.imei ?? '']);
      case 'AT+QCCID':
        return this.ok(line, [`+QCCID: ${this.iccid}`]);
      case 'AT+CMEE':
        return this.setCmee(line, upper.endsWith('?'), args);
      case 'AT+QFLST':
        return this.listFiles(line, args);
      case 'AT+QFLDS':
        return this.diskSpace(line, args);
      case 'AT+QFDEL':
        return this.deleteFiles(line, args);
      case 'AT+QFUPL':
        return this.startUpload(line, args);
      case 'AT+QFDWL':
        return this.download(line, args);
      case 'AT+QFOPEN':
        return this.openFile(line, args);
      case 'AT+QFREAD':
        return this.readFile(line, args);
      case 'AT+QFCLOSE':
        return this.closeFile(line, args);
      case 'AT+QSSLCFG':
        return this.sslConfig(line, args);
      default:
        return this.error(line);
    }
  }

  private setCmee(line: string, query: boolean, args: QuectelArgument[]): void {
    if (query) return this.ok(line, [`+CMEE: ${this.cmee}`]);
    const [mode] = args;
    if (args.length !== 1 || mode?.kind !== 'number' || mode.value > 2) return this.error(line);
    this.cmee = mode.value;
    this.ok(line);
  }

  private listFiles(line: string, args: QuectelArgument[]): void {
    const [pattern] = args;
    if (args.length > 1 || (pattern && pattern.kind !== 'string')) return this.cmeError(line, 400);
    const match = /^(UFS|RAM):(.*)$/i.exec(pattern?.value ?? '*');
    const drive = (match?.[1]?.toUpperCase() as QuectelDrive | undefined) ?? 'UFS';
    const files = this.drives[drive].list(match ? (match[2] ?? '') : (pattern?.value ?? '*'));
    this.ok(
      line,
      files.map(([name, content]) => `+QFLST: "${formatQuectelFileName({ drive, name })}",${content.length}`),
    );
  }

  private diskSpace(line: string, args: QuectelArgument[]): void {
    const [drive] = args;
    const name = drive?.kind === 'string' ? drive.value.toUpperCase() : 'UFS';
    if (name !== 'UFS' && name !== 'RAM') return this.cmeError(line, 400);
    const store = this.drives[name];
    this.ok(line, [`+QFLDS: ${store.freeBytes()},${store.capacityBytes}`]);
  }

  private deleteFiles(line: string, args: QuectelArgument[]): void {
    const [target] = args;
    if (args.length !== 1 || target?.kind !== 'string') return this.cmeError(line, 400);
    if (target.value === '*' || /^(UFS|RAM):\*$/i.test(target.value)) {
      this.drives[/^RAM:/i.test(target.value) ? 'RAM' : 'UFS'].clear();
      return this.ok(line);
    }
    const file = parseQuectelFileName(target.value);
    if (!file) return this.cmeError(line, 406);
    if ([...this.openFiles.values()].some((open) => sameFile(open.file, file)))
      return this.cmeError(line, 418);
    return this.drives[file.drive].delete(file.name) ? this.ok(line) : this.cmeError(line, 405);
  }

  private startUpload(line: string, args: QuectelArgument[]): void {
    const [nameArgument, ...rest] = args;
    const [size, timeout, ackMode, ...extra] = rest.map((argument) =>
      argument.kind === 'number' ? argument.value : NaN,
    );
    if (nameArgument?.kind !== 'string' || extra.length > 0) return this.cmeError(line, 400);
    if ([size, timeout, ackMode].some((value) => Number.isNaN(value))) return this.cmeError(line, 425);
    const file = parseQuectelFileName(nameArgument.value);
    if (!file) return this.cmeError(line, 406);
    const store = this.drives[file.drive];
    if (store.has(file.name)) return this.cmeError(line, 407);
    if (size !== undefined && size <= 0) return this.cmeError(line, 425);
    if (this.wire?.fault(line, 'storage-full') || (size ?? 1) > store.freeBytes()) {
      return this.cmeError(line, 403);
    }
    const upload: Upload = {
      command: line,
      file,
      size,
      timeoutMs: (timeout ?? 5) * 1000,
      ackMode: ackMode === 1,
      received: [],
      receivedBytes: 0,
    };
    this.upload = upload;
    this.answer(line, '\r\nCONNECT\r\n');
    this.armUploadTimer(upload);
  }

  /** The module leaves data mode when the size is reached or the timeout passes with no data (protocols.md 3). */
  private armUploadTimer(upload: Upload): void {
    clearTimeout(upload.timer);
    upload.timer = setTimeout(() => this.finishUpload(upload), upload.timeoutMs);
    upload.timer.unref();
  }

  private takeUploadBytes(upload: Upload): void {
    const wanted = upload.size === undefined ? this.pending.length : upload.size - upload.receivedBytes;
    const piece = this.pending.subarray(0, wanted);
    this.pending = this.pending.subarray(piece.length);
    const before = upload.receivedBytes;
    upload.received.push(piece);
    upload.receivedBytes += piece.length;
    if (this.wire?.disconnectsDuring(upload.command, upload.receivedBytes, upload.size ?? Infinity)) {
      this.resetLink();
      return;
    }
    const done = upload.size !== undefined && upload.receivedBytes >= upload.size;
    if (done) return this.finishUpload(upload);
    if (
      upload.ackMode &&
      Math.floor(upload.receivedBytes / ACK_EVERY_BYTES) > Math.floor(before / ACK_EVERY_BYTES)
    ) {
      this.answer(upload.command, 'A');
    }
    this.armUploadTimer(upload);
  }

  /** Whatever arrived is kept, even when short: the host sees the size in `+QFUPL:` and must check it. */
  private finishUpload(upload: Upload): void {
    clearTimeout(upload.timer);
    if (this.upload !== upload) return;
    this.upload = undefined;
    const content = Buffer.concat(upload.received);
    const store = this.drives[upload.file.drive];
    if (content.length > store.freeBytes()) return this.cmeError(upload.command, 403);
    store.set(upload.file.name, content);
    this.answer(
      upload.command,
      `\r\n+QFUPL: ${content.length},${formatQuectelChecksum(quectelChecksum(content))}\r\n\r\nOK\r\n`,
      true,
    );
  }

  /**
   * `AT+QFDWL="<name>"`: CONNECT, exactly the file's bytes, then `+QFDWL: <size>,<checksum>` and OK, with
   * the QFUPL checksum. No handle is opened, so a host that goes away mid-download leaves nothing behind.
   * A disconnect fault makes the module vanish once half the bytes are out: the answer goes in three
   * pieces so the wire can drop the line just before the byte after the first half.
   */
  private download(line: string, args: QuectelArgument[]): void {
    const [nameArgument] = args;
    if (args.length !== 1 || nameArgument?.kind !== 'string') return this.cmeError(line, 400);
    const file = parseQuectelFileName(nameArgument.value);
    if (!file) return this.cmeError(line, 406);
    const stored = this.drives[file.drive].get(file.name);
    if (!stored) return this.cmeError(line, 405);
    const content = Buffer.from(stored);
    if (this.wire?.disconnectsDuring(line, 0, content.length)) return;
    const half = Math.floor(content.length / 2);
    const summary = `\r\n+QFDWL: ${content.length},${formatQuectelChecksum(quectelChecksum(content))}\r\n\r\nOK\r\n`;
    this.answer(line, Buffer.concat([Buffer.from('\r\nCONNECT\r\n'), content.subarray(0, half)]));
    this.answer(line, content.subarray(half, half + 1), false, () =>
      this.wire?.disconnectsDuring(line, half + 1, content.length),
    );
    this.answer(line, Buffer.concat([content.subarray(half + 1), Buffer.from(summary)]), true);
  }

  private openFile(line: string, args: QuectelArgument[]): void {
    const [nameArgument, mode] = args;
    if (nameArgument?.kind !== 'string' || (mode && mode.kind !== 'number') || args.length > 2) {
      return this.cmeError(line, 400);
    }
    const file = parseQuectelFileName(nameArgument.value);
    if (!file) return this.cmeError(line, 406);
    const openMode = mode?.value ?? 0;
    if (openMode > 2) return this.cmeError(line, 425);
    if ([...this.openFiles.values()].some((open) => sameFile(open.file, file)))
      return this.cmeError(line, 426);
    if (this.openFiles.size >= MAX_OPEN_FILES) return this.cmeError(line, 413);
    const store = this.drives[file.drive];
    // Mode 0 opens or creates, 1 creates or clears, 2 opens an existing file read-only.
    if (openMode === 2 && !store.has(file.name)) return this.cmeError(line, 405);
    if (openMode === 1 || !store.has(file.name)) store.set(file.name, new Uint8Array());
    const handle = this.nextHandle++;
    this.openFiles.set(handle, { file, position: 0 });
    this.ok(line, [`+QFOPEN: ${handle}`]);
  }

  /** `CONNECT <n>`, n raw bytes, OK: the length says where the data stops. */
  private readFile(line: string, args: QuectelArgument[]): void {
    const [handle, length] = args;
    if (handle?.kind !== 'number' || (length && length.kind !== 'number') || args.length > 2) {
      return this.cmeError(line, 400);
    }
    const open = this.openFiles.get(handle.value);
    const content = open && this.drives[open.file.drive].get(open.file.name);
    if (!open || !content) return this.cmeError(line, 416);
    const end = Math.min(content.length, open.position + (length?.value ?? content.length));
    const data = content.subarray(open.position, end);
    open.position = end;
    this.answer(
      line,
      Buffer.concat([Buffer.from(`\r\nCONNECT ${data.length}\r\n`), data, Buffer.from('\r\nOK\r\n')]),
      true,
    );
  }

  private closeFile(line: string, args: QuectelArgument[]): void {
    const [handle] = args;
    if (handle?.kind !== 'number' || args.length !== 1) return this.cmeError(line, 400);
    return this.openFiles.delete(handle.value) ? this.ok(line) : this.cmeError(line, 416);
  }

  /** Paths are stored as given; whether the file exists matters only when a TLS session opens (protocols.md 3). */
  private sslConfig(line: string, args: QuectelArgument[]): void {
    const [setting, context, value, ...extra] = args;
    if (setting?.kind !== 'string' || context?.kind !== 'number' || context.value > 5 || extra.length > 0) {
      return this.error(line);
    }
    const name = setting.value.toLowerCase();
    const key = `${name},${context.value}`;
    const isFileSetting = (SSL_FILE_SETTINGS as readonly string[]).includes(name);
    const numberLimit = SSL_NUMBER_SETTINGS[name];
    if (!isFileSetting && numberLimit === undefined && name !== 'ciphersuite') return this.error(line);
    if (value === undefined) {
      const current = this.sslSettings.get(key);
      const shown =
        typeof current === 'string' ? `"${current}"` : String(current ?? (isFileSetting ? '""' : 0));
      return this.ok(line, [`+QSSLCFG: "${name}",${context.value},${shown}`]);
    }
    if (isFileSetting) {
      if (value.kind !== 'string') return this.error(line);
      this.sslSettings.set(key, value.value);
      return this.ok(line);
    }
    if (value.kind !== 'number' || (numberLimit !== undefined && value.value > numberLimit))
      return this.error(line);
    this.sslSettings.set(key, name === 'ciphersuite' ? value.text : value.value);
    this.ok(line);
  }

  private ok(command: string, info: string[] = []): void {
    const startingUp = this.options.startupUrcsDuring;
    if (this.startupUrcsPending && startingUp !== undefined && command.toUpperCase().startsWith(startingUp)) {
      this.startupUrcsPending = false;
      info = ['RDY', '+CPIN: READY', '+QIND: SMS DONE', ...info];
    }
    const body = info.map((text) => `\r\n${text}`).join('');
    this.answer(command, `${body}${body ? '\r\n' : ''}\r\nOK\r\n`, true);
  }

  /** A refused file command fails with the table's code for its operation; anything else with ERROR. */
  private refuse(command: string, name: string): void {
    const code = REFUSAL_CODES[name];
    return code === undefined ? this.error(command) : this.cmeError(command, code);
  }

  private error(command: string): void {
    this.answer(command, '\r\nERROR\r\n', true);
  }

  private cmeError(command: string, code: QuectelFileError): void {
    if (this.cmee === 0) return this.error(command);
    const reason = this.cmee === 2 ? QUECTEL_FILE_ERRORS[code] : String(code);
    this.answer(command, `\r\n+CME ERROR: ${reason}\r\n`, true);
  }

  private answer(command: string, text: string | Buffer, final = false, beforeLastByte?: () => void): void {
    const bytes = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
    this.wire?.answer(command, bytes, final, beforeLastByte);
  }
}

function sameFile(a: QuectelFileName, b: QuectelFileName): boolean {
  return a.drive === b.drive && a.name.toLowerCase() === b.name.toLowerCase();
}

/** Decimal digits from the seed, so a seeded bench always shows the same IMEIs and ICCIDs. */
function digitsFromSeed(seed: number | undefined, count: number): string {
  const bytes =
    seed === undefined ? randomBytes(count) : createHash('sha256').update(`quectel:${seed}`).digest();
  return [...bytes.subarray(0, count)].map((byte) => String(byte % 10)).join('');
}

/** Appends the Luhn check digit an IMEI ends with. */
export function withLuhn(digits: string): string {
  let sum = 0;
  for (let index = 0; index < digits.length; index += 1) {
    let digit = Number(digits[digits.length - 1 - index]);
    if (index % 2 === 0) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return `${digits}${(10 - (sum % 10)) % 10}`;
}
