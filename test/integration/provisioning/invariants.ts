// The invariants a provisioning run must keep (issue: one thing and one ACTIVE certificate per device,
// certificates that verify against their CA, devices holding what the registry says, an exact quota count,
// an intact audit chain, one outbox row per change). Devices of claim jobs carry the claim instead of a
// thing; devices of existing-certificate jobs keep the certificate (and CA slot) they came with.
import { execFile } from 'node:child_process';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import type { DeviceSimulator } from '../../../hardware/drivers/device-driver.js';
import { derBlocksFrom } from '../../../src/pki/pem.js';
import type { CertificateRecord } from '../../../src/registry/certificates.js';
import { ClaimTable } from '../../../src/registry/claims.js';
import type { Station } from '../../../src/station.js';

const run = promisify(execFile);

export async function expectInvariants(station: Station, devices: readonly DeviceSimulator[]): Promise<void> {
  const reader = station.registry.reader;
  const pki = station.readOnlyPki();
  const claims = new ClaimTable(reader);
  const folder = await mkdtemp(path.join(os.tmpdir(), 'station-invariants-'));
  try {
    /** Certificate files to check with openssl, by the id of the CA they must verify against. */
    const certificateFiles = new Map<string, string[]>();
    for (const device of devices) {
      const who = `${device.driver} ${device.identity.deviceId}`;
      const stored = device.storedCredentials();
      const bound = await station.devices.byIdentity(device.driver, device.identity.deviceId);
      const claimIds = await claims.carriedBy(device.driver, device.identity.deviceId);
      let certificate: CertificateRecord;
      if (!bound?.thingName && claimIds.length > 0) {
        // A claim device: no thing (AWS makes it at RegisterThing); it holds the claim it is recorded with.
        certificate = (await pki.certificates.byId(claimIds.at(-1)!))!;
        expect(certificate.keyOrigin, `${who} carries a claim certificate`).toBe('claim');
        const carrier = (await claims.carriers(certificate.id)).find(
          (row) => row.driver === device.driver && row.deviceId === device.identity.deviceId,
        );
        expect(carrier?.recordState, `${who} claim record`).toBe('PROVISIONED');
      } else {
        expect(bound?.thingName, `${who} has a thing`).toBeTruthy();
        const thing = await station.registry.things.describe(bound!.thingName!);
        const certificates = await Promise.all(thing!.certificateIds.map((id) => pki.certificates.byId(id)));
        const active = certificates.filter((entry) => entry?.status === 'ACTIVE');
        expect(active, `${who} has exactly one ACTIVE certificate`).toHaveLength(1);
        certificate = active[0]!;
      }
      const ca = certificate.caId ? await pki.factoryCa.cas.byId(certificate.caId) : undefined;
      if (certificate.keyOrigin === 'external') {
        // The device keeps what it came with (PEM or DER); the station wrote nothing.
        const [held] = derBlocksFrom(stored.get('certificate') ?? new Uint8Array(), ['CERTIFICATE']);
        expect(
          held && new X509Certificate(held).raw.equals(new X509Certificate(certificate.pem).raw),
          `${who} keeps its registered certificate`,
        ).toBe(true);
      } else {
        expect(
          Buffer.from(stored.get('certificate') ?? []).toString(),
          `${who} stores its registry certificate`,
        ).toBe(certificate.pem);
        expect(Buffer.from(stored.get('ca') ?? []).toString(), `${who} stores the CA chain`).toBe(ca?.pem);
      }
      if (certificate.keyOrigin === 'hsm-injected' || certificate.keyOrigin === 'claim') {
        const key = createPrivateKey(Buffer.from(stored.get('key')!));
        const fromCertificate = new X509Certificate(certificate.pem).publicKey.export({
          format: 'der',
          type: 'spki',
        });
        expect(
          createPublicKey(key).export({ format: 'der', type: 'spki' }).equals(fromCertificate),
          `${who} key`,
        ).toBe(true);
      }
      if (!ca) continue; // registered without a CA: nothing to verify it against
      const file = path.join(folder, `${device.driver}-${device.identity.deviceId}.pem`);
      await writeFile(file, certificate.pem);
      certificateFiles.set(ca.id, [...(certificateFiles.get(ca.id) ?? []), file]);
    }
    for (const [caId, files] of certificateFiles) {
      const caFile = path.join(folder, `ca-${caId}.pem`);
      await writeFile(caFile, (await pki.factoryCa.cas.byId(caId))!.pem);
      const { stdout } = await run('openssl', ['verify', '-x509_strict', '-CAfile', caFile, ...files]);
      expect(
        stdout
          .trim()
          .split('\n')
          .every((line) => line.endsWith(': OK')),
      ).toBe(true);
    }
  } finally {
    await rm(folder, { recursive: true, force: true });
  }

  // The quota counts every certificate a job signed, exactly (existing certificates were signed elsewhere).
  for (const job of await station.jobs.list()) {
    const row = await reader.get<{ n: number }>(
      "SELECT count(*) AS n FROM certificates WHERE job_id = ? AND key_origin IN ('device', 'hsm-injected')",
      [job.id],
    );
    expect(job.issuedCount, `job ${job.id} quota count`).toBe(row!.n);
  }
  // Nothing doubled: no device bound twice, no thing with two live certificates, one outbox row per change.
  const doubleLive = await reader.all(
    `SELECT p.thing_name FROM thing_principals p JOIN certificates c ON c.id = p.certificate_id
      WHERE c.status = 'ACTIVE' GROUP BY p.thing_name HAVING count(*) > 1`,
  );
  expect(doubleLive).toEqual([]);
  const certificates = await reader.get<{ n: number }>('SELECT count(*) AS n FROM certificates');
  const queued = await reader.get<{ n: number }>(
    "SELECT count(*) AS n FROM outbox WHERE kind = 'certificate'",
  );
  expect(queued!.n, 'one outbox row per certificate').toBe(certificates!.n);
  // What an upload would send matches the registry: a revoked certificate is not sent ACTIVE.
  const stale = await reader.all(
    `SELECT o.subject, json_extract(o.payload, '$.status') AS queued, c.status FROM outbox o
       JOIN certificates c ON c.id = o.subject
      WHERE o.kind = 'certificate' AND json_extract(o.payload, '$.status') IS NOT c.status`,
  );
  expect(stale, 'outbox certificate rows carry the registry status').toEqual([]);
  // A policy a template's document made (named by its hash) is queued before it is attached.
  const unqueuedPolicies = await reader.all(
    `SELECT DISTINCT json_extract(a.payload, '$.policyName') AS name FROM outbox a
      WHERE a.kind = 'policy-attachment' AND length(json_extract(a.payload, '$.policyName')) = 40
        AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.kind = 'policy'
                         AND p.subject = json_extract(a.payload, '$.policyName') AND p.id < a.id)`,
  );
  expect(unqueuedPolicies, 'template-made policies queued before their attachments').toEqual([]);
  const unfinished = await station.records.unfinished();
  expect(unfinished, 'no attempt left unfinished').toEqual([]);
  const audit = await station.registry.audit.verify();
  expect(audit.ok, audit.firstBroken?.message ?? '').toBe(true);
}

/** Private keys on the token: only the CA's may remain (device keys are destroyed after injection). */
export async function tokenPrivateKeyLabels(
  module: string,
  tokenLabel: string,
  pin: string,
): Promise<string[]> {
  const { stdout } = await run('pkcs11-tool', [
    '--module',
    module,
    '--token-label',
    tokenLabel,
    '--login',
    '--pin',
    pin,
    '--list-objects',
    '--type',
    'privkey',
  ]);
  return [...stdout.matchAll(/label:\s+(.*)/g)].map((match) => match[1]!.trim());
}
