import { Duplex } from 'node:stream';
import type { SerialSettings } from './byte-link.js';
import { openSerialLink, type SerialLink } from './serial-link.js';

/**
 * Opens a port as a Node Duplex, for code written against streams: a simulator's end of a pty pair. The
 * station's own ports are SerialLinks (openSerialLink), without a stream in the way.
 */
export async function openSerialStream(
  path: string,
  settings: Pick<SerialSettings, 'baudRate'> & Partial<SerialSettings>,
): Promise<SerialStream> {
  return new SerialStream(await openSerialLink(path, { rtscts: false, ...settings }));
}

/** A Duplex over a SerialLink; a hang-up destroys it with the link's transport.disconnected error. */
export class SerialStream extends Duplex {
  constructor(private readonly link: SerialLink) {
    super({ decodeStrings: true });
    // No backpressure: a UART has none either, and what a simulator reads is small.
    link.onData((chunk) => this.push(chunk));
    link.onClose((error) => this.destroy(error));
  }

  get path(): string {
    return this.link.port;
  }

  get isOpen(): boolean {
    return !this.link.closed && !this.destroyed;
  }

  override _read(): void {
    // the link delivers as bytes arrive
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.link.write(chunk).then(() => done(), done);
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.link.close().then(
      () => done(error),
      () => done(error),
    );
  }

  /** Closes the port (fd, poll handle, lock); resolves when the OS has it back. */
  close(): Promise<void> {
    const released = this.link.close();
    this.destroy();
    return released;
  }
}
