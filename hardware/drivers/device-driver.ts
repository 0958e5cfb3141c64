import type { Duplex } from 'node:stream';
import type { TranscriptEntry } from '../transport/at-channel-contract.js';
import type { ByteLink, SerialSettings } from '../transport/byte-link.js';

/**
 * A device family: how to recognise it on USB and how to open a session on a link to it
 * (design.md section 7). Drivers never trust the device; every failure is a StationError with the port.
 */
export type DriverName = 'nrf91' | 'esp-at' | 'quectel' | 'jsonl';

export interface UsbMatch {
  /** Lowercase hex, 4 digits, as SerialPort.list() reports. */
  vendorId: string;
  productId?: string;
}

export interface DeviceIdentity {
  /** The stable unique identity the registry keys on (IMEI, MAC, chip serial, ...). */
  deviceId: string;
  serialNumber?: string;
  imei?: string;
  uuid?: string;
  mac?: string;
  model?: string;
  firmware?: string;
}

export type CredentialSlot = 'ca' | 'certificate' | 'key';

export interface DeviceCapabilities {
  /** Makes its own key pair and returns a CSR (preferred key mode). */
  keyGeneration: boolean;
  /** Accepts a private key written by the station. */
  keyInjection: boolean;
  /** How a written credential can be checked: full bytes, a SHA-256 the device computes, or not at all. */
  readBack: 'full' | 'digest' | 'none';
  /** Signs a challenge with its device key (proof of possession). */
  proofOfPossession: boolean;
  /** Largest credential the device accepts in one write, in bytes. */
  maxCredentialBytes: number;
}

/** The capabilities that decide which key modes a device can serve. */
export type FamilyCapabilities = Omit<DeviceCapabilities, 'maxCredentialBytes'>;

export interface DeviceOperationOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Bytes sent so far of a long write. */
  onProgress?: (sent: number, total: number) => void;
}

export interface CredentialReadBack {
  slot: CredentialSlot;
  present: boolean;
  /** SHA-256 of the stored bytes, lowercase hex (computed by the device, or here from full bytes). */
  sha256?: string;
  /** The stored bytes, where the device returns them (never for keys). */
  bytes?: Uint8Array;
}

export interface CsrRequest {
  /** Subject common name to ask the device for; drivers whose device picks its own CN ignore it. */
  commonName?: string;
}

export interface DeviceSession {
  readonly port: string;
  readonly driver: DriverName;
  identify(options?: DeviceOperationOptions): Promise<DeviceIdentity>;
  capabilities(): DeviceCapabilities;
  /** DER-encoded PKCS#10 request from a key generated on the device. */
  generateCsr(request: CsrRequest, options?: DeviceOperationOptions): Promise<Uint8Array>;
  /** Stores exactly these bytes (PEM text as bytes, usually); replaces what the slot held. */
  writeCredential(slot: CredentialSlot, content: Uint8Array, options?: DeviceOperationOptions): Promise<void>;
  readCredential(slot: CredentialSlot, options?: DeviceOperationOptions): Promise<CredentialReadBack>;
  deleteCredential(slot: CredentialSlot, options?: DeviceOperationOptions): Promise<void>;
  /** DER ECDSA signature over SHA-256(challenge) with the device key; only if capabilities say so. */
  signChallenge(challenge: Uint8Array, options?: DeviceOperationOptions): Promise<Uint8Array>;
  /** What went over the wire in this session, secrets masked (for the record and for debugging). */
  transcript?(): readonly TranscriptEntry[];
  close(): Promise<void>;
}

export interface DeviceDriver {
  readonly name: DriverName;
  /**
   * The DeviceIdentity fields this family can report. Some only on some devices (an nRF91's uuid needs
   * firmware with %DEVICEUUID; a Quectel module's serialNumber is its SIM's ICCID): a job that maps a field
   * outside this list to a parameter could never provision one device, so it is refused.
   */
  readonly identityFields: readonly (keyof DeviceIdentity)[];
  /**
   * What every device of the family can do, where the family fixes it; absent where each device says
   * (a jsonl device, in its hello). A job for the family that needs more is refused when it is created.
   */
  readonly familyCapabilities?: FamilyCapabilities;
  readonly usb: readonly UsbMatch[];
  readonly serial: SerialSettings;
  open(link: ByteLink, options?: DeviceOperationOptions): Promise<DeviceSession>;
}

/**
 * The device side of a simulated device: it owns the state a real device would keep and answers on a
 * byte stream exactly as protocols.md describes, including its errors and limits.
 */
export type SimulatorFaultKind =
  | 'drop-response' // swallow the answer to a command
  | 'garble' // corrupt bytes of an answer
  | 'disconnect' // vanish in the middle of a write
  | 'storage-full' // refuse writes as the real device does when full
  | 'refuse' // answer the command with the device's error
  | 'slow'; // answer, but only after a long delay

export interface SimulatorFault {
  kind: SimulatorFaultKind;
  /** Only commands whose text starts with this (after AT framing) are hit; all when absent. */
  match?: string;
  /** Hit only the Nth matching command (1-based); every match when absent. */
  nth?: number;
  /** For 'slow': how long to wait before answering. */
  delayMs?: number;
}

export interface SimulatorOptions {
  /** Extra delay before each answer, as the real device takes to work. */
  latencyMs?: number;
  /** Pace outgoing bytes as a UART at this baud rate would (10 bits per byte). */
  baudRate?: number;
  faults?: SimulatorFault[];
  /** Makes identities (IMEI, UUID, MAC) deterministic. */
  seed?: number;
}

export interface DeviceSimulator {
  readonly driver: DriverName;
  readonly identity: DeviceIdentity;
  /** Starts answering on this stream (the device end of a pty pair or an in-memory pipe). */
  attach(stream: Duplex): void;
  /** What the device stores now, per slot, byte-exact: tests compare it with the registry. */
  storedCredentials(): Map<CredentialSlot, Uint8Array>;
  close(): void;
}
