import type { ByteLink } from '../../transport/byte-link.js';

export interface QuietOptions {
  /** How long the line must stay silent. */
  quietMs: number;
  /** Longest wait for a module that keeps talking. */
  maxWaitMs: number;
  signal?: AbortSignal;
}

/**
 * Resolves once the module has sent nothing for `quietMs`. A station killed in the middle of an
 * AT+QFDWL leaves the module streaming the rest of the file and its `+QFDWL:`/`OK` into the port; the
 * next session must not take that OK for the answer to its first command, or every answer after it
 * would belong to the command before. Also resolves when `maxWaitMs` passes, the link closes or the
 * signal aborts: the session's first command then reports what is wrong.
 */
export function untilLineQuiet(link: ByteLink, options: QuietOptions): Promise<void> {
  if (link.closed || options.signal?.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(quiet);
      clearTimeout(deadline);
      stopData();
      stopClose();
      options.signal?.removeEventListener('abort', done);
      resolve();
    };
    let quiet = setTimeout(done, options.quietMs);
    const deadline = setTimeout(done, options.maxWaitMs);
    const stopData = link.onData(() => {
      clearTimeout(quiet);
      quiet = setTimeout(done, options.quietMs);
    });
    const stopClose = link.onClose(done);
    options.signal?.addEventListener('abort', done, { once: true });
  });
}
