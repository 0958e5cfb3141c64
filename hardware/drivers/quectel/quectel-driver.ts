import { createHash } from 'node:crypto';
import { StationError, invalidInput, isStationError } from '../../../src/api/errors.js';
import type { AtResponse, TranscriptEntry } from '../../transport/at-channel-contract.js';
import { AtChannel } from '../../transport/at-channel.js';
import type { ByteLink } from '../../transport/byte-link.js';
import { resynchronise } from '../../transport/command-mode.js';
import { untilFinalResult, untilLineQuiet } from '../../transport/leftover-output.js';
import type {
  CredentialReadBack,
  CredentialSlot,
  DeviceCapabilities,
  FamilyCapabilities,
  DeviceDriver,
  DeviceIdentity,
  DeviceOperationOptions,
  DeviceSession,
  UsbMatch,
} from '../device-driver.js';
import { downloadFileExchange } from './file-download-exchange.js';
import { parseQuectelChecksum, quectelChecksum } from './upload-checksum.js';

/** Quectel's USB vendor id; BG95/BG96/EG25 all enumerate under it. */
export const quectelUsbMatches: readonly UsbMatch[] = [{ vendorId: '2c7c' }];

/** DOS 8.3 names, as Quectel recommends (protocols.md 3); what AT+QSSLCFG binds each slot to. */
const DEFAULT_FILE_NAMES: Record<CredentialSlot, string> = {
  ca: 'cacert.pem',
  certificate: 'clicert.pem',
  key: 'clikey.pem',
};

const SSL_SETTINGS: Record<CredentialSlot, string> = {
  ca: 'cacert',
  certificate: 'clientcert',
  key: 'clientkey',
};

/** Quectel file errors used here (protocols.md 3, [QERR]). */
const FILE_NOT_FOUND = 405;
const DRIVE_FULL = 403;
const NO_SPACE = 420;
/** QFDEL's answers for a file some handle still holds open (418 delete fail, 426 already opened). */
const FILE_HELD_OPEN: readonly unknown[] = [418, 426];

const MAX_CREDENTIAL_BYTES = 16 * 1024;
const COMMAND_TIMEOUT_MS = 5_000;
/** Per payload byte on top of the command timeout: ten bit times at 115,200 baud, with a wide margin. */
const PAYLOAD_MS_PER_BYTE = 0.5;
/**
 * The module's QFUPL inactivity timeout, in seconds: it leaves data mode after this much silence, keeping
 * what arrived (protocols.md 3). Short, because it is how long a module waits for a station killed
 * mid-upload; the station's bytes flow without pause at 115,200 baud, so a few seconds is ample.
 */
const UPLOAD_IDLE_SECONDS = 3;
/** Slack past the idle timeout for the module's `+QFUPL:`; none by then means it was not in data mode. */
const UPLOAD_END_MARGIN_MS = 1_500;
/** Silence that tells a previous run's output is over; the AtChannel settles for as long after a failure. */
const LEFTOVER_QUIET_MS = 100;
const BAUD_RATE = 115_200;
/** A module in command mode answers the probe at once; one in QFUPL data mode takes it as file data. */
const PROBE_TIMEOUT_MS = 500;
/** The first probe and one after each recovery: a module that still does not answer needs a power cycle. */
const MAX_PROBES = 3;
/**
 * For an upload some other program started with a long idle timeout: the most bytes a QFUPL from this
 * driver announces, so the module has all it waits for. What is left over reaches the command parser as
 * one blank line, closed by the line end, that the module ignores or refuses (ERROR) for its length:
 * spaces, so nothing of it reads as a command.
 */
const FILLER = Buffer.concat([Buffer.alloc(MAX_CREDENTIAL_BYTES, 0x20), Buffer.from('\r\n')]);
/** How long the filler takes on the wire: the module answers only once it has read it all. */
const FILLER_WIRE_MS = (FILLER.length * 10 * 1000) / BAUD_RATE;

// These modules store files they are given; they neither make keys nor sign (protocols.md 3).
const quectelCapabilities: FamilyCapabilities = {
  keyGeneration: false,
  keyInjection: true,
  readBack: 'full',
  proofOfPossession: false,
};

export interface QuectelDriverOptions {
  usb?: readonly UsbMatch[];
  /** The SSL context (0-5) the files are bound to with AT+QSSLCFG. */
  sslContext?: number;
  fileNames?: Partial<Record<CredentialSlot, string>>;
}

export function createQuectelDriver(options: QuectelDriverOptions = {}): DeviceDriver {
  const sslContext = options.sslContext ?? 1;
  if (!Number.isInteger(sslContext) || sslContext < 0 || sslContext > 5) {
    throw invalidInput('sslContext', 'a Quectel SSL context is 0 to 5');
  }
  const fileNames = { ...DEFAULT_FILE_NAMES, ...options.fileNames };
  for (const [slot, name] of Object.entries(fileNames)) {
    if (!/^[A-Za-z0-9_.-]{1,80}$/.test(name)) {
      throw invalidInput(
        `fileNames.${slot}`,
        'a UFS file name is 1 to 80 letters, digits, dots, dashes or underscores',
      );
    }
  }
  return {
    name: 'quectel',
    identityFields: ['deviceId', 'imei', 'serialNumber', 'model', 'firmware'],
    familyCapabilities: quectelCapabilities,
    usb: options.usb ?? quectelUsbMatches,
    // The modules' USB AT ports are virtual: RTS/CTS means nothing there, nor on pseudo-terminals.
    serial: { baudRate: BAUD_RATE, rtscts: false },
    async open(link, openOptions = {}) {
      const channel = new AtChannel(link, {
        lineEnding: '\r\n',
        // Echo is on until ATE0 (protocols.md 3); the channel drops an echoed line and does not mind its absence.
        echo: true,
        maxLineBytes: 1024,
        quoteAwareLines: false,
        defaultTimeoutMs: COMMAND_TIMEOUT_MS,
      });
      try {
        // ATI as the probe: its answer (maker, model, revision) is what identify() needs, and unlike a bare
        // OK no leftover of a killed run can pass for it.
        const about = await resynchronise(channel, {
          module: 'Quectel module',
          // The start-up URCs (RDY, +CPIN: READY) may come ahead of the answer's lines.
          probe: { command: 'ATI', accepts: (info) => info.includes('Quectel') },
          probeTimeoutMs: Math.min(PROBE_TIMEOUT_MS, openOptions.timeoutMs ?? PROBE_TIMEOUT_MS),
          recoveredProbeTimeoutMs: openOptions.timeoutMs ?? COMMAND_TIMEOUT_MS,
          maxProbes: MAX_PROBES,
          recover: (recovery) => endUnfinishedUpload(channel, recovery, openOptions.signal),
          signal: openOptions.signal,
        });
        await channel.send('ATE0', openOptions);
        // Numeric file errors (405, 407, 403) are how this driver tells outcomes apart.
        await channel.send('AT+CMEE=1', openOptions);
        return new QuectelSession(link, channel, sslContext, fileNames, about);
      } catch (error) {
        channel.dispose();
        throw error;
      }
    },
  };
}

export const quectelDriver = createQuectelDriver();

/**
 * A module still in QFUPL data mode from a killed station leaves it once it has heard nothing for the
 * upload's idle timeout, keeping what arrived and reporting `+QFUPL:` then OK (protocols.md 3); the
 * station deletes that stub before it uploads the file again. The probe that found the module silent was
 * the last data it heard, so the wait starts now. Should that not end it (an upload started by another
 * program with a longer timeout), the second recovery gives the module all the bytes it can be waiting for.
 */
async function endUnfinishedUpload(
  channel: AtChannel,
  recovery: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (recovery === 1) {
    await untilFinalResult(channel.link, {
      maxWaitMs: UPLOAD_IDLE_SECONDS * 1000 + UPLOAD_END_MARGIN_MS,
      signal,
    });
    return;
  }
  const started = performance.now();
  await channel.writeRaw(FILLER, `<${FILLER.length} filler bytes ending an unfinished upload>`, signal);
  await untilLineQuiet(channel.link, {
    quietMs: LEFTOVER_QUIET_MS,
    notBeforeMs: FILLER_WIRE_MS - (performance.now() - started),
    maxWaitMs: COMMAND_TIMEOUT_MS,
    signal,
  });
}

class QuectelSession implements DeviceSession {
  readonly driver = 'quectel' as const;
  /** Operations run one at a time: a file read takes the link from the channel for its raw bytes. */
  private turn: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly link: ByteLink,
    private readonly channel: AtChannel,
    private readonly sslContext: number,
    private readonly fileNames: Record<CredentialSlot, string>,
    /** ATI's lines, as the probe at open got them. */
    private readonly about: readonly string[],
  ) {}

  get port(): string {
    return this.link.port;
  }

  identify(options: DeviceOperationOptions = {}): Promise<DeviceIdentity> {
    return this.exclusive(async () => {
      const imei = (await this.command('AT+GSN', options)).info.find((line) => /^\d{15}$/.test(line));
      if (!imei) throw this.unexpected('AT+GSN', 'a 15-digit IMEI');
      const about = this.about;
      const model = about[about.indexOf('Quectel') + 1];
      const firmware = about.map((line) => /^Revision:\s*(\S+)$/.exec(line)?.[1]).find(Boolean);
      const iccid = await this.readIccid(options);
      // The SIM's ICCID is the only serial besides the IMEI these modules report over AT.
      return { deviceId: imei, imei, serialNumber: iccid, model, firmware };
    });
  }

  capabilities(): DeviceCapabilities {
    return { ...quectelCapabilities, maxCredentialBytes: MAX_CREDENTIAL_BYTES };
  }

  generateCsr(): Promise<Uint8Array> {
    return Promise.reject(this.unsupported('generate a key pair'));
  }

  signChallenge(): Promise<Uint8Array> {
    return Promise.reject(this.unsupported('sign a challenge'));
  }

  /** QFDEL (QFUPL refuses an existing file with 407), QFUPL with size and checksum checked, QSSLCFG. */
  writeCredential(
    slot: CredentialSlot,
    content: Uint8Array,
    options: DeviceOperationOptions = {},
  ): Promise<void> {
    if (content.length === 0 || content.length > MAX_CREDENTIAL_BYTES) {
      return Promise.reject(
        invalidInput('content', `a Quectel credential is 1 to ${MAX_CREDENTIAL_BYTES} bytes`),
      );
    }
    return this.exclusive(async () => {
      const path = this.path(slot);
      await this.deleteFile(path, options);
      const command = `AT+QFUPL="${path}",${content.length},${UPLOAD_IDLE_SECONDS}`;
      let answer: AtResponse;
      try {
        answer = await this.channel.sendWithPayload(command, content, {
          prompt: 'CONNECT',
          secret: slot === 'key',
          signal: options.signal,
          onProgress: options.onProgress,
          timeoutMs: options.timeoutMs ?? COMMAND_TIMEOUT_MS + content.length * PAYLOAD_MS_PER_BYTE,
        });
      } catch (error) {
        throw this.explainUploadFailure(error, slot);
      }
      await this.checkUpload(answer, content, slot, path, options);
      await this.command(`AT+QSSLCFG="${SSL_SETTINGS[slot]}",${this.sslContext},"${path}"`, options);
    });
  }

  /** What the SSL context is bound to: its size from QFLST, and for certificates the bytes via QFDWL. */
  readCredential(slot: CredentialSlot, options: DeviceOperationOptions = {}): Promise<CredentialReadBack> {
    return this.exclusive(async () => {
      const path = await this.boundPath(slot, options);
      const size = path === undefined ? undefined : await this.fileSize(path, options);
      if (path === undefined || size === undefined) return { slot, present: false };
      // Reading a key back would put it on the wire and in the transcript; its upload checksum was verified.
      if (slot === 'key') return { slot, present: true };
      const bytes = await this.downloadFile(slot, path, size, options);
      return { slot, present: true, sha256: createHash('sha256').update(bytes).digest('hex'), bytes };
    });
  }

  deleteCredential(slot: CredentialSlot, options: DeviceOperationOptions = {}): Promise<void> {
    return this.exclusive(() => this.deleteFile(this.path(slot), options));
  }

  transcript(): readonly TranscriptEntry[] {
    return this.channel.transcript();
  }

  async close(): Promise<void> {
    await this.turn.catch(() => undefined);
    this.channel.dispose();
    if (!this.link.closed) await this.link.close();
  }

  private exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.turn.catch(() => undefined).then(operation);
    this.turn = result;
    return result;
  }

  private command(command: string, options: DeviceOperationOptions): Promise<AtResponse> {
    return this.channel.send(command, { signal: options.signal, timeoutMs: options.timeoutMs });
  }

  private path(slot: CredentialSlot): string {
    return `UFS:${this.fileNames[slot]}`;
  }

  /** No SIM is normal on a factory line: the ICCID is then simply unknown. Some SIMs pad it with F. */
  private async readIccid(options: DeviceOperationOptions): Promise<string | undefined> {
    try {
      const answer = await this.command('AT+QCCID', options);
      const iccid = answer.info.map((line) => /^\+QCCID:\s*(\d{18,20})F?$/i.exec(line)?.[1]).find(Boolean);
      return iccid;
    } catch (error) {
      if (isStationError(error) && error.code.startsWith('device.')) return undefined;
      throw error;
    }
  }

  /**
   * A missing file is already deleted. A file held open (by a QFOPEN handle a killed program never
   * closed) stays undeletable until the module restarts: only a power cycle helps.
   */
  private async deleteFile(path: string, options: DeviceOperationOptions): Promise<void> {
    try {
      await this.command(`AT+QFDEL="${path}"`, options);
    } catch (error) {
      const code = cmeCode(error);
      if (code === FILE_NOT_FOUND) return;
      if (!FILE_HELD_OPEN.includes(code)) throw error;
      throw new StationError(
        'device.file-held-open',
        `The Quectel module on ${this.port} will not delete ${path} because the file is still open (+CME ERROR: ${String(code)}); power-cycle the module (unplug it and plug it in again), then retry.`,
        { port: this.port, details: { path, cme: code }, cause: error },
      );
    }
  }

  /** `+QFUPL: <size>,<checksum>`: both must match what was sent, else the file is removed again. */
  private async checkUpload(
    answer: AtResponse,
    content: Uint8Array,
    slot: CredentialSlot,
    path: string,
    options: DeviceOperationOptions,
  ): Promise<void> {
    const [, size, checksum] = /^\+QFUPL:\s*(\d+),([0-9a-fA-F]+)$/.exec(answer.info.at(-1) ?? '') ?? [];
    if (size === undefined || checksum === undefined)
      throw this.unexpected('AT+QFUPL', 'the +QFUPL size and checksum');
    const expected = quectelChecksum(content);
    if (Number(size) === content.length && parseQuectelChecksum(checksum) === expected) return;
    await this.deleteFile(path, options);
    throw new StationError(
      'device.write-corrupted',
      `The Quectel module on ${this.port} stored ${size} bytes with checksum ${checksum} for the ${slot}, not ${content.length} bytes with ${expected.toString(16)}; write it again.`,
      { port: this.port, details: { slot, size: Number(size), checksum } },
    );
  }

  private async boundPath(
    slot: CredentialSlot,
    options: DeviceOperationOptions,
  ): Promise<string | undefined> {
    const setting = SSL_SETTINGS[slot];
    const answer = await this.command(`AT+QSSLCFG="${setting}",${this.sslContext}`, options);
    const bound = answer.info
      .map((line) => /^\+QSSLCFG:\s*"[^"]*",\d+,"([^"]*)"$/.exec(line)?.[1])
      .find((path) => path !== undefined);
    if (bound === undefined) throw this.unexpected(`AT+QSSLCFG="${setting}"`, 'the bound file');
    if (bound === '') return undefined;
    // A bare name means UFS; QFLST always shows the drive (protocols.md 3).
    return /^(UFS|RAM):/i.test(bound) ? bound : `UFS:${bound}`;
  }

  private async fileSize(path: string, options: DeviceOperationOptions): Promise<number | undefined> {
    const answer = await this.command(`AT+QFLST="${path}"`, options);
    const listed = answer.info
      .map((line) => /^\+QFLST:\s*"([^"]+)",(\d+)$/.exec(line))
      .find((match) => match?.[1]?.toLowerCase() === path.toLowerCase());
    return listed?.[2] === undefined ? undefined : Number(listed[2]);
  }

  /**
   * One AT+QFDWL of exactly the size QFLST listed, then its `+QFDWL:` size and checksum checked against
   * the bytes received. QFDWL opens no handle (unlike QFOPEN/QFREAD), so an interrupted read leaves the
   * file deletable.
   */
  private async downloadFile(
    slot: CredentialSlot,
    path: string,
    size: number,
    options: DeviceOperationOptions,
  ): Promise<Buffer> {
    if (size > MAX_CREDENTIAL_BYTES) {
      throw new StationError(
        'device.file-too-large',
        `The ${slot} file ${path} on the Quectel module on ${this.port} is ${size} bytes, more than a credential can be (${MAX_CREDENTIAL_BYTES}); write the ${slot} again.`,
        { port: this.port, details: { slot, path, size } },
      );
    }
    const download = await downloadFileExchange(this.link, `AT+QFDWL="${path}"`, {
      size,
      timeoutMs: options.timeoutMs ?? COMMAND_TIMEOUT_MS + size * PAYLOAD_MS_PER_BYTE,
      signal: options.signal,
    });
    const checksum = quectelChecksum(download.bytes);
    if (download.reportedSize === size && download.reportedChecksum === checksum) return download.bytes;
    throw new StationError(
      'device.read-corrupted',
      `The Quectel module on ${this.port} sent ${download.reportedSize} bytes with checksum ${download.reportedChecksum.toString(16)} for ${path}, but the station received ${size} bytes with checksum ${checksum.toString(16)}; check the cable and read the ${slot} again.`,
      {
        port: this.port,
        details: {
          slot,
          path,
          size,
          checksum,
          reportedSize: download.reportedSize,
          reportedChecksum: download.reportedChecksum,
        },
      },
    );
  }

  /** Drive full (403) or no space (420) becomes one error a technician can act on. */
  private explainUploadFailure(error: unknown, slot: CredentialSlot): unknown {
    const code = cmeCode(error);
    if (code !== DRIVE_FULL && code !== NO_SPACE) return error;
    return new StationError(
      'device.storage-full',
      `The Quectel module on ${this.port} has no room for the ${slot} (+CME ERROR: ${code}); delete unused files from its UFS and retry.`,
      { port: this.port, details: { slot, cme: code }, cause: error },
    );
  }

  private unsupported(what: string): StationError {
    return new StationError(
      'device.unsupported',
      `The Quectel module on ${this.port} cannot ${what}; provision it with a key made by the station.`,
      { port: this.port },
    );
  }

  private unexpected(command: string, expected: string): StationError {
    return new StationError(
      'device.unexpected-answer',
      `The device on ${this.port} did not return ${expected} for ${command}; it may not be a Quectel module.`,
      { port: this.port, details: { command } },
    );
  }
}

function cmeCode(error: unknown): unknown {
  return isStationError(error) && error.code === 'device.cme-error' ? error.details?.cme : undefined;
}
