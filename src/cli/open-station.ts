import { StationError } from '../api/errors.js';
import type { OpenKeyStoreOptions } from '../keys/open-key-store.js';
import { Station } from '../station.js';
import type { CliContext } from './context.js';

/**
 * Opens the data folder's Station for a command, runs `work`, closes it. Key store secrets come from the
 * operator: STATION_HSM_PIN / STATION_SOFT_PASSPHRASE, or a prompt with echo off on a terminal; never
 * from a file and never written down.
 */
export async function withStation<T>(cli: CliContext, work: (station: Station) => Promise<T>): Promise<T> {
  const station = await Station.open({ dataDir: cli.dataDir, keyStore: secretPrompts() });
  try {
    return await work(station);
  } finally {
    await station.close();
  }
}

/**
 * Asks for the key store's PIN or passphrase at a terminal, when the environment does not give it; prints
 * the key store's warnings (few HSM PIN tries left) either way.
 */
export function secretPrompts(): Pick<OpenKeyStoreOptions, 'promptPin' | 'promptPassphrase' | 'warn'> {
  const warn = (message: string) => process.stderr.write(`warning: ${message}\n`);
  if (!process.stdin.isTTY) return { warn };
  return {
    promptPin: () => promptSecret('HSM PIN: '),
    promptPassphrase: promptSecret,
    warn,
  };
}

/** Reads one line from the terminal without echoing it. */
export function promptSecret(prompt: string): Promise<string> {
  const input = process.stdin;
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let value = '';
    input.setRawMode(true);
    input.resume();
    const onData = (chunk: Buffer) => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') return finish(() => resolve(value));
        if (char === '\u0003')
          return finish(() => reject(new StationError('input.cancelled', 'cancelled at the prompt')));
        value = typedIntoSecret(value, char);
      }
    };
    const finish = (settle: () => void) => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
      settle();
    };
    input.on('data', onData);
  });
}

/**
 * The secret after one more character at the prompt: terminals send DEL or BS for backspace, and Ctrl+U
 * clears the line as it does in a shell, so a technician can start again without echo to go by.
 */
export function typedIntoSecret(value: string, char: string): string {
  if (char === '\u007f' || char === '\b') return value.slice(0, -1);
  if (char === '\u0015') return '';
  return value + char;
}
