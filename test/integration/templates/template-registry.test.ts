import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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

  it('names the missing template or version', async () => {
    await expect(templates.require('nothing')).rejects.toMatchObject({ code: 'registry.not_found' });
    await registry.transaction(actor, (tx) => templates.add(tx, 'one', '{"Resources":{}}'));
    await expect(templates.require('one', 7)).rejects.toThrow('Template one has no version 7.');
  });
});
