import { createHash } from 'node:crypto';
import { StationError, invalidInput, isStationError } from '../../../src/api/errors.js';
import type {
  AtCommandOptions,
  AtPayloadOptions,
  AtResponse,
  TranscriptEntry,
} from '../../transport/at-channel-contract.js';
import { AtChannel } from '../../transport/at-channel.js';
import type { ByteLink } from '../../transport/byte-link.js';
import { resynchronise } from '../../transport/command-mode.js';
import { untilLineQuiet } from '../../transport/leftover-output.js';
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
import { quoteEspAtString } from './at-arguments.js';

/** ESP-AT takes at most 256 bytes per command, CR-LF included (protocols.md 2). */
export const ESP_AT_COMMAND_LIMIT = 256;

/** USB-UART bridges found on ESP32 boards: Espressif's own USB, Silicon Labs CP210x, WCH CH340. */
export const espAtUsbMatches: readonly UsbMatch[] = [
  { vendorId: '303a' },
  { vendorId: '10c4', productId: 'ea60' },
  { vendorId: '1a86', productId: '7523' },
];

/** Where each slot lives in mfg_nvs: the SSL client set `client_*.<index>` (protocols.md 2). */
const SLOT_NAMESPACES: Record<CredentialSlot, string> = {
  ca: 'client_ca',
  certificate: 'client_cert',
  key: 'client_key',
};

/** A chain or an RSA-4096 key in PEM stays well under this; mfg_nvs is small. */
const MAX_CREDENTIAL_BYTES = 8192;
const COMMAND_TIMEOUT_MS = 5_000;
/** Per payload byte on top of the command timeout: ten bit times at 115,200 baud, with a wide margin. */
const PAYLOAD_MS_PER_BYTE = 0.5;
/** SYSMFG type 8 = binary (protocols.md 2); certificates and keys go as bytes, never re-encoded. */
const SYSMFG_BINARY = 8;
const BAUD_RATE = 115_200;
/** Silence that tells a previous run's output is over; the AtChannel settles for as long after a failure. */
const LEFTOVER_QUIET_MS = 100;
/** A module in command mode answers the probe at once; one waiting for raw bytes never does. */
const PROBE_TIMEOUT_MS = 500;
/** The first probe, one after each filler: a module that still does not answer needs a power cycle. */
const MAX_PROBES = 3;
/**
 * Ends a raw write a killed station left unfinished: the most bytes an AT+SYSMFG=2 from this driver can
 * announce, so the module has all it waits for whatever had arrived. What is left over reaches the command
 * parser as one blank line, closed by the line end, that ESP-AT ignores or refuses with ERROR when it is
 * over 256 bytes (protocols.md 2): spaces, so nothing of it reads as a command.
 */
const FILLER = Buffer.concat([Buffer.alloc(MAX_CREDENTIAL_BYTES, 0x20), Buffer.from('\r\n')]);
/** How long the filler takes on the wire: the module answers only once it has read it all. */
const FILLER_WIRE_MS = (FILLER.length * 10 * 1000) / BAUD_RATE;

// ESP-AT stores what it is given and has no key generation or signing command (protocols.md 2).
const espAtCapabilities: FamilyCapabilities = {
  keyGeneration: false,
  keyInjection: true,
  readBack: 'full',
  proofOfPossession: false,
};

export interface EspAtDriverOptions {
  usb?: readonly UsbMatch[];
  /** The `.N` suffix of the client_cert/client_key/client_ca keys (the pki/ca number of AT+CIPSSLCCONF). */
  slotIndex?: number;
}

export function createEspAtDriver(options: EspAtDriverOptions = {}): DeviceDriver {
  const slotIndex = options.slotIndex ?? 0;
  if (!Number.isInteger(slotIndex) || slotIndex < 0) {
    throw invalidInput('slotIndex', 'the ESP-AT key index is a whole number from 0');
  }
  return {
    name: 'esp-at',
    identityFields: ['deviceId', 'mac', 'model', 'firmware'],
    familyCapabilities: espAtCapabilities,
    usb: options.usb ?? espAtUsbMatches,
    // ESP32 boards wire no RTS/CTS to the host; pseudo-terminals ignore it anyway (protocols.md 6.7).
    serial: { baudRate: BAUD_RATE, rtscts: false },
    async open(link, openOptions = {}) {
      const signal = openOptions.signal;
      const channel = new AtChannel(link, {
        lineEnding: '\r\n',
        // Echo is on until ATE0; the channel drops an echoed line and does not mind its absence.
        echo: true,
        maxLineBytes: 1024,
        quoteAwareLines: false,
        defaultTimeoutMs: COMMAND_TIMEOUT_MS,
      });
      try {
        // AT+GMR as the probe: its answer is what identify() needs, and unlike a bare OK no leftover of a
        // killed run can pass for it (protocols.md 2).
        const versions = await resynchronise(channel, {
          module: 'ESP-AT module',
          // A module with saved Wi-Fi credentials reports joining (WIFI CONNECTED, WIFI GOT IP) whenever it
          // happens, so such lines may come before the answer's own.
          probe: {
            command: 'AT+GMR',
            accepts: (info) => info.some((line) => line.startsWith('AT version:')),
          },
          probeTimeoutMs: Math.min(PROBE_TIMEOUT_MS, openOptions.timeoutMs ?? PROBE_TIMEOUT_MS),
          recoveredProbeTimeoutMs: openOptions.timeoutMs ?? COMMAND_TIMEOUT_MS,
          maxProbes: MAX_PROBES,
          recover: () => completeUnfinishedWrite(channel, signal),
          signal,
        });
        const session = new EspAtSession(link, channel, slotIndex, versions);
        await session.command('ATE0', openOptions);
        return session;
      } catch (error) {
        channel.dispose();
        throw error;
      }
    },
  };
}

export const espAtDriver = createEspAtDriver();

/**
 * After its `>` ESP-AT takes exactly the number of raw bytes AT+SYSMFG=2 announced (protocols.md 2) and
 * no escape from that mode is documented, so the filler gives it the rest. The slot then holds the stub of the killed
 * write padded with spaces; the station writes that slot again before anything reads it.
 */
async function completeUnfinishedWrite(channel: AtChannel, signal: AbortSignal | undefined): Promise<void> {
  const started = performance.now();
  await channel.writeRaw(FILLER, `<${FILLER.length} filler bytes ending an unfinished raw write>`, signal);
  await untilLineQuiet(channel.link, {
    quietMs: LEFTOVER_QUIET_MS,
    notBeforeMs: FILLER_WIRE_MS - (performance.now() - started),
    maxWaitMs: COMMAND_TIMEOUT_MS,
    signal,
  });
}

/** ESP-AT would drop a longer command (protocols.md 2): refuse it here, with a reason, before it is sent. */
export function checkCommandLength(command: string, port: string): void {
  const bytes = Buffer.byteLength(command) + 2;
  if (bytes > ESP_AT_COMMAND_LIMIT) {
    throw new StationError(
      'device.command-too-long',
      `The command for ${port} is ${bytes} bytes; ESP-AT takes at most ${ESP_AT_COMMAND_LIMIT}.`,
      { port, details: { bytes, limit: ESP_AT_COMMAND_LIMIT } },
    );
  }
}

class EspAtSession implements DeviceSession {
  readonly driver = 'esp-at' as const;

  constructor(
    private readonly link: ByteLink,
    private readonly channel: AtChannel,
    private readonly slotIndex: number,
    /** AT+GMR's lines, as the probe at open got them. */
    private readonly versions: readonly string[],
  ) {}

  get port(): string {
    return this.link.port;
  }

  async identify(options: DeviceOperationOptions = {}): Promise<DeviceIdentity> {
    const macAnswer = await this.command('AT+CIPSTAMAC?', options);
    // Unsolicited Wi-Fi lines may come first: take the one line that answers.
    const mac = macAnswer.info
      .map((line) => /^\+CIPSTAMAC:"([0-9a-f]{2}(?::[0-9a-f]{2}){5})"$/i.exec(line)?.[1])
      .find(Boolean);
    if (!mac) throw this.unexpected('AT+CIPSTAMAC?', 'a station MAC address');
    const versions = this.versions;
    const firmware = versions.map((line) => /^AT version:([^(\s]+)/.exec(line)?.[1]).find(Boolean);
    const model = versions.map((line) => /^Bin version:.*\((.+)\)$/.exec(line)?.[1]).find(Boolean);
    return { deviceId: mac.toLowerCase(), mac: mac.toLowerCase(), model, firmware };
  }

  capabilities(): DeviceCapabilities {
    return { ...espAtCapabilities, maxCredentialBytes: MAX_CREDENTIAL_BYTES };
  }

  generateCsr(): Promise<Uint8Array> {
    return Promise.reject(this.unsupported('generate a key pair'));
  }

  signChallenge(): Promise<Uint8Array> {
    return Promise.reject(this.unsupported('sign a challenge'));
  }

  /** `AT+SYSMFG=2,...,8,<len>` -> OK, `>` -> exactly len raw bytes -> OK (protocols.md 2). */
  async writeCredential(
    slot: CredentialSlot,
    content: Uint8Array,
    options: DeviceOperationOptions = {},
  ): Promise<void> {
    if (content.length === 0 || content.length > MAX_CREDENTIAL_BYTES) {
      throw invalidInput('content', `an ESP-AT credential is 1 to ${MAX_CREDENTIAL_BYTES} bytes`);
    }
    const [namespace, key] = this.location(slot);
    const command = `AT+SYSMFG=2,${namespace},${key},${SYSMFG_BINARY},${content.length}`;
    checkCommandLength(command, this.port);
    const payloadOptions: AtPayloadOptions = {
      prompt: '>',
      secret: slot === 'key',
      signal: options.signal,
      onProgress: options.onProgress,
      timeoutMs: options.timeoutMs ?? COMMAND_TIMEOUT_MS + content.length * PAYLOAD_MS_PER_BYTE,
    };
    try {
      await this.channel.sendWithPayload(command, content, payloadOptions);
    } catch (error) {
      throw this.explainRefusal(error, slot);
    }
  }

  /** `+SYSMFG:"<ns>","<key>",8,<len>,<raw bytes>`: the length, not a line end, says where the value stops. */
  async readCredential(
    slot: CredentialSlot,
    options: DeviceOperationOptions = {},
  ): Promise<CredentialReadBack> {
    const [namespace, key] = this.location(slot);
    let answer: AtResponse;
    try {
      answer = await this.command(`AT+SYSMFG=1,${namespace},${key}`, {
        ...options,
        rawData: { header: /^\+SYSMFG:"[^"]*","[^"]*",[78],(\d+),$/, maxBytes: MAX_CREDENTIAL_BYTES },
      });
    } catch (error) {
      if (await this.missing(error, slot, options)) return { slot, present: false };
      throw error;
    }
    const bytes = answer.data?.[0];
    if (!bytes) throw this.unexpected('AT+SYSMFG=1', `the stored ${slot}`);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    // A private key read back is compared by digest here and never handed on (DeviceSession contract).
    return slot === 'key' ? { slot, present: true, sha256 } : { slot, present: true, sha256, bytes };
  }

  async deleteCredential(slot: CredentialSlot, options: DeviceOperationOptions = {}): Promise<void> {
    const [namespace, key] = this.location(slot);
    try {
      await this.command(`AT+SYSMFG=0,${namespace},${key}`, options);
    } catch (error) {
      if (!(await this.missing(error, slot, options))) throw error;
    }
  }

  transcript(): readonly TranscriptEntry[] {
    return this.channel.transcript();
  }

  async close(): Promise<void> {
    this.channel.dispose();
    if (!this.link.closed) await this.link.close();
  }

  /** Sends one command, refusing it here when ESP-AT would (protocols.md 2: 256 bytes). */
  command(
    command: string,
    options: DeviceOperationOptions & Pick<AtCommandOptions, 'rawData'> = {},
  ): Promise<AtResponse> {
    checkCommandLength(command, this.port);
    return this.channel.send(command, {
      signal: options.signal,
      timeoutMs: options.timeoutMs,
      rawData: options.rawData,
    });
  }

  /** A missing key gives a bare ERROR, as do other faults: the namespace's key list tells them apart. */
  private async missing(
    error: unknown,
    slot: CredentialSlot,
    options: DeviceOperationOptions,
  ): Promise<boolean> {
    if (!isStationError(error) || error.code !== 'device.error') return false;
    const [namespace, key] = this.location(slot);
    const listing = await this.command(`AT+SYSMFG=1,${namespace}`, options);
    return !listing.info.some((line) => line.startsWith(`+SYSMFG:${namespace},${key},`));
  }

  /** The quoted namespace and key arguments of a slot. */
  private location(slot: CredentialSlot): [string, string] {
    const namespace = SLOT_NAMESPACES[slot];
    return [quoteEspAtString(namespace), quoteEspAtString(`${namespace}.${this.slotIndex}`)];
  }

  /** ESP-AT answers a failed NVS write with a bare ERROR; say what it most likely means. */
  private explainRefusal(error: unknown, slot: CredentialSlot): unknown {
    if (!isStationError(error) || error.code !== 'device.error') return error;
    return new StationError(
      'device.write-refused',
      `The ESP-AT module on ${this.port} refused to store the ${slot} (ERROR); its mfg_nvs partition may be full or lack the ${SLOT_NAMESPACES[slot]} namespace.`,
      { port: this.port, details: { slot, ...error.details }, cause: error },
    );
  }

  private unsupported(what: string): StationError {
    return new StationError(
      'device.unsupported',
      `The ESP-AT module on ${this.port} cannot ${what}; provision it with a key made by the station.`,
      { port: this.port },
    );
  }

  private unexpected(command: string, expected: string): StationError {
    return new StationError(
      'device.unexpected-answer',
      `The device on ${this.port} did not return ${expected} for ${command}; it may run other firmware than ESP-AT.`,
      { port: this.port, details: { command } },
    );
  }
}
