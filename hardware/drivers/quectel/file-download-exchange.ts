import { StationError } from '../../../src/api/errors.js';
import type { ByteLink } from '../../transport/byte-link.js';
import { aborted, disconnected, garbled, lineTooLong, timedOut } from '../../transport/transport-errors.js';

export interface FileReadOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** Largest `CONNECT <n>` accepted; a bigger count is treated as noise, never buffered. */
  maxBytes: number;
}

/** Longest text line expected around the data (`CONNECT <n>`, `+CME ERROR: <n>`, `OK`). */
const MAX_TEXT_LINE_BYTES = 128;

/**
 * One `AT+QFREAD=<handle>,<n>` exchange: the module answers `CONNECT <n>`, then n raw bytes (line ends
 * and all), then OK (protocols.md 3). The AtChannel takes raw data only after a comma-ended header, so
 * this exchange reads the link itself; the session runs it only while the channel is idle. The device is
 * not trusted: silence, noise, oversized counts and a vanishing port end it with a typed error.
 */
export function readFileExchange(link: ByteLink, command: string, options: FileReadOptions): Promise<Buffer> {
  const port = link.port;
  if (options.signal?.aborted) return Promise.reject(aborted(port, command));
  if (link.closed) return Promise.reject(disconnected(port));
  return new Promise<Buffer>((resolve, reject) => {
    let pending = Buffer.alloc(0);
    let phase: 'connect' | 'data' | 'final' = 'connect';
    let data = Buffer.alloc(0);
    let filled = 0;
    const finish = (error: StationError | undefined): void => {
      clearTimeout(timer);
      stopData();
      stopClose();
      options.signal?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve(data);
    };
    const onAbort = (): void => finish(aborted(port, command));
    const timer = setTimeout(() => finish(timedOut(port, command, options.timeoutMs)), options.timeoutMs);

    /** Handles one text line; returns an error, 'done', or undefined to keep reading. */
    const onLine = (text: string): StationError | 'done' | undefined => {
      if (text === '' || text === command) return undefined; // blank, or an echo if ATE0 was undone
      const failure = deviceFailure(text, port, command);
      if (failure) return failure;
      if (phase === 'final') return text === 'OK' ? 'done' : garbled(port, command);
      const count = /^CONNECT (\d+)$/.exec(text)?.[1];
      if (count === undefined) return garbled(port, command);
      const length = Number(count);
      if (length > options.maxBytes) return lineTooLong(port, command, options.maxBytes);
      data = Buffer.alloc(length);
      phase = length === 0 ? 'final' : 'data';
      filled = 0;
      return undefined;
    };

    const onData = (chunk: Buffer): void => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length > 0) {
        if (phase === 'data') {
          const take = Math.min(data.length - filled, pending.length);
          pending.copy(data, filled, 0, take);
          filled += take;
          pending = pending.subarray(take);
          if (filled === data.length) phase = 'final';
          continue;
        }
        const lineEnd = pending.indexOf(0x0a);
        if (lineEnd === -1) {
          if (pending.length > MAX_TEXT_LINE_BYTES) finish(lineTooLong(port, command, MAX_TEXT_LINE_BYTES));
          return;
        }
        const line = pending.subarray(0, lineEnd);
        pending = pending.subarray(lineEnd + 1);
        const text = textOf(line);
        const outcome = text === undefined ? garbled(port, command) : onLine(text);
        if (outcome === 'done') return finish(undefined);
        if (outcome) return finish(outcome);
      }
    };
    const stopData = link.onData(onData);
    const stopClose = link.onClose((error) => finish(disconnected(port, error)));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    link
      .write(Buffer.from(`${command}\r\n`, 'latin1'), options.signal)
      .catch((error: unknown) => finish(error instanceof StationError ? error : disconnected(port, error)));
  });
}

/** Printable ASCII (CR trimmed), or undefined for noise. */
function textOf(line: Buffer): string | undefined {
  const text = line.toString('latin1').trim();
  return /^[\x20-\x7e]*$/.test(text) ? text : undefined;
}

/** The same errors the AtChannel gives for ERROR and +CME ERROR, so callers handle one set of codes. */
function deviceFailure(text: string, port: string, command: string): StationError | undefined {
  if (text === 'ERROR') {
    return new StationError('device.error', `The device on ${port} answered ${command} with ERROR.`, {
      port,
      details: { command },
    });
  }
  const reason = /^\+CME ERROR:\s*(.*)$/.exec(text)?.[1];
  if (reason === undefined) return undefined;
  return new StationError('device.cme-error', `The device on ${port} answered ${command} with ${text}.`, {
    port,
    details: { command, cme: /^\d+$/.test(reason) ? Number(reason) : reason },
  });
}
