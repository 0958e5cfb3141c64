// What a device's record holds at each registry checkpoint. Without a technician the identify step's
// record change rides on the parameters transaction (one registry wait fewer per device): a failure there
// must still name the device, and with a prompt the identity is recorded before the technician is asked.
// An inject job's CA goes to the device meanwhile (it is public and the same for every device).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator } from '../../../hardware/drivers/index.js';
import { provisionDevice } from '../../../src/provisioning/device-pipeline.js';
import { createJob, openJobRuntime } from '../../../src/provisioning/job-runtime.js';
import type { Station } from '../../../src/station.js';
import { actor, caName, createBenchFixture, type BenchFixture } from './bench-fixture.js';
import { plug } from './key-mode-fixture.js';

describe('record checkpoints', () => {
  let fixture: BenchFixture;
  let station: Station;
  let seed = 9400;

  beforeAll(async () => {
    fixture = await createBenchFixture({ kind: 'soft' }, { passphrase: 'checkpoint-tests' });
    station = await fixture.open();
  }, 60_000);

  /** A job whose parameter list has one row: the second device finds it exhausted. */
  async function oneRowJob(thingName: string, keyMode: 'csr' | 'inject') {
    const job = await createJob(
      station,
      {
        label: `one row, ${keyMode}`,
        template: { name: 'sensor' },
        parameters: {
          constants: {},
          identity: { SerialNumber: 'deviceId' },
          list: { rows: [{ ThingName: thingName }], assign: 'in-order' },
        },
        driver: 'auto',
        ca: caName,
        keyMode,
        quota: 10,
      },
      actor,
    );
    return openJobRuntime(station, job.id, { actor, emit: () => undefined });
  }

  afterAll(async () => {
    await station?.close();
    await fixture?.cleanup();
  });

  it('names the device on a record that fails choosing its parameters, and logs identify before parameters', async () => {
    const runtime = await oneRowJob('row-1', 'csr');
    const first = createSimulator('jsonl', { seed: seed++ });
    const second = createSimulator('jsonl', { seed: seed++ });

    const done = await provisionDevice(runtime, plug(first));
    expect(done.error?.message ?? done.state).toBe('PROVISIONED');
    const doneSteps = await station.records.steps(done.recordId);
    expect(doneSteps.map((step) => step.step).slice(0, 3)).toEqual(['connect', 'identify', 'parameters']);
    const audit = await station.registry.audit.list({ subject: String(done.recordId) });
    const actions = audit.map((entry) => entry.action);
    expect(actions.indexOf('record.identify')).toBeGreaterThanOrEqual(0);
    expect(actions.indexOf('record.identify')).toBeLessThan(actions.indexOf('record.parameters'));

    const failed = await provisionDevice(runtime, plug(second));
    expect(failed.state).toBe('FAILED');
    expect(await station.records.byId(failed.recordId)).toMatchObject({
      state: 'FAILED',
      stepReached: 'parameters',
      errorCode: 'provisioning.list-exhausted',
      driver: 'jsonl',
      deviceId: second.identity.deviceId,
    });
  }, 30_000);

  it("writes an inject job's CA while the parameters are chosen: a device refused there holds the CA only", async () => {
    const runtime = await oneRowJob('injected-1', 'inject');
    const done = await provisionDevice(runtime, plug(createSimulator('esp-at', { seed: seed++ })));
    expect(done.error?.message ?? done.state).toBe('PROVISIONED');

    const refused = createSimulator('esp-at', { seed: seed++ });
    const failed = await provisionDevice(runtime, plug(refused));
    expect(failed.error).toMatchObject({
      code: 'provisioning.list-exhausted',
      message: expect.stringContaining(
        "every row of the job's parameter list (1) went to a device before this one; open a new job",
      ),
    });
    expect(await station.records.byId(failed.recordId)).toMatchObject({ stepReached: 'parameters' });
    const stored = refused.storedCredentials();
    expect([...stored.keys()]).toEqual(['ca']);
    expect(Buffer.from(stored.get('ca')!).toString()).toBe(runtime.ca!.pem);
  }, 30_000);

  it('records the identity before asking the technician for a value', async () => {
    const job = await createJob(
      station,
      {
        label: 'scanned',
        template: { name: 'sensor' },
        parameters: {
          constants: {},
          identity: { SerialNumber: 'deviceId' },
          operator: { parameter: 'ThingName', prompt: 'Scan the label' },
        },
        driver: 'auto',
        ca: caName,
        keyMode: 'csr',
        quota: 10,
      },
      actor,
    );
    const device = createSimulator('jsonl', { seed: seed++ });
    let seenWhileAsking: unknown;
    const runtime = await openJobRuntime(station, job.id, {
      actor,
      emit: () => undefined,
      operatorInput: async () => {
        const [record] = await station.records.list(job.id, 1);
        seenWhileAsking = { stepReached: record?.stepReached, deviceId: record?.deviceId };
        return 'scanned-1';
      },
    });
    const outcome = await provisionDevice(runtime, plug(device));
    expect(outcome.error?.message ?? outcome.state).toBe('PROVISIONED');
    expect(outcome.thingName).toBe('scanned-1');
    expect(seenWhileAsking).toEqual({ stepReached: 'identify', deviceId: device.identity.deviceId });
  }, 30_000);
  it("wipes the station's copy of an injected key once the device holds it, verified", async () => {
    const runtime = await openJobRuntime(station, fixture.jobs.inject, { actor, emit: () => undefined });
    const held: Uint8Array[] = [];
    const set = runtime.injectedKeys.set.bind(runtime.injectedKeys);
    runtime.injectedKeys.set = (id, key) => {
      held.push(key);
      return set(id, key);
    };
    const device = createSimulator('esp-at', { seed: seed++ });
    const outcome = await provisionDevice(runtime, plug(device));
    expect(outcome.error?.message ?? outcome.state).toBe('PROVISIONED');
    expect(held).toHaveLength(1);
    expect(held[0]!.every((byte) => byte === 0)).toBe(true);
    expect(runtime.injectedKeys.size).toBe(0);
    const written = device.storedCredentials().get('key');
    expect(Buffer.from(written ?? []).toString()).toContain('PRIVATE KEY');
  }, 30_000);
});
