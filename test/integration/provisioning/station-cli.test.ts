// The station as the README has a new user run it: `station demo` (the main job), and the manual flow
// init -> ca create -> template add -> job create -> sim -> provision, each a real process.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { registryFile } from '../../../src/config/settings.js';
import { Registry } from '../../../src/registry/registry.js';
import { runCli, runCliJson } from '../../helpers/cli.js';
import { repoRoot } from '../../helpers/repo-root.js';
import { templateBody } from './bench-fixture.js';

const passphrase = 'station-cli-test-passphrase';
const env = { STATION_SOFT_PASSPHRASE: passphrase };
let tempDir: string;
const sims: ChildProcess[] = [];

beforeAll(async () => {
  tempDir = await mkdtemp(path.join(os.tmpdir(), 'station-cli-'));
});

afterAll(async () => {
  for (const sim of sims) if (sim.exitCode === null && sim.signalCode === null) sim.kill('SIGKILL');
  await rm(tempDir, { recursive: true, force: true });
});

/** `station sim`: resolves with the pty paths it prints, one per device. */
function startSims(driver: string, count: number, extra: string[] = []): Promise<string[]> {
  const sim = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'sim', '--driver', driver, '--count', String(count), ...extra],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  sims.push(sim);
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    sim.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    sim.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      const paths = stdout
        .split('\n')
        .filter((line) => line.startsWith(`${driver} `))
        .map((line) => line.slice(driver.length + 1).trim());
      if (paths.length === count) resolve(paths);
    });
    sim.once('exit', (code) => reject(new Error(`station sim exited (${code}): ${stderr}`)));
  });
}

describe('station demo', () => {
  it('provisions simulated devices of every driver in a fresh folder and says where the registry is', async () => {
    const dataDir = path.join(tempDir, 'demo');
    const run = await runCli(['demo', '--devices', '8'], { dataDir, env });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/│ 8\s+│ 8\s+│ 0\s+│/); // devices, provisioned, failed
    expect(run.stdout).toContain('Audit chain: verified');
    expect(run.stdout).toContain(`Registry: ${path.join(dataDir, 'registry.sqlite')}`);
    expect(run.stderr).toContain('NOT an HSM');

    const things = await runCliJson<{ things: { name: string }[] }>(['thing', 'list'], { dataDir, env });
    expect(things.code, things.stderr).toBe(0);
    expect(things.json.things).toHaveLength(8);
    // The passphrase encrypts the key store; it is in no file of the data folder.
    for (const file of await readdir(dataDir)) {
      const bytes = await readFile(path.join(dataDir, file)).catch(() => Buffer.alloc(0));
      expect(bytes.includes(passphrase), file).toBe(false);
    }
  }, 120_000);

  it('finishes every device when its output is closed (demo | head -1), without a stack trace', async () => {
    const dataDir = path.join(tempDir, 'demo-head');
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--data', dataDir, 'demo'], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.stdout.once('data', () => child.stdout.destroy()); // head -1: read one line, then go away
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(code, stderr).toBe(0);
    const registry = await Registry.open(registryFile(dataDir));
    try {
      const states = await registry.reader.all<{ state: string }>('SELECT state FROM provisioning_records');
      expect(states.map((record) => record.state)).toEqual(Array(8).fill('PROVISIONED'));
    } finally {
      await registry.close();
    }
  }, 60_000);

  it('stops on Ctrl+C: each device records where it stopped, the summary and the registry follow', async () => {
    const dataDir = path.join(tempDir, 'demo-stopped');
    // On pseudo-terminals at 115,200 baud, each device takes over a second: Ctrl+C finds them at work.
    const args = ['--data', dataDir, 'demo', '--devices', '8', '--ptys', '--log'];
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stdout.once('data', () => child.kill('SIGINT')); // the first device log line: the bench runs
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(code, stderr).toBe(130); // 128 + SIGINT, as a shell reports an interrupted command
    expect(stderr).toContain('Stopping: each port records where it stopped');
    expect(stdout).toContain('cancelled by the operator');
    expect(stdout).toContain(
      'Stopped by Ctrl+C: for a whole run, start the demo again in a fresh data folder.',
    );
    expect(stdout).toContain(`Registry: ${path.join(dataDir, 'registry.sqlite')}`);
    const registry = await Registry.open(registryFile(dataDir));
    try {
      const states = await registry.reader.all<{ state: string }>('SELECT state FROM provisioning_records');
      expect(states.map((record) => record.state)).not.toContain('IN_PROGRESS');
      expect(states.map((record) => record.state)).not.toContain('ISSUED');
    } finally {
      await registry.close();
    }
    // Run again on that folder, the demo says what to do instead.
    const again = await runCli(['demo'], { dataDir, env });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('give --data a new (or empty) folder, or leave --data out');
  }, 60_000);

  it('refuses a data folder that is not empty, and changes nothing in it', async () => {
    const dataDir = path.join(tempDir, 'demo');
    const before = await readdir(dataDir);
    const run = await runCli(['demo'], { dataDir, env });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('is not empty');
    expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(await readdir(dataDir)).toEqual(before);
  }, 60_000);
});

describe('station provision', () => {
  it('runs the manual flow of the README on simulated devices on pseudo-terminals', async () => {
    const dataDir = path.join(tempDir, 'manual');
    const station = (...args: string[]) => runCli(args, { dataDir, env });
    const templateFile = path.join(tempDir, 'sensor-template.json');
    await writeFile(templateFile, templateBody);
    for (const args of [
      ['init'],
      ['ca', 'create', '--name', 'factory'],
      ['template', 'add', 'sensor', templateFile],
      // prettier-ignore
      ['job', 'create', '--label', 'line 1', '--template', 'sensor', '--ca', 'factory', '--key-mode', 'csr',
        '--quota', '3', '--sequence', 'ThingName=SN-{000000}', '--from-identity', 'SerialNumber=imei'],
    ]) {
      const run = await station(...args);
      expect(run.code, `station ${args.join(' ')}: ${run.stderr}`).toBe(0);
    }

    const ports = await startSims('nrf91', 3);
    const provisioned = await runCliJson<{
      devices: number;
      provisioned: number;
      outcomes: { port: string; state: string; thingName: string }[];
    }>(['provision', '--job', '1', '--ports', ...ports, '--driver', 'nrf91'], { dataDir, env });
    expect(provisioned.code, provisioned.stderr).toBe(0);
    expect(provisioned.json).toMatchObject({ devices: 3, provisioned: 3 });
    expect(provisioned.json.outcomes.map((outcome) => outcome.thingName).sort()).toEqual([
      'SN-000001',
      'SN-000002',
      'SN-000003',
    ]);

    // The quota of 3 is spent: a fourth device is refused with a reason, not provisioned.
    const [extra] = await startSims('nrf91', 1);
    const refused = await runCliJson<{ failed: number; outcomes: { error?: { message: string } }[] }>(
      ['provision', '--job', '1', '--ports', extra!, '--driver', 'nrf91'],
      { dataDir, env },
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('Job 1 has issued all 3 certificates of its quota');
    expect(refused.json.failed).toBe(1);
    // Turned away before the device makes a key, and told what to do.
    expect(refused.json.outcomes[0]?.error?.message).toMatch(
      /failed during key generation: Job 1 .* has issued all 3 certificates of its quota; open a new job/,
    );

    const { json } = await runCliJson<{ things: { name: string; attributes: Record<string, string> }[] }>(
      ['thing', 'list'],
      { dataDir, env },
    );
    expect(json.things.map((thing) => thing.name).sort()).toEqual(['SN-000001', 'SN-000002', 'SN-000003']);
    expect(json.things.every((thing) => /^\d{15}$/.test(thing.attributes.serialNumber ?? ''))).toBe(true);
  }, 120_000);
  it('stops on Ctrl+C: each device records the step it was in, the summary follows, the next run finishes them', async () => {
    const dataDir = path.join(tempDir, 'manual'); // set up by the test before
    // prettier-ignore
    const job = await runCli(['job', 'create', '--label', 'line 2', '--template', 'sensor', '--ca', 'factory',
      '--key-mode', 'csr', '--quota', '10', '--sequence', 'ThingName=L2-{000}', '--from-identity', 'SerialNumber=imei',
      '--driver', 'nrf91'], { dataDir, env });
    expect(job.stdout).toContain('job 2 opened');
    // A job for nrf91 devices takes no other family, whatever --driver says.
    const other = await runCli(['provision', '--job', '2', '--ports', '/dev/null', '--driver', 'jsonl'], {
      dataDir,
      env,
    });
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('the job is for nrf91 devices, not jsonl');
    // --ports takes the words after it, an option's name too: the technician hears which word is no port.
    const swallowed = await runCli(['provision', '--job', '2', '--ports', '--driver', 'nrf91'], {
      dataDir,
      env,
    });
    expect(swallowed.code).toBe(1);
    expect(swallowed.stderr).toContain('"--driver" is not a port: give the ports right after --ports');
    // Paced at 115,200 baud and slow to answer: the devices are mid-pipeline when Ctrl+C comes.
    const ports = await startSims('nrf91', 2, ['--baud', '115200', '--latency', '150']);
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        '--data',
        dataDir,
        '--json',
        'provision',
        '--job',
        '2',
        '--ports',
        ...ports,
        '--driver',
        'nrf91',
      ],
      { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    // Once both records exist the bench runs (and listens for Ctrl+C); then give the devices a moment.
    const registry = await Registry.open(registryFile(dataDir));
    try {
      const started = async () =>
        (await registry.reader.get<{ n: number }>(
          'SELECT count(*) AS n FROM provisioning_records WHERE job_id = 2',
        ))!.n;
      for (let turn = 0; turn < 300 && (await started()) < 2; turn++) await sleep(50);
      expect(await started()).toBe(2);
    } finally {
      await registry.close();
    }
    await sleep(500);
    child.kill('SIGINT');
    expect(await exited).toBe(1);
    expect(stderr).toContain('Stopping');
    const result = JSON.parse(stdout) as {
      failed: number;
      outcomes: { state: string; error?: { code: string } }[];
    };
    expect(result.failed).toBe(2);
    expect(result.outcomes.map((outcome) => outcome.error?.code)).toEqual([
      'provisioning.cancelled',
      'provisioning.cancelled',
    ]);

    const again = await runCliJson<{ provisioned: number; interrupted: unknown[] }>(
      ['provision', '--job', '2', '--ports', ...ports, '--driver', 'nrf91'],
      { dataDir, env },
    );
    expect(again.code, again.stdout).toBe(0);
    expect(again.json).toMatchObject({ provisioned: 2, interrupted: [] });
  }, 120_000);
  it('asks the technician for a --scan value per device, on its own terminal lines', async () => {
    const dataDir = path.join(tempDir, 'manual'); // set up by the tests before
    // prettier-ignore
    const job = await runCli(['job', 'create', '--label', 'labels', '--template', 'sensor', '--ca', 'factory',
      '--key-mode', 'csr', '--quota', '10', '--scan', 'ThingName=Scan the label', '--from-identity',
      'SerialNumber=imei'], { dataDir, env });
    expect(job.stdout).toContain('job 3 opened');
    const ports = await startSims('nrf91', 2);
    // A scanner types each label and Enter; from a pipe the lines wait for the questions.
    const run = await runCliJson<{ outcomes: { state: string; thingName: string }[] }>(
      ['provision', '--job', '3', '--ports', ...ports, '--driver', 'nrf91'],
      { dataDir, env, input: 'LABEL-A\nLABEL-B\n' },
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.json.outcomes.map((outcome) => outcome.thingName).sort()).toEqual(['LABEL-A', 'LABEL-B']);
    expect(run.stderr.match(/: Scan the label: LABEL-[AB]\n/g)).toHaveLength(2);
  }, 120_000);
});
