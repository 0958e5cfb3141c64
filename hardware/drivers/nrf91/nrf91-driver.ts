import { StationError, invalidInput, isStationError } from '../../../src/api/errors.js';
import type {
  CredentialReadBack,
  CredentialSlot,
  CsrRequest,
  DeviceCapabilities,
  FamilyCapabilities,
  DeviceDriver,
  DeviceIdentity,
  DeviceOperationOptions,
  DeviceSession,
} from '../device-driver.js';
import { AtChannel } from '../../transport/at-channel.js';
import type { AtCommandOptions, AtResponse, TranscriptEntry } from '../../transport/at-channel-contract.js';
import type { ByteLink, SerialSettings } from '../../transport/byte-link.js';
import { resynchronise } from '../../transport/command-mode.js';
import { parseKeygenLine } from './keygen-response.js';
import { isValidImei } from './modem-identity.js';
import { credentialTypes, defaultSecTag } from './nrf91-credentials.js';

export interface Nrf91DriverOptions {
  /** Where credentials go; nRF Cloud's 16842753 by default. */
  secTag?: number;
  /** 115,200 baud with RTS/CTS as on DKs (protocols.md 1.6); turn RTS/CTS off for boards without it. */
  serial?: Partial<SerialSettings>;
  /** Per command; nrfcredstore waits 15 s (protocols.md 1.1). */
  commandTimeoutMs?: number;
}

/**
 * The longest command at_host takes whole (protocols.md 1.1, 6.4): its 4,096-byte buffer keeps a NUL after
 * the text, so 4,095 characters fit, and one of them is a line-end byte (the CR of our CRLF, which at_host
 * stores before the LF sends the command; in its CR mode, the LF left over from the previous command). A
 * longer command is silently cut: its closing quote or line end is dropped and the modem never answers.
 */
export const maxCommandBytes = 4094;
/** nrfcredstore's opening (protocols.md 1.1): a bare line ending runs or drops a partial line. */
const BARE_LINE_END = Buffer.from('\r\n');
/** A modem at an empty line answers the probe at once; one inside an open quote never does. */
const PROBE_TIMEOUT_MS = 500;
/**
 * The first probe and one after each recovery: a recovery sent to a modem that was silent for another
 * reason (still busy) opens a quote, which the next recovery closes.
 */
const MAX_PROBES = 3;
/**
 * Ends a %CMNG write a killed station left inside its open quote, where at_host keeps taking line ends as
 * content (protocols.md 1.1): the quote closes and the line end sends the stub, which the modem refuses or
 * stores as junk in that slot, which the station writes again before anything reads it. The two
 * backspaces first make room when the stub, our bare line ending and the probe filled at_host's buffer
 * (a write cut just before its closing quote): they delete only bytes we sent after the stub's quote.
 */
const CLOSE_DANGLING_QUOTE = Buffer.from('\b\b"\r\n', 'latin1');

/** Responses carry up to a whole stored PEM inside one quoted line. */
const maxResponseLineBytes = 16 * 1024;

/** CME codes the modem gives for credential work (protocols.md 1.1, 1.3) and what a technician should do. */
const cmeMeanings: Record<number, { code: `device.${string}`; message: string }> = {
  0: { code: 'device.unsupported', message: 'its modem firmware does not support this command' },
  513: { code: 'device.credential-missing', message: 'the credential is not there' },
  514: { code: 'device.refused', message: 'the modem does not allow this operation' },
  515: {
    code: 'device.storage-full',
    message: 'the modem has no room left for credentials; delete unused sec_tags',
  },
  518: { code: 'device.modem-online', message: 'the modem is online; it must be in AT+CFUN=4 first' },
  519: { code: 'device.already-exists', message: 'the credential already exists' },
  523: { code: 'device.keygen-failed', message: 'the modem could not generate a key' },
  527: { code: 'device.invalid-content', message: 'the modem rejected the certificate content' },
};

const nrf91Capabilities: FamilyCapabilities = {
  keyGeneration: true,
  keyInjection: true,
  // Read back by listing (AT%CMNG=1): the SHA-256 the modem computes of the stored bytes.
  readBack: 'digest',
  // %KEYGEN keys sign nothing we send over AT: possession is shown by the CSR's key in the certificate.
  proofOfPossession: false,
};

export function createNrf91Driver(options: Nrf91DriverOptions = {}): DeviceDriver {
  const secTag = options.secTag ?? defaultSecTag;
  const timeoutMs = options.commandTimeoutMs ?? 15_000;
  return {
    name: 'nrf91',
    identityFields: ['deviceId', 'imei', 'uuid', 'model', 'firmware'],
    familyCapabilities: nrf91Capabilities,
    // Nordic Semiconductor's USB vendor id (Thingy:91, nRF91 DK via Nordic interface firmware).
    usb: [{ vendorId: '1915' }],
    serial: { baudRate: 115_200, rtscts: true, ...options.serial },
    async open(link: ByteLink, openOptions: DeviceOperationOptions = {}): Promise<DeviceSession> {
      const channel = new AtChannel(link, {
        lineEnding: '\r\n',
        echo: false,
        maxLineBytes: maxResponseLineBytes,
        quoteAwareLines: true,
        // The application's Zephyr log may share the AT UART, in colour (protocols.md 1.1).
        stripAnsiEscapes: true,
        defaultTimeoutMs: timeoutMs,
      });
      const session = new Nrf91Session(channel, secTag);
      try {
        await resynchroniseModem(channel, openOptions, timeoutMs);
        // Numeric CME codes first, as nrfcredstore does (protocols.md 1.1).
        await session.command('AT+CMEE=1', openOptions);
      } catch (error) {
        await session.close();
        throw error;
      }
      return session;
    },
  };
}

export const nrf91Driver = createNrf91Driver();

/**
 * Brings at_host to an empty line, in step, before the session's first command. A partial line in its
 * buffer (a terminal, another tool) would prefix our first command; a %CMNG write a killed station left
 * inside its open quote makes at_host take every later line end as content, so nothing would ever be
 * answered until a power cycle. As nrfcredstore opens a port, a bare line ending runs or drops whatever
 * is buffered (protocols.md 1.1). nrfcredstore then waits 0.2 s for the answer to pass; here the probe
 * goes at once, as it costs every device on the happy path: AT+CFUN?, whose `+CFUN:` line no leftover
 * answer (the ERROR to a partial line) can pass for, so a late one only means waiting for quiet and probing
 * again. Silence means an open quote, which is closed.
 */
async function resynchroniseModem(
  channel: AtChannel,
  options: DeviceOperationOptions,
  commandTimeoutMs: number,
): Promise<void> {
  const { signal } = options;
  await channel.writeRaw(BARE_LINE_END, '<bare line ending>', signal);
  await resynchronise(channel, {
    module: 'nRF91 modem',
    probe: {
      command: 'AT+CFUN?',
      // Log lines of the application may come along (protocols.md 1.1).
      accepts: (info) => info.some((line) => /^\+CFUN:\s*\d+$/.test(line)),
    },
    probeTimeoutMs: Math.min(PROBE_TIMEOUT_MS, options.timeoutMs ?? PROBE_TIMEOUT_MS),
    recoveredProbeTimeoutMs: options.timeoutMs ?? commandTimeoutMs,
    maxProbes: MAX_PROBES,
    recover: () =>
      channel.writeRaw(
        CLOSE_DANGLING_QUOTE,
        '<backspaces, quote and line end closing an unfinished write>',
        signal,
      ),
    signal,
  });
}

class Nrf91Session implements DeviceSession {
  readonly driver = 'nrf91' as const;
  readonly port: string;
  private offline = false;

  constructor(
    private readonly channel: AtChannel,
    private readonly secTag: number,
  ) {
    this.port = channel.link.port;
  }

  async identify(options: DeviceOperationOptions = {}): Promise<DeviceIdentity> {
    const imeiAnswer = await this.command('AT+CGSN', options);
    // Tools take the last line's first 15 characters (protocols.md 1.5); any line that holds them will do.
    const imei = imeiAnswer.info.map((line) => line.slice(0, 15)).findLast(isValidImei);
    if (imei === undefined) throw this.badAnswer('AT+CGSN', lastLine(imeiAnswer));
    const uuid = await this.deviceUuid(options);
    const firmware = lastLine(await this.command('AT+CGMR', options));
    const model = lastLine(await this.command('AT+CGMM', options));
    // The CSR's default CN is the device UUID (protocols.md 1.4); firmware without %DEVICEUUID falls back.
    return { deviceId: uuid ?? `nrf-${imei}`, imei, ...(uuid && { uuid }), model, firmware };
  }

  capabilities(): DeviceCapabilities {
    return {
      ...nrf91Capabilities,
      maxCredentialBytes: maxCommandBytes - Buffer.byteLength(`AT%CMNG=0,${this.secTag},0,""`),
    };
  }

  async generateCsr(request: CsrRequest, options: DeviceOperationOptions = {}): Promise<Uint8Array> {
    const name = request.commonName;
    if (name !== undefined && !/^[\x20-\x7e]+$/.test(name)) {
      throw invalidInput('commonName', 'must be printable ASCII');
    }
    if (name !== undefined && /[",=]/.test(name)) {
      throw invalidInput('commonName', 'cannot hold a double quote, comma or equals sign on an nRF91');
    }
    await this.goOffline(options);
    const command = `AT%KEYGEN=${this.secTag},2,0${name === undefined ? '' : `,"CN=${name}"`}`;
    const response = await this.replacing(command, credentialTypes.key, options);
    const line = response.info.find((text) => text.startsWith('%KEYGEN:'));
    const parsed = line === undefined ? undefined : safely(() => parseKeygenLine(line));
    if (!parsed) throw this.badAnswer(command, line ?? '(no %KEYGEN line)');
    return parsed.csr;
  }

  async writeCredential(
    slot: CredentialSlot,
    content: Uint8Array,
    options: DeviceOperationOptions = {},
  ): Promise<void> {
    const text = credentialText(content);
    const type = credentialTypes[slot];
    const command = `AT%CMNG=0,${this.secTag},${type},"${text}"`;
    const length = Buffer.byteLength(command, 'latin1');
    if (length > maxCommandBytes) {
      throw new StationError(
        'device.credential-too-large',
        `The ${slot} is ${content.length} bytes; an nRF91 takes at most ${this.capabilities().maxCredentialBytes} in one AT command (the modem would silently cut it).`,
        { port: this.port, field: 'content', details: { bytes: content.length, commandBytes: length } },
      );
    }
    await this.goOffline(options);
    options.onProgress?.(0, content.length);
    await this.replacing(command, type, { ...options, secret: slot === 'key' });
    options.onProgress?.(content.length, content.length);
  }

  async readCredential(
    slot: CredentialSlot,
    options: DeviceOperationOptions = {},
  ): Promise<CredentialReadBack> {
    const type = credentialTypes[slot];
    const response = await this.command(`AT%CMNG=1,${this.secTag},${type}`, options);
    // A missing credential lists as a bare OK (protocols.md 1.3); the list form tolerates spaces.
    for (const line of response.info) {
      const match = /^%CMNG:\s*(\d+)\s*,\s*(\d+)\s*(?:,\s*"([0-9A-Fa-f]{64})")?/.exec(line);
      if (match && Number(match[1]) === this.secTag && Number(match[2]) === type) {
        return { slot, present: true, ...(match[3] && { sha256: match[3].toLowerCase() }) };
      }
    }
    return { slot, present: false };
  }

  async deleteCredential(slot: CredentialSlot, options: DeviceOperationOptions = {}): Promise<void> {
    await this.goOffline(options);
    try {
      await this.command(`AT%CMNG=3,${this.secTag},${credentialTypes[slot]}`, options);
    } catch (error) {
      // Deleting what is not there leaves the slot as wanted (nrfcloud-utils ignores it too, protocols.md 1.3).
      if (!(isStationError(error) && error.code === 'device.credential-missing')) throw error;
    }
  }

  signChallenge(): Promise<Uint8Array> {
    return Promise.reject(
      new StationError(
        'device.unsupported',
        `The nRF91 on ${this.port} cannot sign a challenge over AT; its CSR key in the certificate is the proof of possession.`,
        { port: this.port },
      ),
    );
  }

  transcript(): readonly TranscriptEntry[] {
    return this.channel.transcript();
  }

  async close(): Promise<void> {
    this.channel.dispose();
    await this.channel.link.close();
  }

  /**
   * Sends one command; CME codes become the errors a technician can act on. Zephyr log lines that landed
   * among the answer's lines are no part of it (the transcript keeps them).
   */
  async command(
    command: string,
    options: DeviceOperationOptions & AtCommandOptions = {},
  ): Promise<AtResponse> {
    try {
      const response = await this.channel.send(command, {
        ...(options.signal && { signal: options.signal }),
        ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
        ...(options.secret && { secret: true }),
      });
      return { ...response, info: response.info.filter((line) => !isZephyrLogLine(line)) };
    } catch (error) {
      throw this.explained(error);
    }
  }

  /** %CMNG writes and %KEYGEN replace what the slot held: some firmware answers 519, so delete and retry. */
  private async replacing(
    command: string,
    type: number,
    options: DeviceOperationOptions & AtCommandOptions,
  ): Promise<AtResponse> {
    try {
      return await this.command(command, options);
    } catch (error) {
      if (!(isStationError(error) && error.code === 'device.already-exists')) throw error;
      await this.command(`AT%CMNG=3,${this.secTag},${type}`, options);
      return this.command(command, options);
    }
  }

  /** Writes, deletes and KEYGEN need the modem offline: 518 otherwise (protocols.md 1.2, 6.3). */
  private async goOffline(options: DeviceOperationOptions): Promise<void> {
    if (this.offline) return;
    await this.command('AT+CFUN=4', options);
    this.offline = true;
  }

  private async deviceUuid(options: DeviceOperationOptions): Promise<string | undefined> {
    try {
      const line = lastLine(await this.command('AT%DEVICEUUID', options));
      return /^%DEVICEUUID:\s*([0-9a-fA-F-]{36})$/.exec(line)?.[1]?.toLowerCase();
    } catch (error) {
      // Older modem firmware has no %DEVICEUUID: the IMEI then names the device.
      if (isStationError(error) && error.code.startsWith('device.')) return undefined;
      throw error;
    }
  }

  private explained(error: unknown): unknown {
    if (!isStationError(error) || error.code !== 'device.cme-error') return error;
    const cme = error.details?.cme;
    const meaning = typeof cme === 'number' ? cmeMeanings[cme] : undefined;
    if (!meaning) return error;
    const command = String(error.details?.command ?? 'the command');
    return new StationError(
      meaning.code,
      `The nRF91 on ${this.port} answered ${command} with +CME ERROR: ${cme}: ${meaning.message}.`,
      { port: this.port, details: error.details, cause: error },
    );
  }

  private badAnswer(command: string, answer: string): StationError {
    return new StationError(
      'device.bad-answer',
      `The device on ${this.port} gave an unexpected answer to ${command}; is it an nRF91 running an AT host?`,
      { port: this.port, details: { command, answer: answer.slice(0, 200) } },
    );
  }
}

/**
 * The content goes inside `"..."` of an AT command as raw bytes: the modem has no escape, stores it
 * byte-exact (protocols.md 1.3) and its line editor treats 0x08/0x7F as delete (1.1). So: printable ASCII,
 * CR, LF and TAB only, no double quote.
 */
function credentialText(content: Uint8Array): string {
  if (content.length === 0) throw invalidInput('content', 'is empty; the modem takes no empty credential');
  for (const byte of content) {
    const allowed =
      (byte >= 0x20 && byte <= 0x7e && byte !== 0x22) || byte === 0x0d || byte === 0x0a || byte === 0x09;
    if (!allowed) {
      throw invalidInput(
        'content',
        'must be PEM text (printable ASCII and line ends, no double quote) for an nRF91',
      );
    }
  }
  return Buffer.from(content).toString('latin1');
}

/**
 * A line of the application's Zephyr log on the AT UART: `[00:00:05.120,000] <wrn> lte_lc: ...` (the
 * timestamp may be ticks or absent), or the boot banner `*** Booting nRF Connect SDK ... ***`.
 */
export function isZephyrLogLine(line: string): boolean {
  return /^(?:\[[\d:.,]+\]\s*)?<(?:err|wrn|inf|dbg)>\s/.test(line) || /^\*\*\* Booting /.test(line);
}

function lastLine(response: AtResponse): string {
  return response.info.at(-1) ?? '';
}

function safely<T>(parse: () => T): T | undefined {
  try {
    return parse();
  } catch {
    return undefined;
  }
}
