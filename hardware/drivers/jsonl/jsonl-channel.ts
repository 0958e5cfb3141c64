import type { z } from 'zod';
import { StationError, type ErrorCode } from '../../../src/api/errors.js';
import type { ByteLink } from '../../transport/byte-link.js';
import type { TranscriptEntry } from '../../transport/at-channel-contract.js';
import { aborted, disconnected, garbled, lineTooLong, timedOut } from '../../transport/transport-errors.js';
import { LineSplitter } from './line-splitter.js';
import {
  MAX_LINE_BYTES,
  encodeLine,
  errorResponseSchema,
  responseEnvelopeSchema,
  type JsonlRequest,
} from './protocol.js';

/** A request as the driver writes it; the channel adds the id. */
export type JsonlRequestBody = JsonlRequest extends infer R
  ? R extends unknown
    ? Omit<R, 'id'>
    : never
  : never;

export interface JsonlRequestOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** The request carries a secret (a key chunk): the transcript keeps its shape, not its payload. */
  secret?: boolean;
}

interface PendingRequest {
  id: number;
  cmd: string;
  resolve(body: Record<string, unknown>): void;
  reject(error: StationError): void;
}

/**
 * The host end of a jsonl link: one request in flight, matched to its answer by id. Decisions
 * (docs/jsonl-protocol.md section 3):
 * - a response whose id is not the pending one is a late answer to a request we gave up on: it is
 *   recorded and ignored, so a timeout never desynchronises the next exchange;
 * - a line that is not a JSON response while a request is pending fails that request as
 *   transport.garbled (its answer may be the garbled line); noise while idle (a boot banner) is ignored;
 * - an error answer with id 0 (the device could not read our id) fails the pending request.
 */
export class JsonlChannel {
  private readonly splitter: LineSplitter;
  private readonly entries: TranscriptEntry[] = [];
  private pending: PendingRequest | undefined;
  private nextId = 1;
  private queue: Promise<unknown> = Promise.resolve();
  private closedError: StationError | undefined;
  private readonly unsubscribe: Array<() => void>;

  constructor(
    readonly link: ByteLink,
    private readonly defaultTimeoutMs: number,
    maxLineBytes = MAX_LINE_BYTES,
  ) {
    this.splitter = new LineSplitter(
      maxLineBytes,
      (line) => this.onLine(line),
      () => this.onOverflow(maxLineBytes),
    );
    this.unsubscribe = [
      link.onData((chunk) => this.splitter.push(chunk)),
      link.onClose(() => this.onLinkClosed()),
    ];
  }

  /** Sends one request and resolves with the success body checked against `schema`. */
  request<T>(body: JsonlRequestBody, schema: z.ZodType<T>, options: JsonlRequestOptions = {}): Promise<T> {
    // Requests queue behind each other: the protocol allows one in flight (the device has one line buffer).
    const run = this.queue.then(() => this.exchange(body, schema, options));
    this.queue = run.catch(() => undefined);
    return run;
  }

  transcript(): readonly TranscriptEntry[] {
    return this.entries;
  }

  /** Stops listening to the link; the link itself belongs to the caller. */
  detach(): void {
    for (const stop of this.unsubscribe) stop();
    this.fail(this.disconnected());
  }

  private async exchange<T>(
    body: JsonlRequestBody,
    schema: z.ZodType<T>,
    options: JsonlRequestOptions,
  ): Promise<T> {
    if (this.closedError) throw this.closedError;
    const { signal } = options;
    if (signal?.aborted) throw this.aborted(body.cmd);
    const id = this.nextId;
    this.nextId = this.nextId >= 0x7fffffff ? 1 : this.nextId + 1;
    const message = { id, ...body };
    const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs;

    const answer = new Promise<Record<string, unknown>>((resolve, reject) => {
      this.pending = { id, cmd: body.cmd, resolve, reject };
    });
    const timer = setTimeout(() => this.fail(this.timedOut(body.cmd, timeoutMs)), timeoutMs);
    const onAbort = () => this.fail(this.aborted(body.cmd));
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      this.record('tx', options.secret ? maskPayload(message) : JSON.stringify(message));
      // Not awaited on its own: a write stuck behind a stalled port must still end at the timeout.
      this.link.write(encodeLine(message), signal).catch((error: unknown) => {
        if (this.pending?.id === id) this.fail(this.writeFailed(body.cmd, error, signal));
      });
      const result = schema.safeParse(await answer);
      if (!result.success) {
        throw this.error('transport.garbled', `The device answered ${body.cmd} with a malformed response.`, {
          command: body.cmd,
          problem: result.error.issues[0]?.message,
        });
      }
      return result.data;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (this.pending?.id === id) this.pending = undefined;
    }
  }

  private onLine(line: Buffer): void {
    const text = line.toString('utf8');
    this.record('rx', text);
    const pending = this.pending;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const envelope = responseEnvelopeSchema.safeParse(parsed);
    if (!envelope.success || text.includes('\uFFFD')) {
      if (!pending || text.trim() === '') return;
      this.fail(garbled(this.link.port, pending.cmd));
      return;
    }
    if (!pending) return;
    const { id, ok } = envelope.data;
    if (id !== pending.id && id !== 0) return; // a late answer to a request we already gave up on
    if (ok) {
      if (id === 0) return; // a success must name its request
      this.pending = undefined;
      pending.resolve(withoutEnvelope(parsed as Record<string, unknown>));
      return;
    }
    const failure = errorResponseSchema.safeParse(parsed);
    this.fail(
      failure.success
        ? deviceRefusal(this.link.port, pending.cmd, failure.data.err.code, failure.data.err.msg)
        : this.error('transport.garbled', `The device answered ${pending.cmd} with a malformed error.`, {
            command: pending.cmd,
          }),
    );
  }

  private onOverflow(maxLineBytes: number): void {
    const pending = this.pending;
    this.record('rx', `<line over ${maxLineBytes} bytes dropped>`);
    if (!pending) return;
    this.fail(lineTooLong(this.link.port, pending.cmd, maxLineBytes));
  }

  private onLinkClosed(): void {
    this.closedError = this.disconnected();
    this.fail(this.closedError);
  }

  private fail(error: StationError): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    pending.reject(error);
  }

  private record(direction: 'tx' | 'rx', text: string): void {
    this.entries.push({ at: Date.now(), direction, text });
  }

  private writeFailed(cmd: string, error: unknown, signal: AbortSignal | undefined): StationError {
    if (signal?.aborted) return this.aborted(cmd);
    if (error instanceof StationError) return error;
    return this.disconnected();
  }

  private timedOut(cmd: string, timeoutMs: number): StationError {
    return timedOut(this.link.port, cmd, timeoutMs);
  }

  private aborted(cmd: string): StationError {
    return aborted(this.link.port, cmd);
  }

  private disconnected(): StationError {
    return disconnected(this.link.port);
  }

  private error(code: ErrorCode, message: string, details?: Record<string, unknown>): StationError {
    return new StationError(code, message, { port: this.link.port, details });
  }
}

/** How device error codes map onto station codes; the device's own code stays in details.deviceCode. */
const stationCodeFor: Record<string, ErrorCode> = {
  'storage.full': 'device.storage-full',
  'slot.too-large': 'device.credential-too-large',
  refused: 'device.refused',
  busy: 'device.busy',
  'payload.crc': 'device.write-corrupted',
  'write.offset': 'device.write-corrupted',
  'write.length': 'device.write-corrupted',
  'write.digest': 'device.write-corrupted',
  'write.not-begun': 'device.write-corrupted',
  'key.none': 'device.no-key',
  'key.invalid': 'device.key-rejected',
  'proto.version': 'device.unsupported-protocol',
};

function deviceRefusal(port: string, cmd: string, code: string, msg: string): StationError {
  return new StationError(
    stationCodeFor[code] ?? 'device.error',
    `The device refused ${cmd} (${code}: ${msg.replace(/\.$/, '')}).`,
    { port, details: { command: cmd, deviceCode: code } },
  );
}

function withoutEnvelope(message: Record<string, unknown>): Record<string, unknown> {
  const { id: _id, ok: _ok, ...body } = message;
  return body;
}

/** Keeps the request's shape for debugging and replaces payload fields (key material) with their size. */
function maskPayload(message: Record<string, unknown>): string {
  const masked = { ...message };
  for (const field of ['data', 'challenge'] as const) {
    const value = masked[field];
    if (typeof value === 'string') masked[field] = `<secret: ${value.length} base64 chars>`;
  }
  return JSON.stringify(masked);
}
