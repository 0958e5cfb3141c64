import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { jsonlDriver } from '../../../hardware/drivers/jsonl/index.js';
import { openSerialLink } from '../../../hardware/transport/serial-link.js';

const repoRoot = path.resolve(fileURLToPath(import.meta.url), '../../../..');
let child: ChildProcess | undefined;

afterEach(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  child = undefined;
});

function startSim(args: string[]): ChildProcess {
  child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'sim', ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return child;
}

/** Resolves with the first `count` stdout lines, or rejects with stderr if the command ends first. */
function readLines(sim: ChildProcess, count: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    sim.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    sim.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      const lines = stdout.split('\n').slice(0, -1);
      if (lines.length >= count) resolve(lines.slice(0, count));
    });
    sim.once('exit', (code) => reject(new Error(`station sim exited (${code}): ${stderr}`)));
  });
}

/** The exit code, once the output is read too ('exit' can come before the last stdout chunk). */
function exitOf(sim: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => sim.once('close', (code) => resolve(code)));
}

/** The processes whose parent is `pid` (a relay such as socat would be one). */
function childrenOf(pid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces, so read after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

describe('station sim', () => {
  it('prints one "<driver> <path>" line per device, serves the driver on that pty itself, and stops on SIGTERM', async () => {
    const sim = startSim(['--driver', 'jsonl', '--count', '2', '--seed', '5']);
    let stdout = '';
    sim.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    const lines = await readLines(sim, 2);
    const paths = lines.map((line) => {
      const [driver, devicePath, ...rest] = line.split(' ');
      expect(driver).toBe('jsonl');
      expect(rest).toEqual([]);
      return devicePath!;
    });
    expect(new Set(paths).size).toBe(2);
    // The simulator holds each pty's master: no relay process between the station and the device.
    for (const devicePath of paths) expect(devicePath).toMatch(/^\/dev\/pts\/\d+$/);
    expect(childrenOf(sim.pid!)).toEqual([]);

    const link = await openSerialLink(paths[1]!, jsonlDriver.serial);
    const session = await jsonlDriver.open(link);
    const identity = await session.identify();
    expect(identity.deviceId).toMatch(/^JL[0-9A-F]{12}$/);
    const certificate = Buffer.from('-----BEGIN CERTIFICATE-----\r\nMIIB\r\n-----END CERTIFICATE-----\r\n');
    await session.writeCredential('certificate', certificate);
    const readBack = await session.readCredential('certificate');
    expect(Buffer.from(readBack.bytes ?? [])).toEqual(certificate);
    await session.close();

    sim.kill('SIGTERM');
    expect(await exitOf(sim)).toBe(0);
    // Each device says what crossed its wire: the one used received the session's bytes and answered.
    const reports = stdout.split('\n').filter((line) => line.includes(' stopped: '));
    expect(reports).toHaveLength(2);
    expect(reports[0]).toBe(
      `jsonl ${paths[0]} stopped: received 0 B, sent 0 B, answered 0 times after the latency (0 ms)`,
    );
    const used = /^jsonl (\S+) stopped: received (\d+) B, sent (\d+) B, answered 0 times/.exec(reports[1]!);
    expect(used?.[1]).toBe(paths[1]);
    expect(Number(used?.[2])).toBeGreaterThan(certificate.length);
    expect(Number(used?.[3])).toBeGreaterThan(certificate.length);
  });

  it('refuses a fault spec it cannot read, naming the syntax, with exit code 1', async () => {
    const sim = startSim(['--driver', 'jsonl', '--faults', 'explode:write.chunk']);
    let stderr = '';
    sim.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    expect(await exitOf(sim)).toBe(1);
    expect(stderr).toContain('KIND[=DELAY_MS][:MATCH][@NTH]');
  });
});
