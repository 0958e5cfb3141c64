import type { ByteLink } from './byte-link.js';

export interface QuietOptions {
  /** How long the line must stay silent. */
  quietMs: number;
  /** Longest wait for a module that keeps talking. */
  maxWaitMs: number;
  /**
   * Silence counts only once this long has passed: bytes just written may still be on their way to the
   * module (a USB-serial bridge or pty buffers them) and its answer comes only after it has read them all.
   */
  notBeforeMs?: number;
  signal?: AbortSignal;
}

/**
 * Resolves once the module has sent nothing for `quietMs`. A station killed in the middle of a read-back
 * (Quectel AT+QFDWL, ESP-AT AT+SYSMFG=1) leaves the module streaming the rest of the value and its final
 * OK into the port; the next session must not take that OK for the answer to its first command, or every
 * answer after it would belong to the command before. Also resolves when `maxWaitMs` passes, the link
 * closes or the signal aborts: the session's next command then reports what is wrong.
 */
export function untilLineQuiet(link: ByteLink, options: QuietOptions): Promise<void> {
  if (link.closed || options.signal?.aborted) return Promise.resolve();
  const earliest = performance.now() + (options.notBeforeMs ?? 0);
  const quietFor = (): number => Math.max(options.quietMs, earliest - performance.now());
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(quiet);
      clearTimeout(deadline);
      stopData();
      stopClose();
      options.signal?.removeEventListener('abort', done);
      resolve();
    };
    let quiet = setTimeout(done, quietFor());
    const deadline = setTimeout(done, Math.max(options.maxWaitMs, options.notBeforeMs ?? 0));
    const stopData = link.onData(() => {
      clearTimeout(quiet);
      quiet = setTimeout(done, quietFor());
    });
    const stopClose = link.onClose(done);
    options.signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Resolves once the module has sent a final result line (OK, ERROR, +CME ERROR), or when `maxWaitMs`
 * passes, the link closes or the signal aborts. For a module that ends a raw transfer on its own, such as
 * a Quectel upload reaching its idle timeout (`+QFUPL: <size>,<checksum>` then OK, protocols.md 3).
 */
export function untilFinalResult(
  link: ByteLink,
  options: { maxWaitMs: number; signal?: AbortSignal },
): Promise<void> {
  if (link.closed || options.signal?.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    // Only the tail is kept: a final result is one short line.
    let tail = '';
    const done = (): void => {
      clearTimeout(deadline);
      stopData();
      stopClose();
      options.signal?.removeEventListener('abort', done);
      resolve();
    };
    const deadline = setTimeout(done, options.maxWaitMs);
    const stopData = link.onData((chunk) => {
      tail = (tail + chunk.toString('latin1')).slice(-128);
      if (/(^|[\r\n])(OK|ERROR|\+CME ERROR:[^\r\n]*)\r?\n/.test(tail)) done();
    });
    const stopClose = link.onClose(done);
    options.signal?.addEventListener('abort', done, { once: true });
  });
}
