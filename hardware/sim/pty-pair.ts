import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { childEnvironment } from '../../src/api/child-environment.js';
import { StationError } from '../../src/api/errors.js';
import { openSerialStream, type SerialStream } from '../transport/serial-stream.js';

/**
 * A pseudo-terminal pair joined by socat: the host opens `hostPath` as it would a real serial port, the
 * simulator opens `devicePath`. socat runs under a tiny shell that kills it when its stdin closes, so it
 * dies with this process even when this process is killed outright (no exit handler runs then).
 */
export interface PtyPair {
  hostPath: string;
  devicePath: string;
  /** socat's pid, so callers can check it is gone. */
  readonly socatPid: number;
  stop(): Promise<void>;
}

const startTimeoutMs = 5_000;
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

// The guard: start socat in the background, print its pid, wait for stdin to close, then kill socat.
const guardScript = 'socat "$@" & s=$!; echo "$s"; read _ignored; kill "$s" 2>/dev/null; wait "$s"; exit 0';

export async function startPtyPair(): Promise<PtyPair> {
  const dir = mkdtempSync(path.join(tmpdir(), 'station-pty-'));
  const hostPath = path.join(dir, 'host');
  const devicePath = path.join(dir, 'device');
  const child = spawn(
    'sh',
    [
      '-c',
      guardScript,
      'sh',
      '-d',
      '-d',
      `pty,raw,echo=0,link=${hostPath}`,
      `pty,raw,echo=0,link=${devicePath}`,
    ],
    { stdio: ['pipe', 'pipe', 'pipe'], env: childEnvironment() },
  );
  live.add(child);
  installExitHook();
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    if (stderr.length < 4096) stderr += chunk.toString('utf8');
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', () => live.delete(child));
  let stopping: Promise<void> | undefined;
  const cleanUp = (): Promise<void> => (stopping ??= stopGuard());
  const stopGuard = async (): Promise<void> => {
    child.stdin.end();
    if (child.exitCode === null && child.signalCode === null) await exited;
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const socatPid = await readPid(child);
    await waitFor(() => existsSync(hostPath) && existsSync(devicePath), exited);
    return { hostPath, devicePath, socatPid, stop: cleanUp };
  } catch (error) {
    await cleanUp();
    throw new StationError(
      'transport.pty-failed',
      `Could not start a pseudo-terminal pair with socat (${stderr.trim() || (error as Error).message}); is socat installed?`,
      { cause: error, userFault: false },
    );
  }
}

/**
 * Opens the device end for a simulator. When the simulator closes it (a disconnect fault, or the simulated
 * device going away), the pair is stopped: the host's port then fails as a pulled cable's would; closing
 * one pty alone is not noticed by socat.
 */
export async function openPtyDeviceEnd(pair: PtyPair): Promise<SerialStream> {
  const port = await openSerialStream(pair.devicePath, { baudRate: 115_200 });
  port.once('close', () => void pair.stop());
  port.on('error', () => undefined);
  return port;
}

function readPid(child: ChildProcess): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('utf8');
      const line = text.split('\n')[0];
      if (text.includes('\n') && line && /^\d+$/.test(line.trim())) {
        child.stdout!.off('data', onData);
        resolve(Number(line.trim()));
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', () => reject(new Error('socat exited at start')));
    child.once('error', reject);
  });
}

async function waitFor(ready: () => boolean, exited: Promise<void>): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = performance.now() + startTimeoutMs;
  while (!ready()) {
    if (gone) throw new Error('socat exited before the ptys were ready');
    if (performance.now() > deadline) throw new Error('the ptys did not appear in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A normal exit closes the guards' stdin pipes anyway; this makes it explicit and immediate. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) child.stdin?.destroy();
  });
}
