import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobTable } from '../../../src/registry/jobs.js';
import { Registry } from '../../../src/registry/registry.js';
import { TemplateRegistry } from '../../../src/registry/templates.js';

const repoRoot = path.resolve(fileURLToPath(import.meta.url), '../../../..');
const templatesDir = path.join(repoRoot, '..', 'shared', 'reference', 'aws', 'templates');
const actor = 'test:templates';

let dir: string;
let registry: Registry;
let templates: TemplateRegistry;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'template-registry-'));
  registry = await Registry.open(path.join(dir, 'registry.sqlite'));
  templates = new TemplateRegistry(registry.reader);
});

afterEach(async () => {
  await registry.close();
  await rm(dir, { recursive: true, force: true });
});

const body = (file: string): Promise<string> => readFile(path.join(templatesDir, file), 'utf8');

describe('TemplateRegistry', () => {
  it('creates a template as version 1, the default, and audits it in the same transaction', async () => {
    const t01 = await body('T01-docs-bulk-registration-csr.json');
    const added = await registry.transaction(actor, (tx) =>
      templates.add(tx, 'bulk-lightbulbs', t01, { description: 'docs bulk example' }),
    );
    expect(added).toEqual({ name: 'bulk-lightbulbs', version: 1, created: true });
    const described = await templates.require('bulk-lightbulbs');
    expect(described).toMatchObject({
      name: 'bulk-lightbulbs',
      description: 'docs bulk example',
      templateType: 'FLEET_PROVISIONING',
      defaultVersion: 1,
      version: 1,
      body: t01,
      enabled: true,
    });
    const audit = await registry.audit.list({ subject: 'bulk-lightbulbs' });
    expect(audit.map((entry) => [entry.action, entry.actor, entry.details.version])).toEqual([
      ['template.create', actor, 1],
    ]);
  });

  it('adds a new version each time and makes it the default, keeping the old bodies', async () => {
    const t01 = await body('T01-docs-bulk-registration-csr.json');
    const t13 = await body('T13-dm-workshop-bulk-registration.json');
    await registry.transaction(actor, (tx) => templates.add(tx, 'bulk', t01));
    const second = await registry.transaction(actor, (tx) => templates.add(tx, 'bulk', t13));
    expect(second).toEqual({ name: 'bulk', version: 2, created: false });
    expect((await templates.require('bulk')).body).toBe(t13);
    expect((await templates.require('bulk', 1)).body).toBe(t01);
    expect((await templates.list()).map((t) => [t.name, t.defaultVersion, t.versionCount])).toEqual([
      ['bulk', 2, 2],
    ]);
    const actions = (await registry.audit.list({ subject: 'bulk' })).map((entry) => entry.action);
    expect(actions).toEqual(['template.create', 'template.version.create']);
  });

  it('leaves nothing behind, audit included, when the transaction fails', async () => {
    const t01 = await body('T01-docs-bulk-registration-csr.json');
    await expect(
      registry.transaction(actor, async (tx) => {
        await templates.add(tx, 'doomed', t01);
        throw new Error('later step failed');
      }),
    ).rejects.toThrow('later step failed');
    expect(await templates.describe('doomed')).toBeUndefined();
    expect(await registry.audit.list({ subject: 'doomed' })).toEqual([]);
  });

  it('refuses a name AWS would refuse', async () => {
    await expect(
      registry.transaction(actor, (tx) => templates.add(tx, 'has space', '{}')),
    ).rejects.toMatchObject({
      code: 'input.invalid',
      field: 'templateName',
    });
    await expect(
      registry.transaction(actor, (tx) => templates.add(tx, 'x'.repeat(37), '{}')),
    ).rejects.toMatchObject({
      field: 'templateName',
    });
  });

  it('refuses to change the type of an existing template', async () => {
    const t02 = await body('T02-docs-jitp-certificate-id.json');
    await registry.transaction(actor, (tx) => templates.add(tx, 'jitp', t02, { templateType: 'JITP' }));
    await expect(
      registry.transaction(actor, (tx) =>
        templates.add(tx, 'jitp', t02, { templateType: 'FLEET_PROVISIONING' }),
      ),
    ).rejects.toMatchObject({ code: 'registry.conflict' });
  });

  it('keeps at most five versions, as AWS does, and deletes any but the default to make room', async () => {
    const t10 = await body('T10-deep-dive-fleet-provisioning-mappings.json');
    const add = () => registry.transaction(actor, (tx) => templates.add(tx, 'fleet', t10));
    for (let version = 1; version <= 5; version += 1) expect((await add()).version).toBe(version);
    await expect(add()).rejects.toMatchObject({
      code: 'template.versions_limit',
      subject: 'fleet',
      message:
        'Template fleet already has 5 versions; delete one that is not the default first (station template delete-version fleet VERSION).',
    });
    await expect(
      registry.transaction(actor, (tx) => templates.deleteVersion(tx, 'fleet', 5)),
    ).rejects.toMatchObject({ code: 'registry.in_use', message: expect.stringContaining('default') });
    await expect(
      registry.transaction(actor, (tx) => templates.deleteVersion(tx, 'fleet', 9)),
    ).rejects.toThrow('Template fleet has no version 9.');
    await registry.transaction(actor, (tx) => templates.deleteVersion(tx, 'fleet', 2));
    // Numbers count on from the highest kept: 2 never names another body.
    expect((await add()).version).toBe(6);
    expect((await templates.require('fleet')).versions.map((v) => v.version)).toEqual([1, 3, 4, 5, 6]);
    const actions = (await registry.audit.list({ subject: 'fleet' })).map((entry) => entry.action);
    expect(actions.filter((action) => action === 'template.version.delete')).toHaveLength(1);
  });

  it('keeps a version a job was created with, naming the job', async () => {
    const t10 = await body('T10-deep-dive-fleet-provisioning-mappings.json');
    await registry.transaction(actor, async (tx) => {
      await templates.add(tx, 'fleet', t10);
      await new JobTable(registry.reader).create(tx, {
        spec: {
          label: 'line 1',
          template: { name: 'fleet' },
          parameters: { constants: {}, identity: {} },
          driver: 'jsonl',
          keyMode: 'existing',
          existing: { allowWithoutCa: true, requireProofOfPossession: false },
          quota: 1,
        },
        templateVersion: 1,
        caId: null,
        validityDays: 1,
      });
      await templates.add(tx, 'fleet', t10);
    });
    await expect(
      registry.transaction(actor, (tx) => templates.deleteVersion(tx, 'fleet', 1)),
    ).rejects.toMatchObject({
      code: 'registry.in_use',
      details: { jobs: [1] },
      message: expect.stringContaining('Version 1 of template fleet is the one job 1 provisions with'),
    });
    expect((await templates.require('fleet')).versionCount).toBe(2);
  });

  it('never deletes the only version, which is the default', async () => {
    await registry.transaction(actor, (tx) => templates.add(tx, 'one', '{"Resources":{}}'));
    await expect(
      registry.transaction(actor, (tx) => templates.deleteVersion(tx, 'one', 1)),
    ).rejects.toMatchObject({ code: 'registry.in_use' });
    expect((await templates.require('one')).versionCount).toBe(1);
  });

  it('names the missing template or version', async () => {
    await expect(templates.require('nothing')).rejects.toMatchObject({ code: 'registry.not_found' });
    await registry.transaction(actor, (tx) => templates.add(tx, 'one', '{"Resources":{}}'));
    await expect(templates.require('one', 7)).rejects.toThrow('Template one has no version 7.');
  });
});
