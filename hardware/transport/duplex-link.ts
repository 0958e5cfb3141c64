import type { Duplex } from 'node:stream';
import type { ByteLink } from './byte-link.js';
import { aborted, disconnected } from './transport-errors.js';

/**
 * A ByteLink over a duplex stream: one end of an in-memory pair to a simulator (serial ports and ptys are
 * SerialLinks). Bytes that arrive while nobody listens are dropped, as a UART with no reader would.
 */
export function linkFromDuplex(port: string, stream: Duplex): ByteLink {
  const dataListeners = new Set<(chunk: Buffer) => void>();
  const closeListeners = new Set<(error?: Error) => void>();
  let closed = false;
  let closeError: Error | undefined;

  const markClosed = (error?: Error): void => {
    if (closed) return;
    closed = true;
    closeError = error;
    for (const listener of [...closeListeners]) listener(error);
    closeListeners.clear();
  };

  stream.on('data', (chunk: Buffer | string) => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
    for (const listener of [...dataListeners]) listener(bytes);
  });
  // Memory pairs close when the peer goes.
  stream.on('close', (error?: unknown) => markClosed(error instanceof Error ? error : undefined));
  stream.on('end', () => markClosed());
  stream.on('error', (error: Error) => markClosed(error));
  if (stream.destroyed) markClosed();

  return {
    port,
    get closed() {
      return closed;
    },
    write(data: Uint8Array, signal?: AbortSignal): Promise<void> {
      if (signal?.aborted) return Promise.reject(aborted(port, 'A write'));
      if (closed || stream.destroyed || !stream.writable) {
        return Promise.reject(disconnected(port, closeError));
      }
      return new Promise<void>((resolve, reject) => {
        const onClose = (error?: Error): void => reject(disconnected(port, error));
        closeListeners.add(onClose);
        stream.write(Buffer.from(data.buffer, data.byteOffset, data.byteLength), (error) => {
          closeListeners.delete(onClose);
          if (error) reject(disconnected(port, error));
          else resolve();
        });
      });
    },
    onData(listener) {
      dataListeners.add(listener);
      return () => dataListeners.delete(listener);
    },
    onClose(listener) {
      if (closed) {
        queueMicrotask(() => listener(closeError));
        return () => undefined;
      }
      closeListeners.add(listener);
      return () => closeListeners.delete(listener);
    },
    close(): Promise<void> {
      stream.destroy();
      markClosed();
      return Promise.resolve();
    },
  };
}
