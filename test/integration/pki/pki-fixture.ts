// A data folder with a registry and a real key store (a SoftHSM2 token or the soft store), for PKI tests.
import { execFile } from 'node:child_process';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { KeyStore } from '../../../src/keys/key-store.js';
import { Pkcs11KeyStore } from '../../../src/keys/pkcs11/pkcs11-key-store.js';
import { SoftKeyStore } from '../../../src/keys/soft/soft-key-store.js';
import { signatureAlgorithmFor } from '../../../src/pki/algorithms.js';
import { encodeCsr, encodeCsrInfo } from '../../../src/pki/csr-writer.js';
import { encodeName } from '../../../src/pki/names.js';
import { Pki } from '../../../src/pki/pki.js';
import { Registry } from '../../../src/registry/registry.js';
import { createSoftHsmToken, type SoftHsmToken } from '../../helpers/softhsm.js';

export const run = promisify(execFile);

export type StoreKind = 'pkcs11' | 'soft';

export interface PkiFixture {
  dataDir: string;
  /** Scratch files of the test (CSRs, exported PEMs), outside the data folder. */
  workDir: string;
  registry: Registry;
  keyStore: KeyStore;
  pki: Pki;
  token?: SoftHsmToken;
  close(): Promise<void>;
}

export const softPassphrase = 'correct horse battery staple';

export async function openPkiFixture(kind: StoreKind): Promise<PkiFixture> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'station-pki-data-'));
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'station-pki-work-'));
  const token = kind === 'pkcs11' ? await createSoftHsmToken() : undefined;
  const keyStore: KeyStore = token
    ? await Pkcs11KeyStore.open({ module: token.module, tokenLabel: token.tokenLabel, pin: token.pin })
    : await SoftKeyStore.open({ file: path.join(dataDir, 'soft-keys.json'), passphrase: softPassphrase });
  const registry = await Registry.open(path.join(dataDir, 'registry.sqlite'));
  return {
    dataDir,
    workDir,
    registry,
    keyStore,
    pki: new Pki(registry, keyStore),
    ...(token && { token }),
    async close() {
      await registry.close();
      await keyStore.close();
      await token?.cleanup();
      await rm(dataDir, { recursive: true, force: true });
      await rm(workDir, { recursive: true, force: true });
    },
  };
}

/** A device-made CSR (key generated here with node:crypto, as a device would). */
export function deviceCsr(
  commonName: string,
  options: { keys?: { publicKey: KeyObject; privateKey: KeyObject }; hash?: string } = {},
): { der: Uint8Array; keys: { publicKey: KeyObject; privateKey: KeyObject } } {
  const keys = options.keys ?? generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = new Uint8Array(keys.publicKey.export({ type: 'spki', format: 'der' }));
  const info = encodeCsrInfo(encodeName({ commonName }), spki);
  const algorithm = signatureAlgorithmFor(
    keys.publicKey.asymmetricKeyType === 'rsa' ? 'RSA-2048' : 'EC-P256',
  );
  const der = encodeCsr(info, algorithm, sign(options.hash ?? 'sha256', info, keys.privateKey));
  return { der, keys };
}

export async function writeScratch(
  fixture: PkiFixture,
  name: string,
  content: string | Uint8Array,
): Promise<string> {
  const file = path.join(fixture.workDir, name);
  await writeFile(file, content);
  return file;
}

/** openssl verify; returns its output, throws with stderr when it fails. */
export async function opensslVerify(args: string[]): Promise<string> {
  const { stdout } = await run('openssl', ['verify', ...args]);
  return stdout;
}

export { filesUnder } from '../../helpers/folder-files.js';
