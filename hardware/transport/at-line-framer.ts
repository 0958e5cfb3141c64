/**
 * Turns the bytes a device sends into AT response lines, bounded and distrustful: a line longer than
 * maxLineBytes is reported once and discarded up to its end (resynchronising on the next line end), and a
 * line holding control bytes or invalid UTF-8 is reported as garbled instead of being handed on as text.
 */
export type FramerEvent =
  | { kind: 'line'; text: string }
  /** The ESP-AT `>` raw-data prompt, recognised only while armed (protocols.md 2). */
  | { kind: 'prompt' }
  | { kind: 'too-long' }
  | { kind: 'garbled' }
  /** A length-prefixed raw value (ESP-AT `+SYSMFG:...,<len>,<bytes>`), the header text and the bytes. */
  | { kind: 'raw-data'; header: string; bytes: Buffer };

export interface FramerOptions {
  maxLineBytes: number;
  /** CR and LF inside double quotes belong to the value (nRF91 %CMNG read returns raw PEM, protocols.md 1.3). */
  quoteAwareLines: boolean;
  /**
   * Remove ANSI CSI sequences (ESC [ parameters final-letter) from a line before judging it: Zephyr log
   * lines that share the nRF91 AT UART come in colour, and hosts strip them (protocols.md 1.1). Only what
   * remains is checked for control bytes, so any other escape or noise is still reported as garbled.
   */
  stripAnsiEscapes?: boolean;
}

const CR = 0x0d;
const LF = 0x0a;
const QUOTE = 0x22;
const PROMPT = 0x3e;
const ESC = 0x1b;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export class AtLineFramer {
  private readonly line: Buffer;
  private length = 0;
  private inQuotes = false;
  private discarding = false;
  private promptArmed = false;
  private rawHeader: RegExp | undefined;
  private rawMaxBytes = 0;
  private raw: { header: string; bytes: Buffer; filled: number } | undefined;

  constructor(private readonly options: FramerOptions) {
    this.line = Buffer.alloc(options.maxLineBytes);
  }

  /** While armed, a `>` at the start of a line is the raw-data prompt. */
  armPrompt(armed: boolean): void {
    this.promptArmed = armed;
  }

  /**
   * Lines whose start matches `header` (group 1 = byte count) are followed by that many raw bytes, which may
   * include line ends; counts above maxBytes are treated as an oversized line.
   */
  expectRawData(header: RegExp | undefined, maxBytes = 0): void {
    this.rawHeader = header;
    this.rawMaxBytes = maxBytes;
  }

  /** Forgets a partial line, as tools flush input before each command (protocols.md 1.1). */
  reset(): void {
    this.length = 0;
    this.inQuotes = false;
    this.discarding = false;
    this.raw = undefined;
  }

  push(chunk: Buffer): FramerEvent[] {
    const events: FramerEvent[] = [];
    for (let index = 0; index < chunk.length; index++) {
      if (this.raw) {
        index = this.fillRaw(chunk, index, events);
        continue;
      }
      const byte = chunk[index]!;
      if (this.discarding) {
        if (byte === CR || byte === LF) this.discarding = false;
        continue;
      }
      if ((byte === CR || byte === LF) && !this.inQuotes) {
        this.endLine(events);
        continue;
      }
      if (byte === PROMPT && this.promptArmed && this.length === 0) {
        this.promptArmed = false;
        events.push({ kind: 'prompt' });
        continue;
      }
      if (this.length === this.line.length) {
        events.push({ kind: 'too-long' });
        this.length = 0;
        this.inQuotes = false;
        this.discarding = true;
        continue;
      }
      this.line[this.length++] = byte;
      if (byte === QUOTE && this.options.quoteAwareLines) this.inQuotes = !this.inQuotes;
      if (this.rawHeader && byte === 0x2c) this.startRawIfHeader(events);
    }
    return events;
  }

  private fillRaw(chunk: Buffer, index: number, events: FramerEvent[]): number {
    const raw = this.raw!;
    const take = Math.min(raw.bytes.length - raw.filled, chunk.length - index);
    chunk.copy(raw.bytes, raw.filled, index, index + take);
    raw.filled += take;
    if (raw.filled === raw.bytes.length) {
      events.push({ kind: 'raw-data', header: raw.header, bytes: raw.bytes });
      this.raw = undefined;
    }
    return index + take - 1;
  }

  private startRawIfHeader(events: FramerEvent[]): void {
    const header = this.line.toString('latin1', 0, this.length);
    const match = this.rawHeader!.exec(header);
    if (!match?.[1]) return;
    const count = Number.parseInt(match[1], 10);
    this.length = 0;
    this.inQuotes = false;
    if (!Number.isSafeInteger(count) || count > this.rawMaxBytes) {
      events.push({ kind: 'too-long' });
      this.discarding = true;
      return;
    }
    if (count === 0) {
      events.push({ kind: 'raw-data', header, bytes: Buffer.alloc(0) });
      return;
    }
    this.raw = { header, bytes: Buffer.alloc(count), filled: 0 };
  }

  private endLine(events: FramerEvent[]): void {
    let bytes = this.line.subarray(0, this.length);
    if (this.options.stripAnsiEscapes) bytes = withoutCsiSequences(bytes);
    this.length = 0;
    this.inQuotes = false;
    if (bytes.length === 0) return;
    const text = decodeText(bytes);
    if (text === undefined) {
      events.push({ kind: 'garbled' });
      return;
    }
    const trimmed = text.trim();
    if (trimmed.length > 0) events.push({ kind: 'line', text: trimmed });
  }
}

/**
 * The bytes without complete CSI sequences: ESC, `[`, parameter bytes 0x30-0x3F, intermediate bytes
 * 0x20-0x2F, one final byte 0x40-0x7E (ECMA-48 5.4), e.g. `ESC[1;33m` and `ESC[0m` around a Zephyr log
 * line. An ESC that starts no complete sequence stays, for the garbled check to see.
 */
function withoutCsiSequences(bytes: Buffer): Buffer {
  if (!bytes.includes(ESC)) return bytes;
  const kept: number[] = [];
  for (let index = 0; index < bytes.length; index++) {
    const end = bytes[index] === ESC ? csiEnd(bytes, index) : undefined;
    if (end === undefined) kept.push(bytes[index]!);
    else index = end;
  }
  return Buffer.from(kept);
}

/** Index of the final byte of the CSI sequence starting at `start`, or undefined if none starts there. */
function csiEnd(bytes: Buffer, start: number): number | undefined {
  if (bytes[start + 1] !== 0x5b) return undefined;
  let index = start + 2;
  while (index < bytes.length && bytes[index]! >= 0x30 && bytes[index]! <= 0x3f) index++;
  while (index < bytes.length && bytes[index]! >= 0x20 && bytes[index]! <= 0x2f) index++;
  const final = bytes[index];
  return final !== undefined && final >= 0x40 && final <= 0x7e ? index : undefined;
}

/** Text is printable UTF-8 plus CR, LF and TAB (line ends appear inside quoted values); else undefined. */
function decodeText(bytes: Buffer): string | undefined {
  for (const byte of bytes) {
    if (byte === 0x7f || (byte < 0x20 && byte !== CR && byte !== LF && byte !== 0x09)) return undefined;
  }
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}
