import { StationError } from '../../../src/api/errors.js';
import type { ByteLink } from '../../transport/byte-link.js';
import { aborted, disconnected, garbled, lineTooLong, timedOut } from '../../transport/transport-errors.js';
import { parseQuectelChecksum } from './upload-checksum.js';

export interface FileDownloadOptions {
  /** The file's size as AT+QFLST listed it: exactly this many raw bytes follow CONNECT. */
  size: number;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** What one download brought: the bytes taken after CONNECT and the module's own count and checksum. */
export interface FileDownload {
  bytes: Buffer;
  /** `<download_size>` of `+QFDWL:`. */
  reportedSize: number;
  /** `<checksum>` of `+QFDWL:`, the XOR of upload-checksum.ts. */
  reportedChecksum: number;
}

/** Longest text line expected around the data (`CONNECT`, `+QFDWL: <n>,<xxxx>`, `+CME ERROR: <n>`, `OK`). */
const MAX_TEXT_LINE_BYTES = 128;

/**
 * One `AT+QFDWL="<file>"` exchange: the module answers `CONNECT`, then the file's bytes raw (line ends
 * and all), then `+QFDWL: <size>,<checksum>` and OK (Quectel FILE AT commands [QFILE]; the checksum is
 * QFUPL's, protocols.md 3). Unlike QFOPEN/QFREAD it holds no file handle, so a station killed half-way
 * leaves no open file that later blocks AT+QFDEL with 418.
 * The AtChannel takes raw data only after a comma-ended header, so this exchange reads the link itself;
 * the session runs it only while the channel is idle. The device is not trusted: silence, noise and a
 * vanishing port end it with a typed error; the caller checks the reported size and checksum.
 */
export function downloadFileExchange(
  link: ByteLink,
  command: string,
  options: FileDownloadOptions,
): Promise<FileDownload> {
  const port = link.port;
  if (options.signal?.aborted) return Promise.reject(aborted(port, command));
  if (link.closed) return Promise.reject(disconnected(port));
  return new Promise<FileDownload>((resolve, reject) => {
    let pending = Buffer.alloc(0);
    let phase: 'connect' | 'data' | 'summary' | 'final' = 'connect';
    const data = Buffer.alloc(options.size);
    let filled = 0;
    let summary: Omit<FileDownload, 'bytes'> | undefined;
    const finish = (outcome: StationError | FileDownload): void => {
      clearTimeout(timer);
      stopData();
      stopClose();
      options.signal?.removeEventListener('abort', onAbort);
      if (outcome instanceof StationError) reject(outcome);
      else resolve(outcome);
    };
    const onAbort = (): void => finish(aborted(port, command));
    const timer = setTimeout(() => finish(timedOut(port, command, options.timeoutMs)), options.timeoutMs);

    /** Handles one text line; returns an error, the download once OK came, or undefined to keep reading. */
    const onLine = (text: string): StationError | FileDownload | undefined => {
      if (text === '' || text === command) return undefined; // blank, or an echo if ATE0 was undone
      const failure = deviceFailure(text, port, command);
      if (failure) return failure;
      switch (phase) {
        case 'connect':
          if (text !== 'CONNECT') return garbled(port, command);
          phase = options.size === 0 ? 'summary' : 'data';
          return undefined;
        case 'summary': {
          const [, size, checksum] = /^\+QFDWL:\s*(\d+),([0-9a-fA-F]+)$/.exec(text) ?? [];
          const reportedChecksum = checksum === undefined ? undefined : parseQuectelChecksum(checksum);
          if (size === undefined || reportedChecksum === undefined) return garbled(port, command);
          summary = { reportedSize: Number(size), reportedChecksum };
          phase = 'final';
          return undefined;
        }
        default:
          return text === 'OK' && summary ? { bytes: data, ...summary } : garbled(port, command);
      }
    };

    const onData = (chunk: Buffer): void => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length > 0) {
        if (phase === 'data') {
          const take = Math.min(data.length - filled, pending.length);
          pending.copy(data, filled, 0, take);
          filled += take;
          pending = pending.subarray(take);
          if (filled === data.length) phase = 'summary';
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
