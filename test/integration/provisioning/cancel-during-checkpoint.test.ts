// Ctrl+C (or a step timeout) while a step's registry transaction waits its turn: the step the runner gave
// up on still commits, and the failure is recorded after it. The record ends FAILED at that step, its
// step log in order, and what the step made (parameters, an issued identity) is kept for the retry,
// which finishes the device without a second certificate.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator } from '../../../hardware/drivers/index.js';
import type { PipelineStep } from '../../../src/api/provisioning.js';
import { provisionDevice } from '../../../src/provisioning/device-pipeline.js';
import { openJobRuntime } from '../../../src/provisioning/job-runtime.js';
import type { Station } from '../../../src/station.js';
import { actor, createBenchFixture, type BenchFixture } from './bench-fixture.js';
import { expectInvariants } from './invariants.js';
import { plug } from './key-mode-fixture.js';

describe('a cancel while a step waits for the registry', () => {
  let fixture: BenchFixture;
  let station: Station;
  let seed = 9700;

  beforeAll(async () => {
    fixture = await createBenchFixture({ kind: 'soft' }, { passphrase: 'cancel-checkpoint-tests' });
    station = await fixture.open();
  }, 60_000);

  afterAll(async () => {
    await station?.close();
    await fixture?.cleanup();
  });

  /**
   * Provisions one device and cancels it once `step` has begun, while another transaction holds the
   * registry for 300 ms: the step's own transaction is queued behind it when the cancel comes.
   */
  async function cancelDuring(step: PipelineStep) {
    const stop = new AbortController();
    const runtime = await openJobRuntime(station, fixture.jobs.csr, {
      actor,
      emit: (event) => {
        if (event.type !== 'step-begin' || event.step !== step) return;
        void station.registry.transaction(actor, () => new Promise((resolve) => setTimeout(resolve, 300)));
        setTimeout(() => stop.abort(), 50);
      },
    });
    const device = createSimulator('nrf91', { seed: seed++ });
    const outcome = await provisionDevice(runtime, plug(device), stop.signal);
    return { runtime, device, outcome };
  }

  async function stepLog(recordId: number) {
    return (await station.records.steps(recordId)).map(
      ({ seq, step, outcome }) => `${seq} ${step} ${outcome}`,
    );
  }

  it('in the parameters step: FAILED there, the step log in order, the sequence number kept', async () => {
    const { runtime, device, outcome } = await cancelDuring('parameters');
    expect(outcome).toMatchObject({ state: 'FAILED', error: { code: 'provisioning.cancelled' } });
    const record = await station.records.byId(outcome.recordId);
    expect(record).toMatchObject({
      state: 'FAILED',
      stepReached: 'parameters',
      errorCode: 'provisioning.cancelled',
    });
    expect(await stepLog(outcome.recordId)).toEqual(['1 connect ok', '2 identify ok', '3 parameters failed']);

    const retried = await provisionDevice(runtime, plug(device));
    expect(retried.error?.message ?? retried.state).toBe('PROVISIONED');
    expect(retried.thingName).toBe(record!.parameters!.ThingName);
  });

  it('in the register step: the identity it issued is kept and finished by the next plug', async () => {
    const before = (await station.jobs.require(fixture.jobs.csr)).issuedCount;
    const { runtime, device, outcome } = await cancelDuring('register');
    expect(outcome).toMatchObject({ state: 'FAILED', error: { code: 'provisioning.cancelled' } });
    const record = await station.records.byId(outcome.recordId);
    expect(record).toMatchObject({ state: 'FAILED', stepReached: 'register' });
    expect(record!.certificateId).toBeDefined();
    expect(outcome.certificateId).toBe(record!.certificateId);
    expect(await stepLog(outcome.recordId)).toEqual([
      '1 connect ok',
      '2 identify ok',
      '3 parameters ok',
      '4 evaluate ok',
      '5 key ok',
      '6 issue ok',
      '7 register failed',
    ]);

    const retried = await provisionDevice(runtime, plug(device));
    expect(retried.error?.message ?? retried.state).toBe('PROVISIONED');
    expect(retried).toMatchObject({ mode: 'resume', certificateId: record!.certificateId });
    expect((await station.jobs.require(fixture.jobs.csr)).issuedCount).toBe(before + 1);
    await expectInvariants(station, [device]);
  });
});
