import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registryFile } from '../../../src/config/settings.js';
import { CertificateTable } from '../../../src/registry/certificates.js';
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
