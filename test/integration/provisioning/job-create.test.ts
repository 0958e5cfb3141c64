// `station job create` refuses a work order that could not provision a single device, before any device
// is plugged in: a template parameter no source of the job gives a value, one taken from an identity
// field the job's device family never reports, or a key mode the family cannot serve.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobSpec, ParameterSource } from '../../../src/api/jobs.js';
import { createJob, openJobRuntime } from '../../../src/provisioning/job-runtime.js';
import type { Station } from '../../../src/station.js';
import { actor, caName, createBenchFixture, templateBody, type BenchFixture } from './bench-fixture.js';

describe('createJob', () => {
  let fixture: BenchFixture;
  let station: Station;

  beforeAll(async () => {
    fixture = await createBenchFixture({ kind: 'soft' }, { passphrase: 'job-create-tests' });
    station = await fixture.open();
    // Declares Location without a Default but never uses it.
    const unused = JSON.parse(templateBody) as { Parameters: Record<string, unknown> };
    unused.Parameters.Location = { Type: 'String' };
    // JITP-style: the thing is named after the certificate's CN.
    const jitp = JSON.parse(templateBody) as {
      Resources: { thing: { Properties: Record<string, unknown> } };
    };
    jitp.Resources.thing.Properties.ThingName = { Ref: 'AWS::IoT::Certificate::CommonName' };
    // As AWS's sample T05: the thing is named after a parameter the template does not declare.
    const undeclared = JSON.parse(templateBody) as {
      Resources: { thing: { Properties: Record<string, unknown> } };
    };
    undeclared.Resources.thing.Properties.ThingName = { 'Fn::Sub': 'T-${Serial}' };
    await station.registry.transaction(actor, async (tx) => {
      await station.templates.add(tx, 'sensor-unused', JSON.stringify(unused));
      await station.templates.add(tx, 'sensor-jitp', JSON.stringify(jitp));
      await station.templates.add(tx, 'sensor-undeclared', JSON.stringify(undeclared), {
        undeclaredParameters: 'from-dictionary',
      });
    });
  }, 60_000);

  afterAll(async () => {
    await station?.close();
    await fixture?.cleanup();
  });

  const spec = (
    parameters: Partial<ParameterSource>,
    template = 'sensor',
    driver: JobSpec['driver'] = 'auto',
  ): JobSpec => ({
    label: 'parameters check',
    template: { name: template },
    parameters: { constants: {}, identity: {}, ...parameters },
    driver,
    ca: caName,
    keyMode: 'inject', // every family serves it
    quota: 5,
  });
  const sequence = { parameter: 'ThingName', pattern: 'P-{000}', start: 1 };

  it('refuses a job that gives a parameter the template needs no value, naming it, and opens nothing', async () => {
    const before = (await station.jobs.list()).length;
    await expect(createJob(station, spec({ sequence }), actor)).rejects.toMatchObject({
      code: 'provisioning.parameter-unsupplied',
      field: 'parameters',
      details: { parameters: ['SerialNumber'] },
      message: expect.stringContaining('needs parameter SerialNumber'),
    });
    await expect(createJob(station, spec({}), actor)).rejects.toMatchObject({
      details: { parameters: ['ThingName', 'SerialNumber'] },
    });
    expect(await station.jobs.list()).toHaveLength(before);
  });

  it('accepts the value from any source: identity, a constant, a list column, the technician', async () => {
    for (const parameters of [
      { sequence, identity: { SerialNumber: 'deviceId' as const } },
      { sequence, constants: { SerialNumber: 'batch-7' } },
      { list: { rows: [{ ThingName: 'L-1', SerialNumber: 'S-1' }], assign: 'in-order' as const } },
      { sequence, operator: { parameter: 'SerialNumber', prompt: 'Scan the label' } },
    ]) {
      await expect(createJob(station, spec(parameters), actor)).resolves.toMatchObject({ status: 'active' });
    }
  });

  it('accepts a template parameter without a Default that the template never uses', async () => {
    const parameters = { sequence, identity: { SerialNumber: 'deviceId' as const } };
    await expect(createJob(station, spec(parameters, 'sensor-unused'), actor)).resolves.toMatchObject({
      status: 'active',
    });
  });

  it('refuses a parameter from an identity field the named device family never reports', async () => {
    const before = (await station.jobs.list()).length;
    await expect(
      createJob(station, spec({ sequence, identity: { SerialNumber: 'imei' } }, 'sensor', 'esp-at'), actor),
    ).rejects.toMatchObject({
      code: 'provisioning.identity-field-unreported',
      field: 'parameters',
      details: { driver: 'esp-at', fields: ['imei'] },
      message: expect.stringContaining('they report deviceId, mac, model, firmware'),
    });
    // Matching list rows on a field the family lacks would find no row for any device.
    const list = {
      rows: [{ ThingName: 'L-1', SerialNumber: 'S-1', Mac: 'aa' }],
      assign: 'match' as const,
      matchParameter: 'Mac',
      matchIdentity: 'mac' as const,
    };
    await expect(createJob(station, spec({ list }, 'sensor', 'quectel'), actor)).rejects.toMatchObject({
      code: 'provisioning.identity-field-unreported',
      details: { fields: ['mac'] },
    });
    expect(await station.jobs.list()).toHaveLength(before);
    // The same fields where the family reports them, and any field when the family is known per device.
    const imei = { sequence, identity: { SerialNumber: 'imei' as const } };
    for (const driver of ['nrf91', 'quectel', 'auto'] as const) {
      await expect(createJob(station, spec(imei, 'sensor', driver), actor)).resolves.toMatchObject({
        status: 'active',
      });
    }
    await expect(createJob(station, spec({ list }, 'sensor', 'esp-at'), actor)).resolves.toMatchObject({
      status: 'active',
    });
  });

  it('refuses a key mode the named device family cannot serve, saying which it serves', async () => {
    const before = (await station.jobs.list()).length;
    const parameters = { sequence, identity: { SerialNumber: 'deviceId' as const } };
    const job = (driver: JobSpec['driver'], keyMode: JobSpec['keyMode'], extra: Partial<JobSpec> = {}) =>
      createJob(station, { ...spec(parameters, 'sensor', driver), keyMode, ...extra }, actor);
    await expect(job('quectel', 'csr')).rejects.toMatchObject({
      code: 'provisioning.key-mode-unserved',
      field: 'keyMode',
      message:
        'quectel devices cannot make their own key; use --key-mode inject (the station makes the key and writes it).',
    });
    await expect(job('nrf91', 'existing')).rejects.toMatchObject({
      code: 'provisioning.key-mode-unserved',
      message: expect.stringContaining('this family serves --key-mode csr, inject, claim'),
    });
    const requireProof = { existing: { allowWithoutCa: false, requireProofOfPossession: true } };
    await expect(job('esp-at', 'existing', requireProof)).rejects.toMatchObject({
      message: 'esp-at devices cannot sign a challenge; leave out --require-proof.',
    });
    expect(await station.jobs.list()).toHaveLength(before);
    // What the family serves, and anything where each device says (jsonl) or the family is not named.
    for (const [driver, keyMode] of [
      ['nrf91', 'csr'],
      ['quectel', 'inject'],
      ['esp-at', 'existing'],
      ['jsonl', 'csr'],
      ['auto', 'csr'],
    ] as const) {
      await expect(job(driver, keyMode)).resolves.toMatchObject({ status: 'active' });
    }
    await expect(job('jsonl', 'existing', requireProof)).resolves.toMatchObject({ status: 'active' });
  });

  it('refuses a template that takes values from the certificate in a job that issues it (JITP goes with existing)', async () => {
    const parameters = { identity: { SerialNumber: 'deviceId' as const } };
    for (const keyMode of ['csr', 'inject'] as const) {
      await expect(
        createJob(station, { ...spec(parameters, 'sensor-jitp'), keyMode }, actor),
      ).rejects.toMatchObject({
        code: 'provisioning.template-needs-certificate',
        details: { facts: ['AWS::IoT::Certificate::CommonName'] },
        message: expect.stringContaining('use it with --key-mode existing'),
      });
    }
    await expect(
      createJob(station, { ...spec(parameters, 'sensor-jitp'), keyMode: 'existing' }, actor),
    ).resolves.toMatchObject({ status: 'active' });
  });

  it('refuses a parameter list with rows no device could be provisioned with, naming each row', async () => {
    const before = (await station.jobs.list()).length;
    const rows: Record<string, string>[] = [
      { ThingName: 'L-1' },
      { SerialNumber: 'S-2' }, // no ThingName
      { ThingName: '' },
      { ThingName: 'L-1' },
      { ThingName: 'L 5' }, // a space: AWS refuses the name
    ];
    const list = { rows, assign: 'in-order' as const };
    await expect(
      createJob(station, spec({ list, identity: { SerialNumber: 'deviceId' } }), actor),
    ).rejects.toMatchObject({
      code: 'provisioning.list-rows-unusable',
      field: 'parameters.list',
      details: {
        problems: [
          expect.stringMatching(/^row 2: .*ThingName/),
          expect.stringMatching(/^row 3: /),
          'rows 1 and 4 both make thing L-1',
          expect.stringMatching(/^row 5: /),
        ],
      },
    });
    expect(await station.jobs.list()).toHaveLength(before);
    const fine = { rows: [{ ThingName: 'L-1' }, { ThingName: 'L-2' }], assign: 'in-order' as const };
    await expect(
      createJob(station, spec({ list: fine, identity: { SerialNumber: 'deviceId' } }), actor),
    ).resolves.toMatchObject({ status: 'active' });
  });

  it('refuses a value for a parameter the template does not take (a misspelt name), naming its source', async () => {
    const before = (await station.jobs.list()).length;
    const identity = { SerialNumber: 'deviceId' as const };
    await expect(
      createJob(station, spec({ sequence, identity, constants: { SerialNumer: 'x' } }), actor),
    ).rejects.toMatchObject({
      code: 'provisioning.parameter-unknown',
      field: 'parameters',
      details: { parameters: ['SerialNumer'] },
      message: expect.stringContaining(
        'takes no parameter SerialNumer (a --param value); its parameters are ThingName, SerialNumber',
      ),
    });
    const list = { rows: [{ ThingName: 'L-1', Colour: 'red' }], assign: 'in-order' as const };
    await expect(createJob(station, spec({ list, identity }), actor)).rejects.toMatchObject({
      code: 'provisioning.parameter-unknown',
      message: expect.stringContaining('parameter Colour (a --list column)'),
    });
    await expect(
      createJob(station, spec({ identity, sequence: { ...sequence, parameter: 'Thingname' } }), actor),
    ).rejects.toMatchObject({ details: { parameters: ['Thingname'] } });
    expect(await station.jobs.list()).toHaveLength(before);
  });

  it('accepts a list column used only to match devices to rows', async () => {
    const list = {
      rows: [{ Imei: '350000000000001', ThingName: 'M-1' }],
      assign: 'match' as const,
      matchParameter: 'Imei',
      matchIdentity: 'imei' as const,
    };
    const job = spec({ list, identity: { SerialNumber: 'deviceId' } }, 'sensor', 'nrf91');
    await expect(createJob(station, job, actor)).resolves.toMatchObject({ status: 'active' });
  });

  it('keeps how a template version reads undeclared parameters, so its jobs open and take those names', async () => {
    const template = await station.templates.require('sensor-undeclared');
    expect(template.undeclaredParameters).toBe('from-dictionary');
    expect((await station.templates.require('sensor')).undeclaredParameters).toBe('reject');
    const identity = { SerialNumber: 'deviceId' as const };
    const job = await createJob(
      station,
      spec({ identity, constants: { Serial: 'S-9' } }, 'sensor-undeclared'),
      actor,
    );
    const runtime = await openJobRuntime(station, job.id, {
      actor,
      reprovision: false,
      emit: () => undefined,
    });
    expect(runtime.job.id).toBe(job.id);
    await expect(
      createJob(
        station,
        spec({ identity, constants: { Serial: 'S-9', Colour: 'red' } }, 'sensor-undeclared'),
        actor,
      ),
    ).rejects.toMatchObject({
      message: expect.stringContaining('its parameters are ThingName, SerialNumber, Serial'),
    });
  });
});
