import type { Duplex } from 'node:stream';
import type { SimulatorFault, SimulatorFaultKind, SimulatorOptions } from '../drivers/device-driver.js';

/** A UART sends 10 bits per byte (start, 8 data, stop): the time `bytes` take on the wire, in ms. */
export function wireTimeMs(bytes: number, baudRate: number): number {
  return (bytes * 10 * 1000) / baudRate;
}

/** Pacing moves bytes in slices this big, so a long write arrives progressively, as on a real line. */
const sliceBytes = 64;
/** A 'slow' fault without delayMs answers after this long: longer than any command timeout we use. */
const defaultSlowMs = 60_000;

interface Exchange {
  command: string;
  drop?: SimulatorFault;
  garble?: SimulatorFault;
  slow?: SimulatorFault;
  slowApplied: boolean;
}

interface TornWrite {
  command: string;
  lastReceived: number;
  hit: boolean;
}

/**
 * `nth` counts over the device's life, not per link: a simulator passes the same options to the wire of
 * every attach, so a fault that hit the first write does not hit again when the device is plugged back in
 * (the retry a technician makes).
 */
const faultCounts = new WeakMap<SimulatorOptions, Map<SimulatorFault, number>>();

/** What a simulated device did on its wire over its life (every attach): the device's share of a port's time. */
export interface WireMeter {
  rxBytes: number;
  txBytes: number;
  /** Answers that waited the configured latency first ('slow' faults' extra delay not included). */
  latencyAnswers: number;
  latencyMs: number;
}

const meters = new WeakMap<SimulatorOptions, WireMeter>();

/** The meter of the device these options belong to (one options object per simulated device). */
export function wireMeter(options: SimulatorOptions): WireMeter {
  let meter = meters.get(options);
  if (!meter) {
    meter = { rxBytes: 0, txBytes: 0, latencyAnswers: 0, latencyMs: 0 };
    meters.set(options, meter);
  }
  return meter;
}

function faultCountsOf(options: SimulatorOptions): Map<SimulatorFault, number> {
  let counts = faultCounts.get(options);
  if (!counts) {
    counts = new Map();
    faultCounts.set(options, counts);
  }
  return counts;
}

/**
 * What every simulated device shares: it reads the host's bytes and writes its answers as a UART at the
 * configured baud rate would (both directions paced), waits the per-answer latency, and applies the
 * SimulatorFault options. The simulator parses its own protocol and asks the wire which faults hit:
 * - `fault(command, 'refuse' | 'storage-full')`: true when the simulator must answer with its own error;
 * - `disconnectsDuring(command, received, total)`: as a write's bytes arrive; true (and the stream is
 *   closed) when a matching disconnect fault tears this write at half way;
 * - `answer(command, bytes, final)`: drop-response, garble and slow are applied here, once decided per
 *   exchange (the answers to one command up to the one marked final).
 * `match` is a prefix of the command text, `nth` counts matching commands (1-based) per fault and device.
 */
export class SimWire {
  private readonly listeners = new Set<(chunk: Buffer) => void>();
  private readonly sleepers = new Set<{ timer: NodeJS.Timeout; wake: () => void }>();
  private readonly matchCounts: Map<SimulatorFault, number>;
  private readonly meter: WireMeter;
  private rxChain: Promise<void> = Promise.resolve();
  private txChain: Promise<void> = Promise.resolve();
  private rxClock = 0;
  private txClock = 0;
  private exchange: Exchange | undefined;
  private tornWrite: TornWrite | undefined;
  private closed = false;

  constructor(
    private readonly stream: Duplex,
    private readonly options: SimulatorOptions = {},
  ) {
    this.matchCounts = faultCountsOf(options);
    this.meter = wireMeter(options);
    stream.on('data', (chunk: Buffer) => this.receive(chunk));
    stream.on('error', () => this.shutDown());
    stream.on('close', () => this.shutDown());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The host's bytes, delivered as fast as the configured baud rate lets them arrive. */
  onBytes(listener: (chunk: Buffer) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Whether a fault of this kind hits this command (counts the command for `nth`). */
  fault(command: string, kind: Extract<SimulatorFaultKind, 'refuse' | 'storage-full'>): boolean {
    return this.hit(kind, command) !== undefined;
  }

  /**
   * Call as a write's bytes arrive (`received` of `total`). A new write starts when the command changes or
   * `received` goes back; when a disconnect fault hits it, the device vanishes once half has arrived.
   */
  disconnectsDuring(command: string, received: number, total: number): boolean {
    const write = this.tornWrite;
    if (!write || write.command !== command || received < write.lastReceived) {
      this.tornWrite = {
        command,
        lastReceived: received,
        hit: this.hit('disconnect', command) !== undefined,
      };
    } else {
      write.lastReceived = received;
    }
    if (!this.tornWrite!.hit || received * 2 < total) return false;
    this.tornWrite = undefined;
    this.disconnect();
    return true;
  }

  /**
   * Writes an answer to `command` after the latency, paced, with drop/garble/slow faults applied.
   * `beforeLastByte` runs just before the answer's last slice goes out (or when it is dropped): a device
   * that ignores input while busy becomes ready there, before the host can possibly reply.
   */
  answer(command: string, bytes: Uint8Array, final = false, beforeLastByte?: () => void): void {
    if (this.exchange?.command !== command) {
      this.exchange = {
        command,
        drop: this.hit('drop-response', command),
        garble: this.hit('garble', command),
        slow: this.hit('slow', command),
        slowApplied: false,
      };
    }
    const exchange = this.exchange;
    if (final) this.exchange = undefined;
    let delay = this.options.latencyMs ?? 0;
    if (delay > 0) {
      this.meter.latencyAnswers++;
      this.meter.latencyMs += delay;
    }
    if (!exchange.drop) this.meter.txBytes += bytes.length;
    if (exchange.slow && !exchange.slowApplied) {
      delay += exchange.slow.delayMs ?? defaultSlowMs;
      exchange.slowApplied = true;
    }
    const out = exchange.garble ? garble(bytes) : Buffer.from(bytes);
    // The device starts its answer `delay` after the command's last byte reached it on the simulated
    // wire, not after this process got round to it: a late timer here is the simulator's, not the device's.
    // Unpaced (in memory) there is no wire clock: the latency counts from now.
    const commandEnd = this.options.baudRate === undefined ? performance.now() : this.rxClock;
    this.txChain = this.txChain.then(async () => {
      const readyAt = Math.max(commandEnd, this.txClock) + delay;
      await this.sleepUntil(readyAt);
      if (exchange.drop) {
        beforeLastByte?.();
        return;
      }
      await this.paced(
        out,
        'tx',
        (slice, last) => {
          if (last) beforeLastByte?.();
          this.emit(slice);
        },
        readyAt,
      );
    });
  }

  /** Resolves when every answer queued so far is on the wire (or dropped): a busy device is free again. */
  whenAnswered(): Promise<void> {
    return this.txChain;
  }

  /** The device vanishes: the stream closes as an unplugged USB device's port would. */
  disconnect(): void {
    this.shutDown();
    this.stream.destroy();
  }

  close(): void {
    this.disconnect();
  }

  private receive(chunk: Buffer): void {
    if (this.closed) return;
    this.meter.rxBytes += chunk.length;
    if (this.options.baudRate === undefined) {
      this.deliver(chunk);
      return;
    }
    this.rxChain = this.rxChain.then(() => this.paced(chunk, 'rx', (slice) => this.deliver(slice)));
  }

  private deliver(chunk: Buffer): void {
    for (const listener of [...this.listeners]) listener(chunk);
  }

  private emit(slice: Buffer): void {
    if (this.closed || this.stream.destroyed || !this.stream.writable) return;
    this.stream.write(slice);
  }

  /**
   * Moves bytes slice by slice, each when its last bit would have crossed the wire. The wire's clock runs
   * on from `startAt` (default: now, when the bytes arrive), so a slice this process sends late does not
   * delay the ones after it.
   */
  private async paced(
    bytes: Buffer,
    direction: 'rx' | 'tx',
    move: (slice: Buffer, last: boolean) => void,
    startAt = performance.now(),
  ): Promise<void> {
    const baudRate = this.options.baudRate;
    if (baudRate === undefined) {
      if (!this.closed) move(bytes, true);
      return;
    }
    let clock = Math.max(startAt, direction === 'rx' ? this.rxClock : this.txClock);
    for (let offset = 0; offset < bytes.length && !this.closed; offset += sliceBytes) {
      const slice = bytes.subarray(offset, offset + sliceBytes);
      clock += wireTimeMs(slice.length, baudRate);
      if (direction === 'rx') this.rxClock = clock;
      else this.txClock = clock;
      await this.sleepUntil(clock);
      if (!this.closed) move(slice, offset + sliceBytes >= bytes.length);
    }
  }

  private hit(kind: SimulatorFaultKind, command: string): SimulatorFault | undefined {
    let chosen: SimulatorFault | undefined;
    for (const fault of this.options.faults ?? []) {
      if (fault.kind !== kind) continue;
      if (fault.match !== undefined && !command.startsWith(fault.match)) continue;
      const count = (this.matchCounts.get(fault) ?? 0) + 1;
      this.matchCounts.set(fault, count);
      if (fault.nth === undefined || fault.nth === count) chosen ??= fault;
    }
    return chosen;
  }

  /** Sleeps until the performance.now() time `at`; a moment less than 1 ms away is not worth a timer. */
  private sleepUntil(at: number): Promise<void> {
    const ms = at - performance.now();
    if (this.closed || ms < 1) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const sleeper = {
        timer: setTimeout(() => {
          this.sleepers.delete(sleeper);
          resolve();
        }, ms),
        wake: resolve,
      };
      this.sleepers.add(sleeper);
    });
  }

  private shutDown(): void {
    if (this.closed) return;
    this.closed = true;
    for (const sleeper of this.sleepers) {
      clearTimeout(sleeper.timer);
      sleeper.wake();
    }
    this.sleepers.clear();
  }
}

/**
 * Every other byte that is not a line end becomes 0xFF (never valid UTF-8), so the host sees noise where
 * text was due while line boundaries survive.
 */
export function garble(bytes: Uint8Array): Buffer {
  const out = Buffer.from(bytes);
  let flip = true;
  for (let index = 0; index < out.length; index++) {
    if (out[index] === 0x0d || out[index] === 0x0a) continue;
    if (flip) out[index] = 0xff;
    flip = !flip;
  }
  return out;
}
