import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CertificateTable } from '../../../src/registry/certificates.js';
import { PolicyRegistry } from '../../../src/registry/policies.js';
import { Registry } from '../../../src/registry/registry.js';
import type { Transaction } from '../../../src/registry/transaction.js';

let dir: string;
let registry: Registry;
let policies: PolicyRegistry;
const actor = 'test:policies';

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'policy-registry-'));
  registry = await Registry.open(path.join(dir, 'registry.sqlite'));
  policies = new PolicyRegistry(registry.reader);
});

afterEach(async () => {
  await registry.close();
  await rm(dir, { recursive: true, force: true });
});

const documentFor = (topic: string): string =>
  JSON.stringify({
    Version: '2012-10-17',
    Statement: { Effect: 'Allow', Action: 'iot:Publish', Resource: `arn:aws:iot:eu-west-1:1:topic/${topic}` },
  });

/** Certificates as the PKI stores them; the row content is not what these tests are about. */
async function addCertificates(count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => i.toString(16).padStart(64, '0'));
  await registry.transaction(actor, (tx) =>
    new CertificateTable(registry.reader).insertMany(
      tx,
      ids.map((id) => ({
        id,
        pem: `certificate ${id}`,
        subject: `CN=device-${id.slice(-4)}`,
        serialHex: id.slice(-32),
        notBefore: '2025-01-01T00:00:00.000Z',
        notAfter: '2035-01-01T00:00:00.000Z',
        status: 'ACTIVE' as const,
        keyOrigin: 'device' as const,
      })),
    ),
  );
  return ids;
}

const run = <T>(work: (tx: Transaction) => Promise<T>): Promise<T> => registry.transaction(actor, work);

describe('policies in the registry', () => {
  it('creates a policy as version 1, the default, and audits it', async () => {
    const added = await run((tx) => policies.add(tx, 'telemetry', documentFor('dt/a')));
    expect(added).toEqual({ name: 'telemetry', version: 1, isDefault: true, created: true });
    const described = await policies.require('telemetry');
    expect(described).toMatchObject({ defaultVersion: 1, versionCount: 1, document: documentFor('dt/a') });
    const [entry] = await registry.audit.list({ subject: 'telemetry' });
    expect(entry).toMatchObject({ actor, action: 'policy.create' });
  });

  it('refuses a name outside 1-128 characters of [\\w+=,.@-]', async () => {
    await expect(run((tx) => policies.create(tx, 'has space', documentFor('x')))).rejects.toMatchObject({
      code: 'input.invalid',
      field: 'policyName',
    });
    await expect(run((tx) => policies.create(tx, 'p'.repeat(129), documentFor('x')))).rejects.toMatchObject({
      code: 'input.invalid',
    });
  });

  it('refuses to create a policy whose name is taken', async () => {
    await run((tx) => policies.create(tx, 'telemetry', documentFor('a')));
    await expect(run((tx) => policies.create(tx, 'telemetry', documentFor('b')))).rejects.toMatchObject({
      code: 'registry.conflict',
    });
  });

  it('adds versions, makes them the default when asked, and keeps at most five', async () => {
    await run((tx) => policies.add(tx, 'telemetry', documentFor('v1')));
    for (let version = 2; version <= 5; version += 1) {
      const added = await run((tx) =>
        policies.add(tx, 'telemetry', documentFor(`v${version}`), version !== 5),
      );
      expect(added).toMatchObject({ version, isDefault: version !== 5, created: false });
    }
    expect(await policies.require('telemetry')).toMatchObject({
      defaultVersion: 4,
      versionCount: 5,
      document: documentFor('v4'),
    });
    await expect(run((tx) => policies.add(tx, 'telemetry', documentFor('v6'), true))).rejects.toMatchObject({
      code: 'policy.versions_limit',
    });
    expect((await policies.require('telemetry')).versionCount).toBe(5);
  });

  it('switches the default version and never deletes the default one', async () => {
    await run((tx) => policies.add(tx, 'telemetry', documentFor('v1')));
    await run((tx) => policies.add(tx, 'telemetry', documentFor('v2'), false));
    await run((tx) => policies.setDefaultVersion(tx, 'telemetry', 2));
    await expect(run((tx) => policies.deleteVersion(tx, 'telemetry', 2))).rejects.toMatchObject({
      code: 'registry.in_use',
    });
    await run((tx) => policies.deleteVersion(tx, 'telemetry', 1));
    expect((await policies.require('telemetry')).versions.map((version) => version.version)).toEqual([2]);
    await expect(run((tx) => policies.setDefaultVersion(tx, 'telemetry', 7))).rejects.toMatchObject({
      code: 'registry.not_found',
    });
  });

  it("never gives a deleted version's number to another document", async () => {
    await run((tx) => policies.add(tx, 'numbered', documentFor('v1')));
    await run((tx) => policies.add(tx, 'numbered', documentFor('v2'), false));
    await run((tx) => policies.deleteVersion(tx, 'numbered', 2));
    const added = await run((tx) => policies.add(tx, 'numbered', documentFor('v3'), false));
    expect(added.version).toBe(3);
    expect((await policies.require('numbered')).versions.map((version) => version.version)).toEqual([1, 3]);
    // A policy deleted and made again starts afresh, as a new AWS policy does.
    await run((tx) => policies.delete(tx, 'numbered'));
    expect((await run((tx) => policies.add(tx, 'numbered', documentFor('again')))).version).toBe(1);
  });

  it('audits the documents a deleted version or policy takes with it, and says which command comes next', async () => {
    await run((tx) => policies.add(tx, 'telemetry', documentFor('v1')));
    await expect(run((tx) => policies.deleteVersion(tx, 'telemetry', 1))).rejects.toThrow(
      'Version 1 is the only version of policy telemetry; delete the policy instead (station policy delete telemetry).',
    );
    await run((tx) => policies.add(tx, 'telemetry', documentFor('v2')));
    await expect(run((tx) => policies.deleteVersion(tx, 'telemetry', 2))).rejects.toThrow(
      'make another version the default first (station policy set-default telemetry VERSION)',
    );
    expect(await run((tx) => policies.setDefaultVersion(tx, 'telemetry', 1))).toEqual({
      policyName: 'telemetry',
      defaultVersion: 1,
      previousVersion: 2,
      changed: true,
    });
    await run((tx) => policies.deleteVersion(tx, 'telemetry', 2));
    await run((tx) => policies.delete(tx, 'telemetry'));
    const rows = await registry.audit.list({ subject: 'telemetry' });
    expect(rows.slice(-2).map(({ action, details }) => ({ action, details }))).toEqual([
      { action: 'policy.version.delete', details: { version: 2, document: documentFor('v2') } },
      {
        action: 'policy.delete',
        details: { defaultVersion: 1, versions: [{ version: 1, document: documentFor('v1') }] },
      },
    ]);
  });

  it('attaches to a known certificate, once, and hands the default documents to the evaluator', async () => {
    const [certificateId] = (await addCertificates(1)) as [string];
    await run((tx) => policies.add(tx, 'telemetry', documentFor('dt/a')));
    expect(await run((tx) => policies.attach(tx, 'telemetry', certificateId))).toEqual({ attached: true });
    expect(await run((tx) => policies.attach(tx, 'telemetry', certificateId))).toEqual({ attached: false });
    expect(await policies.forCertificate(certificateId)).toEqual([
      { name: 'telemetry', document: documentFor('dt/a') },
    ]);
    const actions = (await registry.audit.list({ subject: 'telemetry' })).map((entry) => entry.action);
    expect(actions).toEqual(['policy.create', 'policy.attach']);
  });

  it('refuses to attach to a certificate the registry does not hold', async () => {
    await run((tx) => policies.add(tx, 'telemetry', documentFor('dt/a')));
    await expect(run((tx) => policies.attach(tx, 'telemetry', 'f'.repeat(64)))).rejects.toMatchObject({
      code: 'registry.not_found',
      field: 'certificateId',
    });
  });

  it('attaches at most ten policies to one certificate', async () => {
    const [certificateId] = (await addCertificates(1)) as [string];
    for (let i = 0; i < 11; i += 1) await run((tx) => policies.add(tx, `p${i}`, documentFor(`t${i}`)));
    for (let i = 0; i < 10; i += 1) await run((tx) => policies.attach(tx, `p${i}`, certificateId));
    await expect(run((tx) => policies.attach(tx, 'p10', certificateId))).rejects.toMatchObject({
      code: 'policy.attach_limit',
    });
    expect(await policies.forCertificate(certificateId)).toHaveLength(10);
  });

  it('detaches, and refuses to delete a policy while a certificate holds it', async () => {
    const [certificateId] = (await addCertificates(1)) as [string];
    await run((tx) => policies.add(tx, 'telemetry', documentFor('dt/a')));
    await run((tx) => policies.attach(tx, 'telemetry', certificateId));
    await expect(run((tx) => policies.delete(tx, 'telemetry'))).rejects.toMatchObject({
      code: 'registry.in_use',
    });
    expect(await run((tx) => policies.detach(tx, 'telemetry', certificateId))).toEqual({ detached: true });
    expect(await run((tx) => policies.detach(tx, 'telemetry', certificateId))).toEqual({ detached: false });
    await run((tx) => policies.delete(tx, 'telemetry'));
    expect(await policies.list()).toEqual([]);
  });

  it('leaves nothing behind when a transaction fails midway', async () => {
    await expect(
      registry.transaction(actor, async (tx) => {
        await policies.add(tx, 'telemetry', documentFor('dt/a'));
        await policies.attach(tx, 'telemetry', 'f'.repeat(64));
      }),
    ).rejects.toMatchObject({ code: 'registry.not_found' });
    expect(await policies.list()).toEqual([]);
    expect(await registry.audit.list({ subject: 'telemetry' })).toEqual([]);
  });

  it('lists policies with their version and certificate counts', async () => {
    const [certificateId] = (await addCertificates(1)) as [string];
    await run((tx) => policies.add(tx, 'b-policy', documentFor('b')));
    await run((tx) => policies.add(tx, 'a-policy', documentFor('a')));
    await run((tx) => policies.add(tx, 'a-policy', documentFor('a2'), true));
    await run((tx) => policies.attach(tx, 'b-policy', certificateId));
    expect(
      (await policies.list()).map(({ name, defaultVersion, versionCount, certificateCount }) => ({
        name,
        defaultVersion,
        versionCount,
        certificateCount,
      })),
    ).toEqual([
      { name: 'a-policy', defaultVersion: 2, versionCount: 2, certificateCount: 0 },
      { name: 'b-policy', defaultVersion: 1, versionCount: 1, certificateCount: 1 },
    ]);
  });
});
