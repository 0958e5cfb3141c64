import { spawn } from 'node:child_process';
import { repoRoot } from './repo-root.js';

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliRunOptions {
  /** Passed as --data; omit to test data-folder resolution itself. */
  readonly dataDir?: string;
  /** Added to the environment (STATION_DATA, PINs for a test token, ...). */
  readonly env?: NodeJS.ProcessEnv;
  /** Written to the CLI's stdin, which is then closed. */
  readonly input?: string;
}

/** Runs `station ARGS` as a real process (`node --import tsx src/cli/main.ts`) from the repository root. */
export function runCli(args: readonly string[], options: CliRunOptions = {}): Promise<CliRun> {
  const argv = [...(options.dataDir === undefined ? [] : ['--data', options.dataDir]), ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...argv], {
      cwd: repoRoot,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 2), stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** Runs `station --json ARGS` and parses stdout. */
export async function runCliJson<T = unknown>(
  args: readonly string[],
  options: CliRunOptions = {},
): Promise<CliRun & { json: T }> {
  const run = await runCli(['--json', ...args], options);
  return { ...run, json: JSON.parse(run.stdout) as T };
}

/**
 * Runs `station ARGS` on a pseudo-terminal (util-linux `script`), as a technician at a terminal would, and
 * types `answer` and Enter once `prompt` appears. Resolves with everything the terminal showed.
 */
export function runCliOnTerminal(
  args: readonly string[],
  options: CliRunOptions & { prompt: string; answer: string },
): Promise<{ code: number; output: string }> {
  const argv = [...(options.dataDir === undefined ? [] : ['--data', options.dataDir]), ...args];
  const command = [process.execPath, '--import', 'tsx', 'src/cli/main.ts', ...argv]
    .map((part) => `'${part.replaceAll("'", `'\\''`)}'`)
    .join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['--quiet', '--return', '--command', command, '/dev/null'], {
      cwd: repoRoot,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    let answered = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      if (!answered && output.includes(options.prompt)) {
        answered = true;
        child.stdin.write(`${options.answer}\r`);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 2, output }));
  });
}
