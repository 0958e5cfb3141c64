import { Duplex } from 'node:stream';
import { wireTimeMs } from './sim-wire.js';

/**
 * Two connected in-memory stream ends: what the host writes comes out at the device end and back. Closing
 * either end closes the other, as pulling a USB cable closes both sides of a port. With a baud rate, each
 * direction is paced as a UART would carry it (10 bits per byte) and writes complete when delivered.
 */
export interface MemoryPair {
  host: Duplex;
  device: Duplex;
}

export interface MemoryPairOptions {
  baudRate?: number;
}

class PipeEnd extends Duplex {
  peer: PipeEnd | undefined;
  private clock = 0;

  constructor(private readonly baudRate: number | undefined) {
    super({ allowHalfOpen: false });
  }

  override _read(): void {
    // Bytes are pushed by the peer as they are written; nothing to pull.
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    const peer = this.peer;
    if (!peer || peer.destroyed) {
      done(new Error('The other end of the memory pair is closed.'));
      return;
    }
    if (this.baudRate === undefined) {
      peer.push(chunk);
      done();
      return;
    }
    this.clock = Math.max(performance.now(), this.clock) + wireTimeMs(chunk.length, this.baudRate);
    setTimeout(
      () => {
        if (!peer.destroyed) peer.push(chunk);
        done();
      },
      Math.max(0, this.clock - performance.now()),
    );
  }

  override _final(done: (error?: Error | null) => void): void {
    this.peer?.push(null);
    done();
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    const peer = this.peer;
    this.peer = undefined;
    if (peer && !peer.destroyed) peer.destroy();
    done(error);
  }
}

export function createMemoryPair(options: MemoryPairOptions = {}): MemoryPair {
  const host = new PipeEnd(options.baudRate);
  const device = new PipeEnd(options.baudRate);
  host.peer = device;
  device.peer = host;
  return { host, device };
}
