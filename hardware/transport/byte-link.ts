/**
 * A byte pipe to one device: a serial port, a pseudo-terminal, or an in-memory stream to a simulator.
 * Everything above it (AT framing, JSON lines) is written against this, so the same driver code runs
 * on real hardware, on ptys and in memory.
 */
export interface ByteLink {
  /** The port name a technician sees, e.g. /dev/ttyUSB3; errors carry it. */
  readonly port: string;
  readonly closed: boolean;
  /** Resolves when the bytes were handed to the OS (drained); rejects with transport.disconnected. */
  write(data: Uint8Array, signal?: AbortSignal): Promise<void>;
  /** Subscribes to incoming bytes; returns the unsubscribe function. */
  onData(listener: (chunk: Buffer) => void): () => void;
  /** Called once when the link goes away (unplug, close, error). */
  onClose(listener: (error?: Error) => void): () => void;
  close(): Promise<void>;
}

export interface SerialSettings {
  baudRate: number;
  /** RTS/CTS; real nRF91 DKs use it, pseudo-terminals ignore it (protocols.md 6.7). */
  rtscts: boolean;
}
