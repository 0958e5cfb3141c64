import { autoDetect, type BindingPortInterface } from '@serialport/bindings-cpp';
import { readSync, writeSync } from 'node:fs';
import { Duplex } from 'node:stream';
import { StationError } from '../../src/api/errors.js';
import { disconnected, openFailed } from './transport-errors.js';

export interface SerialStreamOptions {
  baudRate: number;
  rtscts?: boolean;
}

/** The parts of serialport's Linux/macOS port binding this stream drives: its fd and its uv_poll. */
interface PolledBinding extends BindingPortInterface {
  fd: number | null;
  poller: {
    poll(events: number): void;
    on(event: 'readable' | 'writable', listener: (error: Error | null) => void): unknown;
  };
}

// uv_poll event bits, as serialport's poller takes them.
const readableEvent = 1;
const writableEvent = 2;
/** More than a tty buffers between two polls, so one read empties it. */
const readSize = 65_536;
/** Every port reads into this one buffer and copies out what arrived (reads are synchronous). */
const chunk = Buffer.allocUnsafe(readSize);

/**
 * Opens a serial port (or pty) with serialport's native binding, which sets termios (baud, RTS/CTS, raw)
 * and an exclusive lock, and moves bytes with non-blocking read/write calls when the port's uv_poll says
 * it is ready. serialport's own stream issues a thread-pool read per chunk and a second one that fails
 * with EAGAIN (an exception object each time); at 32 busy ports that was the station's largest cost.
 */
export async function openSerialStream(path: string, options: SerialStreamOptions): Promise<SerialStream> {
  let binding: BindingPortInterface;
  try {
    binding = await autoDetect().open({
      path,
      baudRate: options.baudRate,
      rtscts: options.rtscts ?? false,
    });
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
  return new SerialStream(path, binding);
}

function isPolled(binding: BindingPortInterface): binding is PolledBinding {
  return typeof (binding as Partial<PolledBinding>).fd === 'number' && 'poller' in binding;
}

/**
 * A Duplex over one open port. A read that finds the line hung up (0 bytes, or EIO from a pty whose other
 * end is gone) ends the stream with transport.disconnected, so unplugs are noticed while only reading.
 */
export class SerialStream extends Duplex {
  private wantRead = false;
  private pendingWrite: { chunk: Buffer; done: (error?: Error | null) => void } | undefined;
  private closing = false;
  private released = Promise.resolve();

  constructor(
    readonly path: string,
    private readonly binding: PolledBinding,
  ) {
    super({ decodeStrings: true });
    binding.poller.on('readable', (error) => this.onPoll(error, readableEvent));
    binding.poller.on('writable', (error) => this.onPoll(error, writableEvent));
  }

  get isOpen(): boolean {
    return this.binding.isOpen && !this.destroyed;
  }

  // Reading waits for the poll even when bytes may be buffered already: a read of an empty tty fails with
  // EAGAIN, and Node builds an exception object for that, which costs more than one extra poll.
  override _read(): void {
    if (this.wantRead) return;
    this.wantRead = true;
    this.arm();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.pendingWrite = { chunk, done };
    this.flushOutput();
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.release().then(
      () => done(error),
      () => done(error),
    );
  }

  /** Closes the port (fd, poll handle, lock); resolves when the OS has it back. */
  close(): Promise<void> {
    const released = this.release();
    this.destroy();
    return released;
  }

  private release(): Promise<void> {
    if (!this.closing) {
      // Set first: closing the binding cancels its polls synchronously, which calls onPoll.
      this.closing = true;
      this.wantRead = false;
      this.released = this.binding.isOpen ? this.binding.close().catch(() => undefined) : Promise.resolve();
      const pending = this.pendingWrite;
      this.pendingWrite = undefined;
      pending?.done(disconnected(this.path));
    }
    return this.released;
  }

  private onPoll(error: Error | null, event: number): void {
    if (this.closing) return; // serialport cancels outstanding polls with an error when it closes
    if (error) {
      this.destroy(disconnected(this.path, error));
      return;
    }
    if (event === readableEvent) this.drainInput();
    else this.flushOutput();
  }

  /** Reads what the tty holds; polls again when it held less than a full buffer (it is empty now). */
  private drainInput(): void {
    while (this.wantRead && !this.closing) {
      let count: number;
      try {
        count = readSync(this.fd(), chunk, 0, readSize, null);
      } catch (error) {
        if (isWouldBlock(error)) break;
        this.destroy(disconnected(this.path, error));
        return;
      }
      if (count === 0) {
        this.destroy(disconnected(this.path));
        return;
      }
      this.wantRead = this.push(Buffer.from(chunk.subarray(0, count)));
      if (count < readSize) break;
    }
    this.arm();
  }

  /** Writes as much as the tty takes; waits for the port to be writable again for the rest. */
  private flushOutput(): void {
    const pending = this.pendingWrite;
    if (!pending || this.closing) return;
    try {
      while (pending.chunk.length > 0) {
        const written = writeSync(this.fd(), pending.chunk);
        pending.chunk = pending.chunk.subarray(written);
      }
    } catch (error) {
      if (!isWouldBlock(error)) {
        this.pendingWrite = undefined;
        pending.done(disconnected(this.path, error));
        return;
      }
    }
    if (pending.chunk.length === 0) {
      this.pendingWrite = undefined;
      pending.done();
    }
    this.arm();
  }

  /** serialport's uv_poll watches exactly the events of its last poll() call, so each call names all. */
  private arm(): void {
    if (this.closing) return;
    this.binding.poller.poll((this.wantRead ? readableEvent : 0) | (this.pendingWrite ? writableEvent : 0));
  }

  private fd(): number {
    const fd = this.binding.fd;
    if (fd === null) throw disconnected(this.path);
    return fd;
  }
}

function isWouldBlock(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR';
}
