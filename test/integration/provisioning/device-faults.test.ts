// Every simulator fault during every device step: the record fails naming the step with a reason a
// technician can act on, a second device on another port completes, and the faulted device completes on
// the next plug (a retry).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  DriverName,
  SimulatorFault,
  SimulatorFaultKind,
} from '../../../hardware/drivers/device-driver.js';
import { createSimulator } from '../../../hardware/drivers/index.js';
import type { PipelineStep } from '../../../src/api/provisioning.js';
import { provisionDevice, type JobRuntime } from '../../../src/provisioning/device-pipeline.js';
import { createJob, openJobRuntime } from '../../../src/provisioning/job-runtime.js';
import type { Station } from '../../../src/station.js';
import { actor, caName, createBenchFixture, keyModeFor, type BenchFixture } from './bench-fixture.js';
import { expectInvariants } from './invariants.js';
import { plug } from './key-mode-fixture.js';

/** The command each step sends first, per driver (the fault's `match`). */
const stepCommands: Record<DriverName, Partial<Record<PipelineStep, string>>> = {
  nrf91: {
    connect: 'AT+CMEE',
    identify: 'AT+CGSN',
    key: 'AT%KEYGEN',
    write: 'AT%CMNG=0',
    verify: 'AT%CMNG=1',
  },
  jsonl: { connect: 'hello', key: 'keygen', write: 'write.begin', verify: 'slot.digest' },
  'esp-at': { connect: 'ATE0', identify: 'AT+CIPSTAMAC', write: 'AT+SYSMFG=2', verify: 'AT+SYSMFG=1' },
  quectel: { connect: 'ATE0', identify: 'AT+GSN', write: 'AT+QFUPL', verify: 'AT+QFLST' },
};

/** storage-full and disconnect (in the middle of a write) concern writes; the others every command. */
function faultsFor(step: PipelineStep): SimulatorFaultKind[] {
  const always: SimulatorFaultKind[] = ['drop-response', 'garble', 'refuse', 'slow'];
  return step === 'write' ? [...always, 'disconnect', 'storage-full'] : always;
}

/** A disconnect tears the bytes of a write: for jsonl those travel in write.chunk. */
function matchFor(driver: DriverName, kind: SimulatorFaultKind, match: string): string {
  return driver === 'jsonl' && kind === 'disconnect' ? 'write.chunk' : match;
}

const stepTimeoutMs = 1_500;

const cases = (Object.keys(stepCommands) as DriverName[]).flatMap((driver) =>
  Object.entries(stepCommands[driver]).flatMap(([step, match]) =>
    faultsFor(step as PipelineStep).map((kind) => ({
      driver,
      step: step as PipelineStep,
      kind,
      match: matchFor(driver, kind, match!),
    })),
  ),
);

describe('device faults during each pipeline step', () => {
  let fixture: BenchFixture;
  let station: Station;
  const runtimes = new Map<string, JobRuntime>();

  beforeAll(async () => {
    fixture = await createBenchFixture({ kind: 'soft' }, { passphrase: 'fault-tests' });
    station = await fixture.open();
    for (const keyMode of ['csr', 'inject'] as const) {
      const timeouts = Object.fromEntries(
        (['connect', 'identify', 'key', 'write', 'verify'] as const).map((step) => [
          step,
          stepTimeoutMs * (step === 'write' ? 3 : 1),
        ]),
      );
      runtimes.set(
        keyMode,
        await openJobRuntime(station, fixture.jobs[keyMode], { actor, emit: () => undefined, timeouts }),
      );
    }
  });

  afterAll(async () => {
    await station?.close();
    await fixture?.cleanup();
  });

  it.each(cases)('$driver: $kind during $step', async ({ driver, step, kind, match }) => {
    const fault: SimulatorFault = {
      kind,
      match,
      nth: 1,
      ...(kind === 'slow' && { delayMs: stepTimeoutMs * 4 }),
    };
    const faulty = createSimulator(driver, { faults: [fault] });
    const healthy = createSimulator(driver);
    const runtime = runtimes.get(keyModeFor(driver))!;

    const [failed, completed] = await Promise.all([
      provisionDevice(runtime, plug(faulty, `faulty-${driver}`)),
      provisionDevice(runtime, plug(healthy, `healthy-${driver}`)),
    ]);
    expect(completed.error?.message ?? completed.state).toBe('PROVISIONED');
    expect(failed.state).toBe('FAILED');
    const record = await station.records.byId(failed.recordId);
    expect(record).toMatchObject({ state: 'FAILED', stepReached: step });
    expect(record!.errorMessage).toMatch(new RegExp(`^Device on faulty-${driver} failed during `));
    expect(record!.errorMessage!.length).toBeGreaterThan(
      `Device on faulty-${driver} failed during ${step}: `.length + 10,
    );

    const retried = await provisionDevice(runtime, plug(faulty, `faulty-${driver}`));
    expect(retried.error?.message ?? retried.state).toBe('PROVISIONED');
    await expectInvariants(station, [faulty, healthy]);
  });
});

describe('a device that fails before its identity is issued', () => {
  let fixture: BenchFixture;
  let station: Station;

  beforeAll(async () => {
    fixture = await createBenchFixture({ kind: 'soft' }, { passphrase: 'retry-tests' });
    station = await fixture.open();
  }, 60_000);

  afterAll(async () => {
    await station?.close();
    await fixture?.cleanup();
  });

  it('keeps the parameters of its first attempt: no retry hands out another sequence number', async () => {
    const runtime = await openJobRuntime(station, fixture.jobs.csr, { actor, emit: () => undefined });
    // The device refuses to make a key on its first two plugs.
    const refuseKeygen = (nth: number): SimulatorFault => ({ kind: 'refuse', match: 'AT%KEYGEN', nth });
    const device = createSimulator('nrf91', { faults: [refuseKeygen(1), refuseKeygen(2)] });
    const outcomes = [];
    for (let attempt = 0; attempt < 3; attempt++) outcomes.push(await provisionDevice(runtime, plug(device)));
    expect(outcomes.map((outcome) => outcome.state)).toEqual(['FAILED', 'FAILED', 'PROVISIONED']);
    for (const outcome of outcomes) {
      const record = await station.records.byId(outcome.recordId);
      expect(record?.parameters?.ThingName).toBe('csr-00001');
    }
    const other = await provisionDevice(runtime, plug(createSimulator('nrf91')));
    expect(other.thingName).toBe('csr-00002');
  });

  it('asks the technician again: a mistyped or misread label is not reused', async () => {
    const job = await createJob(
      station,
      {
        label: 'scanned serials',
        template: { name: 'sensor' },
        parameters: {
          constants: {},
          identity: {},
          sequence: { parameter: 'ThingName', pattern: 'scan-{000}', start: 1 },
          operator: { parameter: 'SerialNumber', prompt: 'Scan the label' },
        },
        driver: 'auto',
        ca: caName,
        keyMode: 'csr',
        quota: 5,
      },
      actor,
    );
    // An attribute value takes no spaces (aws-iot-spec.md 1): the first scan fails the template.
    const scans = ['SN 0042', 'SN-0042'];
    const runtime = await openJobRuntime(station, job.id, {
      actor,
      emit: () => undefined,
      operatorInput: () => Promise.resolve(scans.shift()!),
    });
    const device = createSimulator('jsonl');
    const first = await provisionDevice(runtime, plug(device));
    expect(first.state).toBe('FAILED');
    expect((await station.records.byId(first.recordId))?.stepReached).toBe('evaluate');
    const second = await provisionDevice(runtime, plug(device));
    expect(second.error?.message ?? second.state).toBe('PROVISIONED');
    expect(scans).toEqual([]);
    // The new scan, with the sequence number of the first attempt.
    expect((await station.records.byId(second.recordId))?.parameters).toEqual({
      ThingName: 'scan-001',
      SerialNumber: 'SN-0042',
    });
  });
});
