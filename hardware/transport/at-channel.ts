import { StationError } from '../../src/api/errors.js';
import type {
  AtChannelContract,
  AtChannelOptions,
  AtCommandOptions,
  AtPayloadOptions,
  AtResponse,
  TranscriptEntry,
} from './at-channel-contract.js';
import { AtLineFramer, type FramerEvent } from './at-line-framer.js';
import type { ByteLink } from './byte-link.js';
import { Transcript, maskCommand, namedCommand } from './transcript.js';
import { aborted, disconnected, garbled, lineTooLong, timedOut } from './transport-errors.js';

/** After an oversized or garbled line, how long the device must stay quiet before the command fails. */
const settleMs = 100;
/** Longest wait for a chattering device to fall quiet after a command we gave up on. */
const maxQuietWaitMs = 1_000;
/** Payload bytes per write, so progress moves and an abort takes effect between chunks. */
const payloadChunkBytes = 256;

interface Payload {
  bytes: Uint8Array;
  prompt: AtPayloadOptions['prompt'];
  onProgress?: AtPayloadOptions['onProgress'];
}

interface Exchange {
  onEvent(event: FramerEvent): void;
  onActivity(): void;
  fail(error: StationError): void;
}

/**
 * One AT conversation with one device: commands go out one at a time (nRF91 drops bytes sent while a
 * command runs, protocols.md 1.1), answers are framed by AtLineFramer, and every way the device can
 * misbehave ends the command with a typed error for this port within its timeout.
 */
export class AtChannel implements AtChannelContract {
  private readonly framer: AtLineFramer;
  private readonly record = new Transcript();
  private readonly detach: (() => void)[] = [];
  private queue: Promise<void> = Promise.resolve();
  private current: Exchange | undefined;
  private lastReceivedAt = 0;
  /** A command ended without its final result: its late answer may still come. */
  private unsettled = false;

  constructor(
    readonly link: ByteLink,
    private readonly options: AtChannelOptions,
  ) {
    this.framer = new AtLineFramer(options);
    this.detach.push(
      link.onData((chunk) => this.receive(chunk)),
      link.onClose((error) => this.current?.fail(disconnected(link.port, error))),
    );
  }

  send(command: string, options: AtCommandOptions = {}): Promise<AtResponse> {
    return this.inTurn(options.signal, command, options.secret, () =>
      this.exchange(command, undefined, options),
    );
  }

  sendWithPayload(command: string, payload: Uint8Array, options: AtPayloadOptions): Promise<AtResponse> {
    const { prompt, onProgress } = options;
    return this.inTurn(options.signal, command, options.secret, () =>
      this.exchange(command, { bytes: payload, prompt, onProgress }, options),
    );
  }

  /**
   * Writes bytes that are no command and get no answer of their own (filler that completes a raw transfer
   * a killed station left unfinished), in turn with the commands. The transcript shows `label`, never the
   * bytes; whatever the device says meanwhile is recorded as it arrives.
   */
  writeRaw(bytes: Uint8Array, label: string, signal?: AbortSignal): Promise<void> {
    return this.inTurn(signal, label, false, async () => {
      if (this.link.closed) throw disconnected(this.link.port);
      this.record.record('tx', label);
      for (let sent = 0; sent < bytes.length; sent += payloadChunkBytes) {
        await this.link.write(bytes.subarray(sent, sent + payloadChunkBytes), signal);
      }
    });
  }

  transcript(): readonly TranscriptEntry[] {
    return this.record.list();
  }

  /** Stops listening to the link (the session closes the link itself). */
  dispose(): void {
    this.current?.fail(aborted(this.link.port, 'The command'));
    for (const undo of this.detach) undo();
  }

  private receive(chunk: Buffer): void {
    this.lastReceivedAt = performance.now();
    const exchange = this.current;
    exchange?.onActivity();
    for (const event of this.framer.push(chunk)) {
      if (exchange) exchange.onEvent(event);
      else if (event.kind === 'line') this.record.record('rx', event.text);
    }
  }

  /** Waits for the previous command to finish (or for an abort), then runs this one. */
  private async inTurn<T>(
    signal: AbortSignal | undefined,
    command: string,
    secret: boolean | undefined,
    run: () => Promise<T>,
  ): Promise<T> {
    const previous = this.queue;
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    this.queue = previous.then(() => mine);
    try {
      await untilAborted(previous, signal, () =>
        aborted(this.link.port, namedCommand(maskCommand(command, secret))),
      );
      await this.quietAfterFailure();
      return await run();
    } finally {
      release();
    }
  }

  /**
   * After a timeout or an abort the device may still answer the old command; that answer must not be
   * taken for the next one's, so wait until the line has been quiet a moment (tools flush input before
   * each command for the same reason, protocols.md 1.1).
   */
  private async quietAfterFailure(): Promise<void> {
    if (!this.unsettled) return;
    this.unsettled = false;
    const deadline = performance.now() + maxQuietWaitMs;
    for (;;) {
      const quietFor = performance.now() - this.lastReceivedAt;
      if (quietFor >= settleMs || performance.now() >= deadline || this.link.closed) return;
      await new Promise((resolve) => setTimeout(resolve, settleMs - quietFor));
    }
  }

  private exchange(
    command: string,
    payload: Payload | undefined,
    options: AtCommandOptions,
  ): Promise<AtResponse> {
    const port = this.link.port;
    const label = maskCommand(command, options.secret);
    const named = namedCommand(label);
    const timeoutMs = options.timeoutMs ?? this.options.defaultTimeoutMs;
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(aborted(port, named));
    if (this.link.closed) return Promise.reject(disconnected(port));

    return new Promise<AtResponse>((resolve, reject) => {
      const info: string[] = [];
      const data: Uint8Array[] = [];
      let phase: 'prompt' | 'payload' | 'final' = payload ? 'prompt' : 'final';
      let echoPending = this.options.echo;
      let fault: 'too-long' | 'garbled' | undefined;
      /** An OK that arrived while our last payload writes were still completing. */
      let okDuringPayload = false;
      let settleTimer: NodeJS.Timeout | undefined;
      let done = false;

      const faultError = (): StationError =>
        fault === 'too-long' ? lineTooLong(port, named, this.options.maxLineBytes) : garbled(port, named);
      const finish = (error: StationError | undefined): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearTimeout(settleTimer);
        signal?.removeEventListener('abort', onAbort);
        this.framer.armPrompt(false);
        this.framer.expectRawData(undefined);
        this.current = undefined;
        if (error?.code === 'transport.timeout' || error?.code === 'transport.aborted') {
          this.unsettled = true;
          this.lastReceivedAt = Math.max(this.lastReceivedAt, performance.now());
        }
        if (error) reject(error);
        else resolve(data.length > 0 ? { info, data } : { info });
      };
      const settle = (): void => {
        clearTimeout(settleTimer);
        settleTimer = setTimeout(() => finish(faultError()), settleMs);
      };
      const onAbort = (): void => finish(aborted(port, named));
      const timer = setTimeout(
        () => finish(fault ? faultError() : timedOut(port, named, timeoutMs)),
        timeoutMs,
      );
      signal?.addEventListener('abort', onAbort, { once: true });

      const startPayload = async (bytes: Uint8Array, onProgress: Payload['onProgress']): Promise<void> => {
        phase = 'payload';
        this.record.record(
          'tx',
          options.secret ? `<masked ${bytes.length} bytes>` : `<${bytes.length} raw bytes>`,
        );
        for (let sent = 0; sent < bytes.length && !done;) {
          const chunk = bytes.subarray(sent, sent + payloadChunkBytes);
          await this.link.write(chunk, signal);
          sent += chunk.length;
          onProgress?.(sent, bytes.length);
        }
        phase = 'final';
        if (okDuringPayload) finish(fault ? faultError() : undefined);
      };

      const onLine = (text: string): void => {
        if (echoPending && text === command.trim()) {
          echoPending = false;
          return;
        }
        this.record.record('rx', text);
        const final = finalResult(text, port, named);
        if (final === 'ok') {
          // ESP-AT says OK before its `>` prompt (protocols.md 2): that OK is not the end.
          if (phase === 'prompt' && payload?.prompt === '>') return;
          // The device may answer before our last write reports done: finish once the payload is out.
          if (phase === 'payload') {
            okDuringPayload = true;
            return;
          }
          finish(fault ? faultError() : undefined);
          return;
        }
        if (final) {
          finish(fault ? faultError() : final);
          return;
        }
        if (phase === 'prompt' && payload?.prompt === 'CONNECT' && text.startsWith('CONNECT')) {
          startPayload(payload.bytes, payload.onProgress).catch((error: unknown) =>
            finish(asStationError(error, port)),
          );
          return;
        }
        info.push(text);
      };

      this.current = {
        onActivity: () => {
          if (fault) settle();
        },
        fail: (error) => finish(error),
        onEvent: (event) => {
          switch (event.kind) {
            case 'line':
              onLine(event.text);
              return;
            case 'prompt':
              this.record.record('rx', '>');
              if (payload && phase === 'prompt') {
                startPayload(payload.bytes, payload.onProgress).catch((error: unknown) =>
                  finish(asStationError(error, port)),
                );
              }
              return;
            case 'raw-data':
              this.record.record('rx', `${event.header}<${event.bytes.length} raw bytes>`);
              info.push(event.header);
              data.push(event.bytes);
              return;
            case 'too-long':
            case 'garbled':
              this.record.record('rx', `<${event.kind} line>`);
              fault ??= event.kind;
              settle();
              return;
          }
        },
      };

      this.framer.reset();
      this.framer.armPrompt(payload?.prompt === '>');
      this.framer.expectRawData(options.rawData?.header, options.rawData?.maxBytes);
      this.record.record('tx', label);
      this.link
        .write(Buffer.from(command + this.options.lineEnding, 'utf8'), signal)
        .catch((error: unknown) => finish(asStationError(error, port)));
    });
  }
}

/** 'ok', a device error for ERROR / +CME ERROR / +CMS ERROR, or undefined for any other line. */
function finalResult(text: string, port: string, label: string): 'ok' | StationError | undefined {
  if (text === 'OK') return 'ok';
  if (text === 'ERROR') {
    return new StationError('device.error', `The device on ${port} answered ${label} with ERROR.`, {
      port,
      details: { command: label },
    });
  }
  const match = /^\+(CME|CMS) ERROR:\s*(.*)$/.exec(text);
  if (!match) return undefined;
  const [, kind, reason] = match as unknown as [string, 'CME' | 'CMS', string];
  const numeric = /^\d+$/.test(reason) ? Number(reason) : reason;
  return new StationError(
    kind === 'CME' ? 'device.cme-error' : 'device.cms-error',
    `The device on ${port} answered ${label} with ${text}.`,
    { port, details: { command: label, [kind.toLowerCase()]: numeric } },
  );
}

function asStationError(error: unknown, port: string): StationError {
  if (error instanceof StationError) return error;
  return disconnected(port, error);
}

/** Resolves with `wait`, or rejects as soon as the signal aborts. */
function untilAborted(
  wait: Promise<void>,
  signal: AbortSignal | undefined,
  abortError: () => StationError,
): Promise<void> {
  if (!signal) return wait;
  if (signal.aborted) return Promise.reject(abortError());
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(abortError());
    signal.addEventListener('abort', onAbort, { once: true });
    void wait.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}
