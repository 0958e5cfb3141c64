import { autoDetect, type BindingPortInterface } from '@serialport/bindings-cpp';
import { readSync, writeSync } from 'node:fs';
import { StationError } from '../../src/api/errors.js';
import type { ByteLink, SerialSettings } from './byte-link.js';
import { aborted, disconnected, openFailed } from './transport-errors.js';

/** What this link drives: an open fd and its uv_poll (serialport's Linux/macOS port binding has both). */
export interface PolledFd {
  readonly fd: number | null;
  readonly isOpen: boolean;
  readonly poller: {
    poll(events: number): void;
    on(event: 'readable' | 'writable', listener: (error: Error | null) => void): unknown;
    removeAllListeners(): unknown;
  };
  close(): Promise<void>;
}

// uv_poll event bits, as serialport's poller takes them.
const readableEvent = 1;
const writableEvent = 2;
/** More than a tty buffers between two polls, so one read empties it. */
const readSize = 65_536;
/** Every port reads into this one buffer and copies out what arrived (reads are synchronous). */
const readBuffer = Buffer.allocUnsafe(readSize);

interface PendingWrite {
  bytes: Buffer;
  resolve(): void;
  reject(error: Error): void;
}

/**
 * Opens a serial port (or a pseudo-terminal path) as a ByteLink. RTS/CTS comes from the driver: real nRF91
 * DKs want it, ptys ignore it (protocols.md 6.7). A port unplugged mid-command closes the link, which the
 * channel above reports as transport.disconnected for this port.
 */
export async function openSerialLink(path: string, settings: SerialSettings): Promise<SerialLink> {
  let binding: BindingPortInterface;
  try {
    binding = await autoDetect().open({ path, baudRate: settings.baudRate, rtscts: settings.rtscts });
  } catch (error) {
    throw openFailed(path, error);
  }
  if (!isPolled(binding)) {
    await binding.close();
    throw new StationError(
      'transport.unsupported-platform',
      `Serial ports are driven through file descriptors here; ${process.platform} is not supported.`,
      { port: path, userFault: false },
    );
  }
  return new SerialLink(path, binding);
}

function isPolled(binding: BindingPortInterface): binding is BindingPortInterface & PolledFd {
  return typeof (binding as Partial<PolledFd>).fd === 'number' && 'poller' in binding;
}

/**
 * One open port. serialport's native binding sets termios (baud, RTS/CTS, raw) and an exclusive lock; bytes
 * move with non-blocking read/write calls when the port's uv_poll says it is ready, straight to the
 * listeners: no Node stream in between (its buffering and events cost more than the I/O at 32 busy
 * ports), and no thread-pool read per chunk as in serialport's own stream. A read that finds the line hung
 * up (0 bytes, or EIO from a pty whose other end is gone) closes the link with transport.disconnected, so
 * unplugs are noticed while only reading. Bytes that arrive while nobody listens are dropped, as a UART
 * with no reader would.
 */
export class SerialLink implements ByteLink {
  private readonly dataListeners = new Set<(chunk: Buffer) => void>();
  private readonly closeListeners = new Set<(error?: Error) => void>();
  private readonly writes: PendingWrite[] = [];
  private isClosed = false;
  /** The events of our last poll() call; -1 once the poll fired (the binding re-polls on its own then). */
  private armed = -1;
  private closeError: Error | undefined;
  private released: Promise<void> = Promise.resolve();

  constructor(
    readonly port: string,
    private readonly binding: PolledFd,
  ) {
    binding.poller.on('readable', (error) => this.onPoll(error, readableEvent));
    binding.poller.on('writable', (error) => this.onPoll(error, writableEvent));
    // Reading waits for the poll even when bytes may be buffered already: a read of an empty tty fails with
    // EAGAIN, and Node builds an exception object for that, which costs more than one extra poll.
    this.arm();
  }

  get closed(): boolean {
    return this.isClosed;
  }

  write(data: Uint8Array, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(aborted(this.port, 'A write'));
    if (this.isClosed) return Promise.reject(disconnected(this.port, this.closeError));
    return new Promise<void>((resolve, reject) => {
      // A view, not a copy: like any write, the caller leaves its bytes alone until the promise settles.
      this.writes.push({
        bytes: Buffer.from(data.buffer, data.byteOffset, data.byteLength),
        resolve,
        reject,
      });
      if (this.writes.length === 1) this.flushOutput();
    });
  }

  onData(listener: (chunk: Buffer) => void): () => void {
    this.dataListeners.add(listener);
    return () => this.dataListeners.delete(listener);
  }

  onClose(listener: (error?: Error) => void): () => void {
    if (this.isClosed) {
      queueMicrotask(() => listener(this.closeError));
      return () => undefined;
    }
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /** Closes the port (fd, poll handle, lock); resolves when the OS has it back. */
  close(): Promise<void> {
    this.shutDown();
    return this.released;
  }

  private shutDown(error?: Error): void {
    if (this.isClosed) return;
    // Set first: closing the binding cancels its polls synchronously, which calls onPoll.
    this.isClosed = true;
    this.closeError = error;
    this.released = this.binding.isOpen ? this.binding.close().catch(() => undefined) : Promise.resolve();
    // The poll is stopped now. serialport's native poller never lets go of its callback (bindings-cpp's
    // destroy() only drops its own handle), so everything its listeners reach would stay in memory for
    // good: a link per device, for as long as the bench runs. Only the poller's few bytes stay.
    this.binding.poller.removeAllListeners();
    for (const pending of this.writes.splice(0)) pending.reject(disconnected(this.port, error));
    for (const listener of [...this.closeListeners]) listener(error);
    this.closeListeners.clear();
  }

  private onPoll(error: Error | null, event: number): void {
    if (this.isClosed) return; // serialport cancels outstanding polls with an error when it closes
    this.armed = -1;
    if (error) this.shutDown(disconnected(this.port, error));
    else if (event === readableEvent) this.drainInput();
    else this.flushOutput();
  }

  /** Reads what the tty holds; polls again when it held less than a full buffer (it is empty now). */
  private drainInput(): void {
    for (;;) {
      let count: number;
      try {
        count = readSync(this.fd(), readBuffer, 0, readSize, null);
      } catch (error) {
        if (isWouldBlock(error)) break;
        this.shutDown(disconnected(this.port, error));
        return;
      }
      if (count === 0) {
        this.shutDown(disconnected(this.port));
        return;
      }
      const chunk = Buffer.from(readBuffer.subarray(0, count));
      for (const listener of [...this.dataListeners]) listener(chunk);
      if (this.isClosed) return; // a listener closed the link
      if (count < readSize) break;
    }
    this.arm();
  }

  /** Writes as much as the tty takes, in order; waits for the port to be writable again for the rest. */
  private flushOutput(): void {
    while (this.writes.length > 0 && !this.isClosed) {
      const pending = this.writes[0]!;
      try {
        while (pending.bytes.length > 0) {
          pending.bytes = pending.bytes.subarray(writeSync(this.fd(), pending.bytes));
        }
      } catch (error) {
        if (isWouldBlock(error)) break;
        this.shutDown(disconnected(this.port, error));
        return;
      }
      this.writes.shift();
      pending.resolve();
    }
    this.arm();
  }

  /**
   * serialport's uv_poll watches exactly the events of its last poll() call, so each call names all. A
   * call restarts the poll (epoll calls), so it is made only when the events change or the poll fired.
   */
  private arm(): void {
    if (this.isClosed) return;
    const events = readableEvent | (this.writes.length > 0 ? writableEvent : 0);
    if (events === this.armed) return;
    this.armed = events;
    this.binding.poller.poll(events);
  }

  private fd(): number {
    const fd = this.binding.fd;
    if (fd === null) throw disconnected(this.port);
    return fd;
  }
}

function isWouldBlock(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR';
}
