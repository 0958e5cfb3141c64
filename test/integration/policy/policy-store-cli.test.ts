import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registryFile } from '../../../src/config/settings.js';
import { CertificateTable } from '../../../src/registry/certificates.js';
import { OutboxTable, type OutboxEntry } from '../../../src/registry/outbox.js';
import { PolicyRegistry } from '../../../src/registry/policies.js';
import { Registry } from '../../../src/registry/registry.js';

const repoRoot = path.resolve(fileURLToPath(import.meta.url), '../../../..');
const referenceDir = path.join(repoRoot, '..', 'shared', 'reference', 'aws', 'policies');
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'policy-store-cli-'));
const certificateId = 'ab'.repeat(32);

function station(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync('node', ['--import', 'tsx', 'src/cli/main.ts', '--data', dataDir, ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

beforeAll(async () => {
  expect(station('init').status).toBe(0);
  // A certificate as the PKI would have stored it; the CLI has to find it to attach policies.
  const registry = await Registry.open(registryFile(dataDir));
  try {
    await registry.transaction('test:setup', (tx) =>
      new CertificateTable(registry.reader).insert(tx, {
        id: certificateId,
        pem: 'certificate',
        subject: 'CN=sensor-7',
        serialHex: '01',
        notBefore: '2025-01-01T00:00:00.000Z',
        notAfter: '2035-01-01T00:00:00.000Z',
        status: 'ACTIVE',
        keyOrigin: 'device',
      }),
    );
  } finally {
    await registry.close();
  }
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** Runs `work` on the data folder's registry, closed again before the next command. */
async function withDataRegistry<T>(work: (registry: Registry) => Promise<T>): Promise<T> {
  const registry = await Registry.open(registryFile(dataDir));
  try {
    return await work(registry);
  } finally {
    await registry.close();
  }
}

/** The subject's row in the upload queue. */
async function queuedUpload(kind: string, subject: string): Promise<OutboxEntry | undefined> {
  const pending = await withDataRegistry((registry) => new OutboxTable(registry.reader).pending(1_000));
  return pending.find((entry) => entry.kind === kind && entry.subject === subject);
}

describe('station policy add|list|attach|detach', () => {
  it('stores a reference policy, then a new version of it', () => {
    const first = station(
      '--json',
      'policy',
      'add',
      'claim',
      path.join(referenceDir, 'P15-fleet-provisioning-claim-certificate.json'),
    );
    expect(first.status).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({ name: 'claim', version: 1, isDefault: true, created: true });
    const second = station(
      '--json',
      'policy',
      'add',
      'claim',
      path.join(referenceDir, 'P01-connect-client1-only.json'),
    );
    expect(JSON.parse(second.stdout)).toMatchObject({ version: 2, isDefault: true, created: false });
  });

  it('stores nothing from an invalid document and lists the faults', () => {
    const run = station(
      '--json',
      'policy',
      'add',
      'broken',
      path.join(referenceDir, 'P21-malformed-doc-policy-must-be-rejected.json'),
    );
    expect(run.status).toBe(1);
    expect(JSON.parse(run.stdout)).toEqual([expect.objectContaining({ path: '' })]);
    const list = JSON.parse(station('--json', 'policy', 'list').stdout) as { name: string }[];
    expect(list.map((policy) => policy.name)).toEqual(['claim']);
  });

  it('attaches a policy to a certificate in the registry and detaches it', () => {
    const attach = station('--json', 'policy', 'attach', 'claim', '--cert', certificateId);
    expect(attach.status).toBe(0);
    expect(JSON.parse(attach.stdout)).toEqual({ policyName: 'claim', certificateId, attached: true });
    const described = JSON.parse(station('--json', 'policy', 'describe', 'claim').stdout) as {
      certificateIds: string[];
    };
    expect(described.certificateIds).toEqual([certificateId]);
    // The id as another tool may print it, in capitals.
    const detach = station('--json', 'policy', 'detach', 'claim', '--cert', certificateId.toUpperCase());
    expect(JSON.parse(detach.stdout)).toEqual({ policyName: 'claim', certificateId, detached: true });
    const notAnId = station('policy', 'attach', 'claim', '--cert', 'abc');
    expect(notAnId.stderr).toContain('cert: a certificate id is 64 hex digits');
  });

  it('refuses to attach to a certificate the registry does not hold', () => {
    const run = station('policy', 'attach', 'claim', '--cert', 'cd'.repeat(32));
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('is not in the registry');
  });

  it('sets the default version, deletes versions and deletes the policy, audited and queued for upload', async () => {
    const file = path.join(referenceDir, 'P03-publish-prefix-thing-name.json');
    // Versions 1 to 5 (1 the default) straight into the registry: a CLI process costs seconds here.
    await withDataRegistry((registry) =>
      registry.transaction('test:setup', async (tx) => {
        const policies = new PolicyRegistry(registry.reader);
        for (let version = 1; version <= 5; version += 1)
          await policies.add(
            tx,
            'telemetry',
            JSON.stringify({ Version: '2012-10-17', Statement: [] }),
            false,
          );
      }),
    );
    // The version limit names the command that makes room.
    const sixth = station('policy', 'add', 'telemetry', file);
    expect(sixth.status).toBe(1);
    expect(sixth.stderr).toContain('station policy delete-version telemetry VERSION');

    const setDefault = station('--json', 'policy', 'set-default', 'telemetry', '2');
    expect(setDefault.status).toBe(0);
    expect(JSON.parse(setDefault.stdout)).toEqual({
      policyName: 'telemetry',
      defaultVersion: 2,
      previousVersion: 1,
      changed: true,
    });
    expect(station('policy', 'set-default', 'telemetry', '2').stdout).toContain(
      'version 2 was already the default of policy telemetry',
    );
    expect((await queuedUpload('policy', 'telemetry'))?.payload).toMatchObject({ version: 2 });

    // The default version stays, as in AWS (DeleteConflictException), and the refusal says what to do.
    const defaultVersion = station('policy', 'delete-version', 'telemetry', '2');
    expect(defaultVersion.status).toBe(1);
    expect(defaultVersion.stderr).toContain('station policy set-default telemetry VERSION');
    expect(station('policy', 'delete-version', 'telemetry', '9').stderr).toContain(
      'Policy telemetry has no version 9',
    );
    const deleted = station('--json', 'policy', 'delete-version', 'telemetry', '1');
    expect(deleted.status).toBe(0);
    expect(JSON.parse(deleted.stdout)).toEqual({ policyName: 'telemetry', version: 1, deleted: true });
    const described = JSON.parse(station('--json', 'policy', 'describe', 'telemetry').stdout) as {
      versions: { version: number }[];
    };
    expect(described.versions.map((version) => version.version)).toEqual([2, 3, 4, 5]);
    expect(station('policy', 'add', 'telemetry', file).status).toBe(0);

    // Refused while any certificate holds it, naming the certificate and the detach command.
    expect(station('policy', 'attach', 'telemetry', '--cert', certificateId).status).toBe(0);
    const held = station('policy', 'delete', 'telemetry');
    expect(held.status).toBe(1);
    expect(held.stderr).toContain(certificateId);
    expect(held.stderr).toContain('station policy detach telemetry --cert ID');
    expect(station('policy', 'detach', 'telemetry', '--cert', certificateId).status).toBe(0);
    const gone = station('--json', 'policy', 'delete', 'telemetry');
    expect(gone.status).toBe(0);
    expect(JSON.parse(gone.stdout)).toEqual({ policyName: 'telemetry', deleted: true });
    expect(station('policy', 'describe', 'telemetry').status).toBe(1);
    expect((await queuedUpload('policy', 'telemetry'))?.payload).toEqual({
      policyName: 'telemetry',
      deleted: true,
    });

    const audit = JSON.parse(
      station('--json', 'audit', 'list', '--subject', 'telemetry', '--action', 'policy.*').stdout,
    ) as { actor: string; action: string; details: Record<string, unknown> }[];
    const rows = audit.filter((row) =>
      ['policy.version.default', 'policy.version.delete', 'policy.delete'].includes(row.action),
    );
    expect(rows).toMatchObject([
      { actor: expect.stringMatching(/^cli:/), details: { version: 2, previous: 1 } },
      { action: 'policy.version.delete', details: { version: 1, document: expect.any(String) } },
      {
        action: 'policy.delete',
        details: {
          defaultVersion: 6,
          versions: expect.arrayContaining([{ version: 6, document: expect.any(String) }]),
        },
      },
    ]);
    // About 20 CLI processes, each a few seconds on a busy machine.
  }, 180_000);

  it('refuses a policy name AWS would refuse', () => {
    const run = station(
      'policy',
      'add',
      'no spaces',
      path.join(referenceDir, 'P01-connect-client1-only.json'),
    );
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('policyName');
  });
});
