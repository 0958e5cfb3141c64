// `station job describe` lists the devices that still need a technician: those whose latest attempt in
// the job did not end PROVISIONED, with the reason, and counts attempts that failed before a device said
// who it is. A device that failed once and was provisioned on the next plug is not among them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceSimulator } from '../../../hardware/drivers/device-driver.js';
import { createSimulator, driverByName } from '../../../hardware/drivers/index.js';
import { createMemoryPair } from '../../../hardware/sim/memory-pair.js';
import { linkFromDuplex } from '../../../hardware/transport/duplex-link.js';
import { openLinkDevicePort } from '../../../src/provisioning/bench.js';
import { provisionDevice, type JobRuntime } from '../../../src/provisioning/device-pipeline.js';
import { openJobRuntime } from '../../../src/provisioning/job-runtime.js';
import { runCli, runCliJson } from '../../helpers/cli.js';
import { actor, createBenchFixture, type BenchFixture } from './bench-fixture.js';

interface Described {
  records: Record<string, number>;
  needingAttention: { recordId: number; deviceId: string; state: string; step: string; error: string }[];
  unidentifiedFailures: number;
}

describe('station job describe', () => {
  let fixture: BenchFixture;
  let runtime: JobRuntime;
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    fixture = await createBenchFixture({ kind: 'soft' }, { passphrase: 'job-describe-tests' });
    const station = await fixture.open();
    closers.push(() => station.close());
    const timeouts = { connect: 500, identify: 500 };
    runtime = await openJobRuntime(station, fixture.jobs.csr, { actor, emit: () => undefined, timeouts });
  });

  afterAll(async () => {
    for (const close of closers) await close();
    await fixture?.cleanup();
  });

  const plug = (simulator: DeviceSimulator, port: string) => {
    const pair = createMemoryPair();
    simulator.attach(pair.device);
    return provisionDevice(
      runtime,
      openLinkDevicePort(linkFromDuplex(port, pair.host), driverByName(simulator.driver)),
    );
  };

  it('names the devices whose last attempt did not finish, and only those', async () => {
    // Fails at its first write, then completes on the next plug: nothing left to do.
    const retried = createSimulator('nrf91', {
      seed: 1,
      faults: [{ kind: 'refuse', match: 'AT%CMNG=0', nth: 1 }],
    });
    expect((await plug(retried, 'bench-1')).state).toBe('FAILED');
    expect((await plug(retried, 'bench-1')).state).toBe('PROVISIONED');
    // Fails and is not plugged again.
    const stuck = createSimulator('nrf91', { seed: 2, faults: [{ kind: 'refuse', match: 'AT%CMNG=0' }] });
    const failed = await plug(stuck, 'bench-2');
    expect(failed.state).toBe('FAILED');
    // Never answers: no identity to list it by.
    const silent = createSimulator('nrf91', { seed: 3, faults: [{ kind: 'drop-response' }] });
    expect((await plug(silent, 'bench-3')).state).toBe('FAILED');

    const described = await runCliJson<Described>(['job', 'describe', String(fixture.jobs.csr)], {
      dataDir: fixture.dataDir,
      env: fixture.env,
    });
    expect(described.code).toBe(0);
    expect(described.json.records).toEqual({ FAILED: 3, PROVISIONED: 1 });
    expect(described.json.needingAttention).toEqual([
      expect.objectContaining({
        recordId: failed.recordId,
        deviceId: stuck.identity.deviceId,
        state: 'FAILED',
        step: 'write',
        error: failed.error!.message,
      }),
    ]);
    expect(described.json.unidentifiedFailures).toBe(1);

    const text = await runCli(['job', 'describe', String(fixture.jobs.csr)], {
      dataDir: fixture.dataDir,
      env: fixture.env,
    });
    expect(text.stdout).toContain('devices whose last attempt did not finish (1):');
    expect(text.stdout).toContain(
      `record ${failed.recordId} nrf91 ${stuck.identity.deviceId}: Device on bench-2`,
    );
    expect(text.stdout).toContain('attempts that failed before the device identified itself: 1');
  });

  it('refuses a job number past what it can read exactly, and a --claim outside claim mode', async () => {
    const options = { dataDir: fixture.dataDir, env: fixture.env };
    const huge = await runCli(['job', 'describe', '99999999999999999999'], options);
    expect(huge.stderr.trim()).toBe('error: job: "99999999999999999999" is not a job number.');
    // prettier-ignore
    const claim = await runCli(['job', 'create', '--label', 'x', '--template', 'sensor', '--ca', 'factory',
      '--key-mode', 'csr', '--quota', '1', '--claim', 'nope'], options);
    expect(claim.stderr.trim()).toBe('error: claim: --claim goes with --key-mode claim, not csr.');
  });
});
