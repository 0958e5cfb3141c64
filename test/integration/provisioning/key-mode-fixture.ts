// Helpers for the existing and claim key-mode tests: in-memory simulated devices, direct driver sessions
// to pre-load a device as its maker would, a separate "maker" station whose CA the factory does not hold,
// claim jobs made through the CLI, and a station killed at a chosen step and started again.
import { cpSync, mkdtempSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { DeviceSession, DeviceSimulator } from '../../../hardware/drivers/device-driver.js';
import { driverByName } from '../../../hardware/drivers/index.js';
import { createMemoryPair } from '../../../hardware/sim/memory-pair.js';
import { linkFromDuplex } from '../../../hardware/transport/duplex-link.js';
import { writeSettings } from '../../../src/config/settings.js';
import { openLinkDevicePort } from '../../../src/provisioning/bench.js';
import type { PipelineStep } from '../../../src/api/provisioning.js';
import {
  provisionDevice,
  type DeviceOutcome,
  type DevicePort,
} from '../../../src/provisioning/device-pipeline.js';
import { createJob, openJobRuntime } from '../../../src/provisioning/job-runtime.js';
import { recoverInterruptedAttempts, type InterruptedAttempt } from '../../../src/provisioning/recovery.js';
import { Station } from '../../../src/station.js';
import { runCliJson } from '../../helpers/cli.js';

let plugs = 0;

/** A csr job of the fixture's sensor template for any driver, things named `${prefix}-001`, ...: its id. */
export async function createCsrJob(
  station: Station,
  options: { label: string; prefix: string; ca: string; actor: string },
): Promise<number> {
  const job = await createJob(
    station,
    {
      label: options.label,
      template: { name: 'sensor' },
      parameters: {
        constants: {},
        identity: { SerialNumber: 'deviceId' },
        sequence: { parameter: 'ThingName', pattern: `${options.prefix}-{000}`, start: 1 },
      },
      driver: 'auto',
      ca: options.ca,
      keyMode: 'csr',
      quota: 10,
    },
    options.actor,
  );
  return job.id;
}

/** A port on which the simulator answers, as if plugged into the bench. */
export function plug(simulator: DeviceSimulator, name = `mem-${simulator.driver}-${++plugs}`): DevicePort {
  const pair = createMemoryPair();
  simulator.attach(pair.device);
  return openLinkDevicePort(linkFromDuplex(name, pair.host), driverByName(simulator.driver));
}

/** Runs `work` in a driver session with the device, as a maker's own line would. */
export async function withSession<T>(
  simulator: DeviceSimulator,
  work: (session: DeviceSession) => Promise<T>,
): Promise<T> {
  const port = plug(simulator);
  const link = await port.open(new AbortController().signal);
  const session = await port.driver.open(link);
  try {
    return await work(session);
  } finally {
    await session.close();
    await link.close();
  }
}

/** A data folder with the soft key store; the caller adds CAs, templates, jobs. */
export async function createStationFolder(
  prefix: string,
): Promise<{ dataDir: string; open(): Promise<Station>; cleanup(): Promise<void> }> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), prefix));
  await writeSettings(dataDir, { version: 1, keyStore: { kind: 'soft' } });
  return {
    dataDir,
    open: () => Station.open({ dataDir, keyStore: { passphrase: softPassphrase } }),
    cleanup: () => rm(dataDir, { recursive: true, force: true }),
  };
}

export const softPassphrase = 'key-mode-tests';

/**
 * The data folder as a station killed at this moment would leave it: a copy of every file (SQLite's WAL
 * included, its shared-memory index left out: SQLite rebuilds it from the WAL). Taken synchronously, from
 * inside a pipeline event, while no transaction is open.
 */
export function snapshotDataFolder(dataDir: string): string {
  const copy = mkdtempSync(path.join(os.tmpdir(), 'station-crashed-'));
  cpSync(dataDir, copy, { recursive: true, filter: (source) => !source.endsWith('-shm') });
  return copy;
}

/**
 * Provisions `device` on job `jobId` until `step` begins, then "kills" the station there: the data folder
 * is copied at that moment (what a SIGKILL would leave) and the attempt is cancelled. Returns the attempt's
 * outcome (in this, still running station) and the copy.
 */
export async function provisionUntilCrash(
  station: Station,
  jobId: number,
  device: DeviceSimulator,
  step: PipelineStep,
  options: { reprovision?: boolean } = {},
): Promise<{ cut: DeviceOutcome; crashedDir: string }> {
  const stop = new AbortController();
  let crashedDir: string | undefined;
  const dying = await openJobRuntime(station, jobId, {
    actor: 'test:crash',
    ...(options.reprovision && { reprovision: true }),
    emit: (event) => {
      if (event.type === 'step-begin' && event.step === step && !crashedDir) {
        crashedDir = snapshotDataFolder(station.dataDir);
        stop.abort();
      }
    },
  });
  const cut = await provisionDevice(dying, plug(device), stop.signal);
  if (!crashedDir) throw new Error(`the attempt never reached ${step}: ${cut.error?.message ?? cut.state}`);
  return { cut, crashedDir };
}

/** Opens a station on a crashed data folder, runs crash recovery, hands both to `work`, then removes it. */
export async function restartFrom<T>(
  crashedDir: string,
  secrets: { passphrase: string },
  work: (station: Station, report: InterruptedAttempt[]) => Promise<T>,
): Promise<T> {
  const restarted = await Station.open({ dataDir: crashedDir, keyStore: secrets });
  try {
    return await work(restarted, await recoverInterruptedAttempts(restarted, 'test:restart'));
  } finally {
    await restarted.close();
    await rm(crashedDir, { recursive: true, force: true });
  }
}

/** A claim made from `template` with the job that hands it out, through the CLI as a technician would. */
export async function createClaimJob(
  fixture: { dataDir: string; env: NodeJS.ProcessEnv },
  options: { caName: string; claim: string; template: string; label: string },
): Promise<{ claimId: string; policy: string; jobId: number; stderr: string }> {
  const cliJson = <R>(args: string[]) => runCliJson<R>(args, { dataDir: fixture.dataDir, env: fixture.env });
  const created = await cliJson<{ certificateId: string; policy: string }>([
    'claim',
    'create',
    '--ca',
    options.caName,
    '--name',
    options.claim,
    '--template',
    options.template,
  ]);
  const job = await cliJson<{ id: number }>([
    'job',
    'create',
    '--label',
    options.label,
    '--template',
    options.template,
    '--key-mode',
    'claim',
    '--claim',
    options.claim,
    '--quota',
    '1',
  ]);
  if (job.code !== 0) throw new Error(`job create failed: ${job.stderr}`);
  return {
    claimId: created.json.certificateId,
    policy: created.json.policy,
    jobId: job.json.id,
    stderr: created.stderr,
  };
}
