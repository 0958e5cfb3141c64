import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStationError } from '../../../src/api/errors.js';
import type { KeyQuery, KeyStore } from '../../../src/keys/key-store.js';
import { requestForKey } from '../../../src/pki/csr-writer.js';
import { toPem } from '../../../src/pki/pem.js';
import { Pki } from '../../../src/pki/pki.js';
import { makeForeignTokenKey } from '../../helpers/softhsm.js';
import {
  deviceCsr,
  openPkiFixture,
  opensslVerify,
  run,
  writeScratch,
  type PkiFixture,
  type StoreKind,
} from './pki-fixture.js';

const actor = 'test:pki';

async function codeOf(action: () => Promise<unknown>): Promise<string> {
  try {
    await action();
  } catch (error) {
    if (isStationError(error)) return error.code;
    throw error;
  }
  throw new Error('expected a rejection');
}

/** A corporate root made with openssl, outside the station (its key is a test file, as an offline root's would be). */
async function opensslRoot(fixture: PkiFixture): Promise<{ pem: string; pemFile: string; keyFile: string }> {
  const keyFile = path.join(fixture.workDir, 'corp-root.key');
  const pemFile = path.join(fixture.workDir, 'corp-root.pem');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    keyFile,
    '-subj',
    '/O=Acme/CN=Acme Corporate Root',
    '-days',
    '3650',
    '-out',
    pemFile,
    '-addext',
    'keyUsage = critical, keyCertSign, cRLSign',
  ]);
  return { pem: await readFile(pemFile, 'utf8'), pemFile, keyFile };
}

async function opensslSignIntermediate(
  fixture: PkiFixture,
  root: { pemFile: string; keyFile: string },
  csrPem: string,
  name: string,
): Promise<string> {
  const csrFile = await writeScratch(fixture, `${name}.csr`, csrPem);
  const extFile = await writeScratch(
    fixture,
    `${name}.ext`,
    [
      '[v3_int]',
      'basicConstraints = critical, CA:true, pathlen:0',
      'keyUsage = critical, digitalSignature, keyCertSign, cRLSign',
      'subjectKeyIdentifier = hash',
      'authorityKeyIdentifier = keyid',
      '',
    ].join('\n'),
  );
  const outFile = path.join(fixture.workDir, `${name}.pem`);
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    csrFile,
    '-CA',
    root.pemFile,
    '-CAkey',
    root.keyFile,
    '-CAcreateserial',
    '-days',
    '1000',
    '-extfile',
    extFile,
    '-extensions',
    'v3_int',
    '-out',
    outFile,
  ]);
  return readFile(outFile, 'utf8');
}

describe.each<StoreKind>(['pkcs11', 'soft'])('CA lifecycle with the %s key store', (kind) => {
  let fixture: PkiFixture;
  let root: { pem: string; pemFile: string; keyFile: string };

  beforeAll(async () => {
    fixture = await openPkiFixture(kind);
    root = await opensslRoot(fixture);
  });

  afterAll(async () => {
    await fixture?.close();
  });

  it('creates an intermediate: CSR out, signed chain in, device certificates verify up to the corporate root', async () => {
    const csrPem = await fixture.pki.factoryCa.createIntermediateCsr({
      name: 'line-2',
      subject: { commonName: 'Line 2 Issuing CA', organization: 'Acme' },
      algorithm: 'EC-P384',
    });
    expect(await fixture.pki.factoryCa.cas.byName('line-2')).toBeUndefined();
    const { stdout: csrCheck } = await run('openssl', [
      'req',
      '-verify',
      '-noout',
      '-in',
      await writeScratch(fixture, 'check.csr', csrPem),
    ]).catch((error: { stderr: string }) => ({ stdout: error.stderr }));
    expect(csrCheck + '').not.toContain('error');

    const intermediatePem = await opensslSignIntermediate(fixture, root, csrPem, 'line-2');
    const record = await fixture.pki.factoryCa.importChain('line-2', intermediatePem + root.pem, actor);
    expect(record).toMatchObject({
      name: 'line-2',
      external: false,
      status: 'ACTIVE',
      subject: 'O=Acme, CN=Line 2 Issuing CA',
    });
    expect(record.pem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);

    const issued = await fixture.pki.issuer.issueFromCsr(
      deviceCsr('thing-line-2').der,
      { caName: 'line-2' },
      actor,
    );
    const leafFile = await writeScratch(fixture, 'leaf.pem', issued.certificate.pem);
    const intermediateFile = await writeScratch(fixture, 'intermediate.pem', intermediatePem);
    expect(
      await opensslVerify([
        '-x509_strict',
        '-CAfile',
        root.pemFile,
        '-untrusted',
        intermediateFile,
        leafFile,
      ]),
    ).toContain('OK');
  });

  it('refuses a chain that does not carry the pending intermediate key', async () => {
    await fixture.pki.factoryCa.createIntermediateCsr({ name: 'line-3' });
    expect(await codeOf(() => fixture.pki.factoryCa.importChain('line-3', root.pem, actor))).toBe(
      'pki.chain-key-mismatch',
    );
    expect(await codeOf(() => fixture.pki.factoryCa.importChain('line-9', root.pem, actor))).toBe(
      'pki.no-pending-intermediate',
    );
  });

  it('discards the key of a CA no row records (line-3 above), freeing the name; never a recorded CA key', async () => {
    const blocked = () => fixture.pki.factoryCa.createRoot({ name: 'line-3' }, actor);
    await expect(blocked()).rejects.toMatchObject({
      code: 'pki.ca-key-exists',
      message: expect.stringContaining('station ca discard-key line-3'),
    });
    await fixture.pki.factoryCa.discardUnrecordedKey('line-3', actor);
    expect(await fixture.keyStore.findKey({ label: 'ca:line-3' })).toBeUndefined();
    await expect(blocked()).resolves.toMatchObject({ name: 'line-3' });
    expect(await codeOf(() => fixture.pki.factoryCa.discardUnrecordedKey('line-3', actor))).toBe(
      'pki.ca-exists',
    );
    expect(await fixture.keyStore.findKey({ label: 'ca:line-3' })).toBeDefined();
    expect(await codeOf(() => fixture.pki.factoryCa.discardUnrecordedKey('line-8', actor))).toBe(
      'registry.not_found',
    );
  });

  it('registers an external CA for verification only', async () => {
    const record = await fixture.pki.factoryCa.registerExternal('corp-root', root.pem, actor);
    expect(record).toMatchObject({ external: true, status: 'ACTIVE' });
    expect(record.keyLabel).toBeUndefined();
    expect(
      await codeOf(() =>
        fixture.pki.issuer.issueFromCsr(deviceCsr('thing-x').der, { caName: 'corp-root' }, actor),
      ),
    ).toBe('pki.ca-external');
    const notCa = await fixture.pki.issuer.issueFromCsr(
      deviceCsr('thing-y').der,
      { caName: 'line-2' },
      actor,
    );
    expect(
      await codeOf(() => fixture.pki.factoryCa.registerExternal('leaf', notCa.certificate.pem, actor)),
    ).toBe('pki.not-a-ca');
  });

  it('creates a root CA with path length and name constraints, and disables it', async () => {
    const ca = await fixture.pki.factoryCa.createRoot(
      {
        name: 'fenced',
        algorithm: 'RSA-2048',
        days: 365,
        pathLength: 0,
        permittedDns: ['devices.example.com'],
      },
      actor,
    );
    const { stdout } = await run('openssl', [
      'x509',
      '-noout',
      '-text',
      '-in',
      await writeScratch(fixture, 'fenced.pem', ca.pem),
    ]);
    expect(stdout).toContain('CA:TRUE, pathlen:0');
    expect(stdout).toMatch(/Name Constraints: critical\s+Permitted:\s+DNS:devices.example.com/);
    expect(stdout).toContain('Certificate Sign, CRL Sign');
    expect(await codeOf(() => fixture.pki.factoryCa.createRoot({ name: 'fenced' }, actor))).toBe(
      'pki.ca-exists',
    );

    await fixture.pki.factoryCa.disable('fenced', actor);
    expect(
      await codeOf(() =>
        fixture.pki.issuer.issueFromCsr(deviceCsr('thing-z').der, { caName: 'fenced' }, actor),
      ),
    ).toBe('pki.ca-disabled');
    const names = (await fixture.pki.factoryCa.list()).map((entry) => `${entry.name}:${entry.status}`);
    expect(names).toEqual(['corp-root:ACTIVE', 'fenced:DISABLED', 'line-2:ACTIVE', 'line-3:ACTIVE']);
  });
});

describe.each<StoreKind>(['pkcs11', 'soft'])('CA keys with the %s key store', (kind) => {
  let fixture: PkiFixture;
  let root: { pem: string; pemFile: string; keyFile: string };

  beforeAll(async () => {
    fixture = await openPkiFixture(kind);
    root = await opensslRoot(fixture);
  });

  afterAll(async () => {
    await fixture?.close();
  });

  it('refuses a CA key that can leave the key store, at chain import and when signing', async () => {
    // A key labelled like a pending intermediate, made outside ca create: readable off the token, or a
    // claim key (exportable) in the soft store.
    if (fixture.token) {
      makeForeignTokenKey(fixture.token, 'ca:line-x', { sensitive: false, extractable: true });
    } else {
      await fixture.keyStore.generateKeyPair({ algorithm: 'EC-P256', label: 'ca:line-x', purpose: 'claim' });
    }
    const key = (await fixture.keyStore.findKey({ label: 'ca:line-x' }))!;
    expect(key.neverExtractable).toBe(false);
    const csrPem = toPem(
      'CERTIFICATE REQUEST',
      await requestForKey(fixture.keyStore, key, { commonName: 'Line X CA' }),
    );
    const chain = (await opensslSignIntermediate(fixture, root, csrPem, 'line-x')) + root.pem;
    await expect(fixture.pki.factoryCa.importChain('line-x', chain, actor)).rejects.toMatchObject({
      code: 'pki.ca-key-extractable',
      message: expect.stringContaining('station ca discard-key line-x'),
    });
    // A CA recorded before the import checked its key (here: through a store that vouched for it).
    const vouching: KeyStore = Object.create(fixture.keyStore, {
      findKey: {
        value: async (query: KeyQuery) => {
          const found = await fixture.keyStore.findKey(query);
          return found && { ...found, neverExtractable: true };
        },
      },
    });
    await new Pki(fixture.registry, vouching).factoryCa.importChain('line-x', chain, actor);
    await expect(fixture.pki.factoryCa.signingCa('line-x')).rejects.toMatchObject({
      code: 'pki.ca-key-extractable',
      message: expect.stringContaining('station ca disable line-x'),
    });
  });
});
