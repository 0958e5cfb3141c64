import { resolveDataDir } from '../config/data-dir.js';

export interface GlobalOptions {
  data?: string;
  json?: boolean;
}

/** What every command gets: where the data lives and how to print. */
export interface CliContext {
  readonly dataDir: string;
  readonly json: boolean;
  /** Prints a result: JSON under --json, else the text the formatter makes. */
  print<T>(result: T, toText: (result: T) => string): void;
}

export function createCliContext(
  options: GlobalOptions,
  out: NodeJS.WritableStream = process.stdout,
): CliContext {
  const json = options.json === true;
  return {
    dataDir: resolveDataDir(options.data),
    json,
    print(result, toText) {
      const text = json ? JSON.stringify(result, null, 2) : toText(result);
      if (text.length > 0) out.write(text.endsWith('\n') ? text : `${text}\n`);
    },
  };
}
