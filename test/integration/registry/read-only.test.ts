import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';
import { repoRoot } from '../../helpers/repo-root.js';

/** `station ARGS` as another user (nobody), which root can become; the data folder stays root's. */
function runCliAsNobody(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'runuser',
      ['-u', 'nobody', '--', process.execPath, '--import', 'tsx', 'src/cli/main.ts', ...args],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 2, stdout, stderr }));
  });
}

describe('a data folder the user cannot write', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'read-only-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  // Switching to another user takes root, as CI runs.
  it.skipIf(process.getuid?.() !== 0)(
    'is a user error naming the registry and what to do, not an internal one',
    async () => {
      const data = path.join(dir, 'data');
      const init = await runCli(['init'], {
        dataDir: data,
        env: { STATION_SOFT_PASSPHRASE: 'read-only-tests' },
      });
      expect(init.code).toBe(0);
      // Everything readable by all, writable by root alone (chmod -R a+rX).
      await chmod(dir, 0o755);
      await chmod(data, 0o755);
      for (const file of await readdir(data)) await chmod(path.join(data, file), 0o644);
      const run = await runCliAsNobody(['--data', data, '--json', 'job', 'list']);
      expect(run.code).toBe(1);
      expect(JSON.parse(run.stdout)).toEqual({
        error: {
          code: 'registry.read-only',
          message: `The registry ${path.join(data, 'registry.sqlite')} is read-only for this user; run the station as the user who owns the data folder, or choose a folder you can write (--data DIR).`,
          userFault: true,
        },
      });
    },
    60_000,
  );
});
