import 'reflect-metadata';
import { createHash, webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as x509 from '@peculiar/x509';
import { afterAll, describe, expect, it } from 'vitest';
import { resourcePlanSchema, templateIssueSchema } from '../../../src/api/templates.js';
import { runCli } from '../../helpers/cli.js';

const repoRoot = path.resolve(fileURLToPath(import.meta.url), '../../../..');
const templatesDir = path.join(repoRoot, '..', 'shared', 'reference', 'aws', 'templates');
const tempDir = mkdtempSync(path.join(os.tmpdir(), 'template-cli-'));
afterAll(() => rmSync(tempDir, { recursive: true, force: true }));

/** `station --data TEMP ARGS` as a real process (test/helpers/cli.ts). */
async function station(...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const run = await runCli(args, { dataDir: tempDir });
  return { status: run.code, stdout: run.stdout, stderr: run.stderr };
}

function writeTemp(name: string, content: unknown): string {
  const file = path.join(tempDir, name);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

const reference = (id: string, name: string): string => path.join(templatesDir, `${id}-${name}.json`);
const t01 = reference('T01', 'docs-bulk-registration-csr');

describe('station template validate', () => {
  it('exits 0 for a valid template', async () => {
    const run = await station('template', 'validate', t01);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('valid');
  });

  it('exits 1 with a JSON list of {path, message} under --json, every fault listed', async () => {
    const file = writeTemp('faulty.json', {
      Resources: {
        thing: {
          Type: 'AWS::IoT::Thing',
          Properties: { ThingName: { 'Fn::Select': [3, ['a', 'b']] }, ThingGroups: [{ 'Fn::If': [] }] },
        },
      },
      Outputs: {},
    });
    const run = await station('--json', 'template', 'validate', file);
    expect(run.status).toBe(1);
    const issues = templateIssueSchema.array().parse(JSON.parse(run.stdout));
    expect(issues).toEqual([
      { path: 'Outputs', message: expect.stringContaining('unknown section "Outputs"') },
      {
        path: 'Resources.thing.Properties.ThingName',
        message: 'Fn::Select index 3 out of range (list has 2)',
      },
      {
        path: 'Resources.thing.Properties.ThingGroups[0]',
        message: expect.stringContaining('Fn::If is not supported'),
      },
    ]);
  });

  it('accepts T05 only when undeclared Refs may come from the parameters', async () => {
    const t05 = reference('T05', 'docs-fleet-pre-provisioning-hook');
    expect((await station('template', 'validate', t05)).status).toBe(1);
    expect((await station('template', 'validate', t05, '--undeclared-from-params')).status).toBe(0);
  });

  it('refuses a file that does not exist as a user error', async () => {
    const run = await station('template', 'validate', path.join(tempDir, 'missing.json'));
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('does not exist');
  });
});

describe('station template eval', () => {
  it('prints the ResourcePlan as JSON for inline parameters', async () => {
    const run = await station(
      'template',
      'eval',
      t01,
      '--params',
      '{"ThingName":"foo","SerialNumber":"123","CSR":"csr1"}',
    );
    expect(run.status).toBe(0);
    const plan = resourcePlanSchema.parse(JSON.parse(run.stdout));
    expect(plan.thing).toMatchObject({ thingName: 'foo', thingGroups: ['v1-lightbulbs', 'WA'] });
  });

  it('reads parameters from @FILE', async () => {
    const params = writeTemp('params.json', { ThingName: 'bar', SerialNumber: '456', CSR: 'csr2' });
    const run = await station('template', 'eval', t01, '--params', `@${params}`);
    expect(run.status).toBe(0);
    expect(resourcePlanSchema.parse(JSON.parse(run.stdout)).thing?.thingName).toBe('bar');
  });

  it('fills the certificate built-ins from --cert: subject fields and the SHA-256 id of the DER', async () => {
    const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = await webcrypto.subtle.generateKey(algorithm, false, ['sign', 'verify']);
    // serialNumber has no short name in @peculiar/x509, so its OID is spelled out (stack-notes.md 3).
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      name: 'CN=lightbulb-0001, 2.5.4.5=SN0001, C=US',
      keys,
      signingAlgorithm: algorithm,
      notBefore: new Date('2024-01-01T00:00:00Z'),
      notAfter: new Date('2034-01-01T00:00:00Z'),
    });
    const pem = writeTemp('device.pem', certificate.toString('pem'));
    const run = await station(
      'template',
      'eval',
      reference('T02', 'docs-jitp-certificate-id'),
      '--cert',
      pem,
    );
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const plan = resourcePlanSchema.parse(JSON.parse(run.stdout));
    expect(plan.thing).toMatchObject({
      thingName: 'lightbulb-0001',
      attributes: { version: 'v1', serialNumber: 'SN0001' },
      thingGroups: ['v1-lightbulbs', 'US'],
    });
    const id = createHash('sha256').update(new Uint8Array(certificate.rawData)).digest('hex');
    expect(plan.certificate).toMatchObject({ source: 'id', certificateId: id });
  });

  it('exits 1 naming the missing parameter', async () => {
    const run = await station(
      '--json',
      'template',
      'eval',
      t01,
      '--params',
      '{"SerialNumber":"1","CSR":"x"}',
    );
    expect(run.status).toBe(1);
    const body = JSON.parse(run.stdout) as { error: { code: string; details: { errors: unknown[] } } };
    expect(body.error.code).toBe('template.evaluation_failed');
    expect(body.error.details.errors).toEqual([
      {
        path: 'Resources.thing.Properties.ThingName',
        message: 'parameter "ThingName" has no value and no Default',
      },
    ]);
  });

  it('lists every fault on stderr without --json', async () => {
    const run = await station('template', 'eval', t01, '--params', '{"CSR":"x"}');
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('Resources.thing.Properties.ThingName: parameter "ThingName" has no value');
    expect(run.stderr).toContain('parameter "SerialNumber" has no value');
  });

  it('refuses --params that are not a JSON object', async () => {
    const run = await station('template', 'eval', t01, '--params', '[1]');
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('--params');
  });
});

describe('station template bulk', () => {
  it('prints one result line per input line and exits 1 when a line fails', async () => {
    const input = writeTemp(
      'bulk.jsonl',
      [
        '{"ThingName": "bulk1", "SerialNumber": "1", "CSR": "csr1"}',
        'not json',
        '',
        '{"ThingName": "bulk 4", "SerialNumber": "4", "CSR": "csr4"}',
        '{"ThingName": "bulk5", "SerialNumber": "5", "CSR": "csr5"}',
      ].join('\n'),
    );
    const run = await station('template', 'bulk', t01, '--input', input);
    expect(run.status).toBe(1);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map(
        (line) =>
          JSON.parse(line) as { line: number; plan?: { thing: { thingName: string } }; errors?: unknown },
      );
    expect(lines.map((line) => [line.line, line.plan?.thing.thingName ?? 'failed'])).toEqual([
      [1, 'bulk1'],
      [2, 'failed'],
      [4, 'failed'],
      [5, 'bulk5'],
    ]);
    expect(run.stderr).toContain('2 lines');
  });
});

describe('station template add|list|describe', { timeout: 120_000 }, () => {
  it('stores validated templates as versions, lists them and describes any version', async () => {
    expect((await station('init', '--hsm', 'soft')).status).toBe(0);
    const t13 = reference('T13', 'dm-workshop-bulk-registration');

    const refused = await station(
      '--json',
      'template',
      'add',
      'claim',
      reference('T11', 'automated-fp-by-claim-provisioning'),
    );
    expect(refused.status).toBe(1);
    expect(JSON.parse(refused.stdout)).toEqual([
      { path: 'Resources.policy.Properties.PolicyName', message: 'policy name must not be empty' },
    ]);

    const first = await station(
      '--json',
      'template',
      'add',
      'bulk',
      t01,
      '--description',
      'docs bulk example',
    );
    expect(first.status).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({ name: 'bulk', version: 1, created: true });
    expect(JSON.parse((await station('--json', 'template', 'add', 'bulk', t13)).stdout)).toEqual({
      name: 'bulk',
      version: 2,
      created: false,
    });

    const list = JSON.parse((await station('--json', 'template', 'list')).stdout) as unknown[];
    expect(list).toEqual([
      expect.objectContaining({
        name: 'bulk',
        defaultVersion: 2,
        versionCount: 2,
        description: 'docs bulk example',
      }),
    ]);

    const described = JSON.parse(
      (await station('--json', 'template', 'describe', 'bulk', '--version', '1')).stdout,
    ) as {
      version: number;
      body: string;
      versions: { version: number; isDefault: boolean }[];
    };
    expect(described.version).toBe(1);
    expect(described.body).toContain('lightBulb-versionA');
    expect(described.versions.map((v) => [v.version, v.isDefault])).toEqual([
      [1, false],
      [2, true],
    ]);

    const missing = await station('template', 'describe', 'nothing');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('Template nothing does not exist');
  });

  it('refuses a body its template type cannot serve, listing each fault, and stores nothing', async () => {
    const t02 = reference('T02', 'docs-jitp-certificate-id');
    const fleet = await station(
      '--json',
      'template',
      'add',
      'fleet-t02',
      t02,
      '--type',
      'FLEET_PROVISIONING',
    );
    expect(fleet.status).toBe(1);
    expect(JSON.parse(fleet.stdout)).toEqual([
      expect.objectContaining({
        path: 'Resources.thing.Properties.ThingName',
        message: expect.stringContaining('reads AWS::IoT::Certificate::CommonName, but only certificate IDs'),
      }),
      expect.objectContaining({ message: expect.stringContaining('AWS::IoT::Certificate::Country') }),
      expect.objectContaining({ message: expect.stringContaining('AWS::IoT::Certificate::SerialNumber') }),
    ]);
    expect(fleet.stderr).toContain(
      'does not suit a FLEET_PROVISIONING template (3 faults); nothing was stored',
    );
    const untyped = await station('template', 'add', 'fleet-t02', t02);
    expect(untyped.stderr).toContain('nothing was stored (a JITP template is added with --type JITP)');
    const jitp = await station('template', 'add', 'jitp-t01', t01, '--type', 'JITP');
    expect(jitp.status).toBe(1);
    expect(jitp.stdout).toContain(
      'Resources.certificate.Properties.CertificateSigningRequest: a JITP template registers the certificate the device connects with',
    );
    // A new version keeps the type the template was created with.
    expect((await station('template', 'add', 'jitp-t02', t02, '--type', 'JITP')).status).toBe(0);
    expect((await station('template', 'add', 'jitp-t02', t01)).status).toBe(1);
    const stored = JSON.parse((await station('--json', 'template', 'list')).stdout) as { name: string }[];
    expect(stored.map((t) => t.name)).not.toContain('fleet-t02');
    expect(stored.map((t) => t.name)).not.toContain('jitp-t01');
  });

  it('refuses a sixth version, and deletes a version that is not the default to make room', async () => {
    for (let version = 1; version <= 5; version += 1)
      expect((await station('template', 'add', 'five', t01)).status).toBe(0);
    const sixth = await station('template', 'add', 'five', t01);
    expect(sixth.status).toBe(1);
    expect(sixth.stderr).toContain(
      'Template five already has 5 versions; delete one that is not the default first (station template delete-version five VERSION).',
    );
    const defaultRefused = await station('template', 'delete-version', 'five', '5');
    expect(defaultRefused.status).toBe(1);
    expect(defaultRefused.stderr).toContain('Version 5 is the default of template five');
    const deleted = await station('--json', 'template', 'delete-version', 'five', '1');
    expect(deleted.status).toBe(0);
    expect(JSON.parse(deleted.stdout)).toEqual({ name: 'five', version: 1 });
    expect(JSON.parse((await station('--json', 'template', 'add', 'five', t01)).stdout)).toMatchObject({
      version: 6,
    });
  });

  it('keeps --undeclared-from-params with the version, so a job can use T05', async () => {
    const t05 = reference('T05', 'docs-fleet-pre-provisioning-hook');
    expect((await station('template', 'add', 'hook', t05)).status).toBe(1);
    expect((await station('template', 'add', 'hook', t05, '--undeclared-from-params')).status).toBe(0);
    const described = await station('template', 'describe', 'hook');
    expect(described.stdout).toContain('(Refs to undeclared parameters read from the parameters)');
    for (const group of ['widgets', 'WA'])
      expect((await station('thing-group', 'create', group)).status).toBe(0);
    const withoutBillingGroup = await station(
      ...['job', 'create', '--label', 'hook', '--template', 'hook', '--key-mode', 'existing', '--without-ca'],
      ...['--driver', 'jsonl', '--quota', '5', '--param', 'DeviceLocation=Seattle'],
      ...['--from-identity', 'SerialNumber=serialNumber'],
    );
    expect(withoutBillingGroup.status).toBe(1);
    expect(withoutBillingGroup.stderr).toContain(
      'billing group BillingGroup (station billing-group create BillingGroup)',
    );
    expect((await station('billing-group', 'create', 'BillingGroup')).status).toBe(0);
    const job = await station(
      ...['job', 'create', '--label', 'hook', '--template', 'hook', '--key-mode', 'existing', '--without-ca'],
      ...['--driver', 'jsonl', '--quota', '5', '--param', 'DeviceLocation=Seattle'],
      ...['--from-identity', 'SerialNumber=serialNumber'],
    );
    expect(job.stderr).toBe('');
    expect(job.status).toBe(0);
  });
});
