import { setMaxListeners } from 'node:events';

/**
 * Runs a bench until it is done or stopped. Ctrl+C (or SIGTERM) cancels the pipelines: each port ends its
 * current step and records where it stopped, and the caller prints its summary. A second Ctrl+C quits at
 * once (the next run resumes from the records). `stoppedBy` names the signal that stopped the run.
 */
export async function untilStopped<T>(
  notify: (text: string) => void,
  run: (signal: AbortSignal) => Promise<T>,
): Promise<{ result: T; stoppedBy?: NodeJS.Signals }> {
  const stop = new AbortController();
  // Every port's pipeline listens on it: a bench of more than 10 ports is no listener leak.
  setMaxListeners(0, stop.signal);
  let stoppedBy: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    notify('\nStopping: each port records where it stopped. Ctrl+C again quits at once.');
    stoppedBy = signal;
    stop.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await run(stop.signal);
    return stoppedBy ? { result, stoppedBy } : { result };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
