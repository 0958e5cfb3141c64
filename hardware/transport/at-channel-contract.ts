import type { ByteLink } from './byte-link.js';

/**
 * The AT command channel drivers talk through (implemented by at-channel.ts). Failures are StationErrors:
 * - device.cme-error (details.cme = n) for `+CME ERROR: n`, device.error for a bare `ERROR`;
 * - transport.timeout (no final result in time), transport.disconnected (port vanished),
 *   transport.line-too-long, transport.garbled (binary noise where text was due), transport.aborted.
 * Every error carries the port.
 */
export interface AtChannelOptions {
  /** What ends a command we send. */
  lineEnding: '\r\n' | '\r' | '\n';
  /** The device echoes commands (ESP-AT, Quectel until ATE0): drop the echoed line. */
  echo: boolean;
  /** Longest response line accepted; longer input is an error, never unbounded buffering. */
  maxLineBytes: number;
  /** Line ends inside double quotes belong to the value (nRF91 %CMNG read returns raw PEM). */
  quoteAwareLines: boolean;
  /**
   * Strip ANSI CSI sequences (colour) from answer lines instead of failing them as garbled: for devices
   * whose AT UART also carries Zephyr log output (nRF91, protocols.md 1.1). Off for the others, whose
   * UART carries nothing but AT, so an escape byte there stays a sign of noise.
   */
  stripAnsiEscapes?: boolean;
  defaultTimeoutMs: number;
}

export interface AtCommandOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Mask the command's arguments in the transcript (it carries a key or other secret). */
  secret?: boolean;
  /**
   * A response line starting with this header (group 1 = byte count) is followed by that many raw bytes,
   * line ends included (ESP-AT `+SYSMFG:"ns","key",8,<len>,<bytes>`); they land in AtResponse.data.
   */
  rawData?: { header: RegExp; maxBytes: number };
}

export interface AtPayloadOptions extends AtCommandOptions {
  /** What the device sends before taking raw bytes: ESP-AT `>`, Quectel `CONNECT`. */
  prompt: '>' | 'CONNECT';
  /** Called as payload bytes go out, for progress. */
  onProgress?: (sent: number, total: number) => void;
}

export interface AtResponse {
  /** Information lines between the command and the final result, in order. */
  info: string[];
  /** Raw values announced by AtCommandOptions.rawData, in order (the header line is in info). */
  data?: Uint8Array[];
}

export interface TranscriptEntry {
  at: number;
  direction: 'tx' | 'rx';
  text: string;
}

export interface AtChannelContract {
  readonly link: ByteLink;
  send(command: string, options?: AtCommandOptions): Promise<AtResponse>;
  sendWithPayload(command: string, payload: Uint8Array, options: AtPayloadOptions): Promise<AtResponse>;
  /** What went over the wire, secrets masked. */
  transcript(): readonly TranscriptEntry[];
}
