// What the station cannot do with a template AWS would take: an INACTIVE certificate (the station issues
// ACTIVE ones only: each device has one live certificate, which a re-plug re-verifies); and what it needs
// first, as AWS does: the billing group a thing names. Refused when the job is created, or, when the
// device's own values decide, for that device, before anything is issued.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator } from '../../../hardware/drivers/index.js';
import type { JobSpec, ParameterSource } from '../../../src/api/jobs.js';
import { provisionDevice } from '../../../src/provisioning/device-pipeline.js';
import { createJob, openJobRuntime } from '../../../src/provisioning/job-runtime.js';
import type { Station } from '../../../src/station.js';
import { actor, caName, createBenchFixture, templateBody, type BenchFixture } from './bench-fixture.js';
import { plug } from './key-mode-fixture.js';

interface Body {
  Parameters: Record<string, unknown>;
  Resources: {
    thing: { Properties: Record<string, unknown> };
    certificate: { Properties: Record<string, unknown> };
  };
}
/** The bench fixture's template, changed by `change`. */
function variant(change: (body: Body) => void): string {
  const body = JSON.parse(templateBody) as Body;
  change(body);
  return JSON.stringify(body);
}

describe('templates the station cannot provision with', () => {
  let fixture: BenchFixture;
  let station: Station;

  beforeAll(async () => {
    fixture = await createBenchFixture({ kind: 'soft' }, { passphrase: 'unsupported-template-tests' });
    station = await fixture.open();
    await station.registry.transaction(actor, async (tx) => {
      await station.templates.add(
        tx,
        'inactive',
        variant((body) => (body.Resources.certificate.Properties.Status = 'Inactive')),
      );
      await station.templates.add(
        tx,
        'status-param',
        variant((body) => {
          body.Parameters.CertStatus = { Type: 'String', Default: 'ACTIVE' };
          body.Resources.certificate.Properties.Status = { Ref: 'CertStatus' };
        }),
      );
      await station.templates.add(
        tx,
        'billing',
        variant((body) => (body.Resources.thing.Properties.BillingGroup = 'LightBulbBillingGroup')),
      );
      await station.templates.add(
        tx,
        'billing-param',
        variant((body) => {
          body.Parameters.Billing = { Type: 'String' };
          body.Resources.thing.Properties.BillingGroup = { Ref: 'Billing' };
        }),
      );
    });
  }, 60_000);

  afterAll(async () => {
    await station?.close();
    await fixture?.cleanup();
  });

  const spec = (template: string, parameters: Partial<ParameterSource> = {}): JobSpec => ({
    label: template,
    template: { name: template },
    parameters: {
      constants: {},
      identity: { SerialNumber: 'deviceId' },
      sequence: { parameter: 'ThingName', pattern: `${template}-{000}`, start: 1 },
      ...parameters,
    },
    driver: 'auto',
    ca: caName,
    keyMode: 'csr',
    quota: 5,
  });

  it('refuses a job whose template makes every certificate INACTIVE, by text or by a fixed parameter', async () => {
    const before = (await station.jobs.list()).length;
    const refusal = {
      code: 'template.certificate-inactive',
      subject: expect.any(String),
      message: expect.stringContaining('this station issues ACTIVE certificates only'),
    };
    for (const keyMode of ['csr', 'inject'] as const) {
      await expect(createJob(station, { ...spec('inactive'), keyMode }, actor)).rejects.toMatchObject({
        ...refusal,
        subject: 'inactive',
      });
    }
    await expect(
      createJob(station, spec('status-param', { constants: { CertStatus: 'INACTIVE' } }), actor),
    ).rejects.toMatchObject({ ...refusal, subject: 'status-param' });
    expect(await station.jobs.list()).toHaveLength(before);
    await expect(createJob(station, spec('status-param'), actor)).resolves.toMatchObject({
      status: 'active',
    });
  });

  it('refuses, at evaluate, a device whose own values make its certificate INACTIVE, and issues nothing', async () => {
    const list = {
      rows: [{ ThingName: 'status-1', CertStatus: 'INACTIVE' }],
      assign: 'in-order' as const,
    };
    const job = await createJob(station, spec('status-param', { list, sequence: undefined }), actor);
    const runtime = await openJobRuntime(station, job.id, { actor, emit: () => undefined });
    const outcome = await provisionDevice(runtime, plug(createSimulator('nrf91')));
    expect(outcome.error).toMatchObject({
      code: 'template.certificate-inactive',
      message: expect.stringContaining("INACTIVE with this device's parameters"),
    });
    const record = await station.records.byId(outcome.recordId);
    expect(record).toMatchObject({ stepReached: 'evaluate' });
    expect(record?.certificateId ?? undefined).toBeUndefined();
    expect((await station.jobs.byId(job.id))?.issuedCount).toBe(0);
  }, 60_000);

  it('provisions into a billing group that exists, and refuses a job naming one that does not', async () => {
    const before = (await station.jobs.list()).length;
    for (const template of ['billing', 'billing-param'] as const) {
      const constants: Record<string, string> =
        template === 'billing-param' ? { Billing: 'LightBulbBillingGroup' } : {};
      await expect(createJob(station, spec(template, { constants }), actor)).rejects.toMatchObject({
        code: 'provisioning.template-resource-missing',
        message: expect.stringContaining(
          'billing group LightBulbBillingGroup (station billing-group create LightBulbBillingGroup)',
        ),
      });
    }
    expect(await station.jobs.list()).toHaveLength(before);

    await station.registry.transaction(actor, (tx) =>
      station.registry.billingGroups.create(tx, { name: 'LightBulbBillingGroup' }),
    );
    const job = await createJob(station, spec('billing'), actor);
    const runtime = await openJobRuntime(station, job.id, { actor, emit: () => undefined });
    const outcome = await provisionDevice(runtime, plug(createSimulator('nrf91', { seed: 8301 })));
    expect(outcome.error?.message ?? outcome.state).toBe('PROVISIONED');
    expect(await station.registry.things.describe(outcome.thingName!)).toMatchObject({
      billingGroupName: 'LightBulbBillingGroup',
    });
  });

  it('refuses a device whose own values name a billing group that does not exist, and issues nothing', async () => {
    const job = await createJob(
      station,
      spec('billing-param', { identity: { SerialNumber: 'deviceId', Billing: 'deviceId' } }),
      actor,
    );
    const runtime = await openJobRuntime(station, job.id, { actor, emit: () => undefined });
    const outcome = await provisionDevice(runtime, plug(createSimulator('nrf91', { seed: 8302 })));
    expect(outcome.state).toBe('FAILED');
    expect(outcome.error?.message).toContain('station billing-group create');
    expect((await station.jobs.byId(job.id))?.issuedCount).toBe(0);
  });
});
