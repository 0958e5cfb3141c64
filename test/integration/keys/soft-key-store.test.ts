import { execFile } from 'node:child_process';
import { createPrivateKey, createPublicKey, verify } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StationError } from '../../../src/api/errors.js';
import { keyAlgorithms } from '../../../src/keys/key-store.js';
import type { KeyHandle } from '../../../src/keys/key-store.js';
import { SoftKeyStore } from '../../../src/keys/soft/soft-key-store.js';
import { repoRoot } from '../../helpers/repo-root.js';

const execFileAsync = promisify(execFile);

const passphrase = 'correct horse battery staple';
let dir: string;
let file: string;
const opened: SoftKeyStore[] = [];

async function openStore(
  options: Partial<Parameters<typeof SoftKeyStore.open>[0]> = {},
): Promise<SoftKeyStore> {
  const store = await SoftKeyStore.open({ file, passphrase, env: {}, ...options });
  opened.push(store);
  return store;
}

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'station-soft-keys-'));
  file = path.join(dir, 'soft-keys.json');
});

afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
  await rm(dir, { recursive: true, force: true });
});

function verifies(
  key: KeyHandle,
  data: Uint8Array,
  signature: Uint8Array,
  hash: 'sha256' | 'sha384',
): boolean {
  const publicKey = createPublicKey({ key: Buffer.from(key.publicKeySpki), format: 'der', type: 'spki' });
  return verify(hash, data, { key: publicKey, dsaEncoding: 'der' }, signature);
}

async function expectStationError(promise: Promise<unknown>, code: string): Promise<StationError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(StationError);
  expect((error as StationError).code).toBe(code);
  return error as StationError;
}

describe('SoftKeyStore', () => {
  it('says plainly that it is not an HSM', async () => {
    const store = await openStore();
    expect(store.kind).toBe('soft');
    expect(store.isHardware).toBe(false);
    expect(store.description).toContain('NOT an HSM');
  });

  for (const algorithm of keyAlgorithms) {
    it(`generates a ${algorithm} key whose SHA-256 and SHA-384 signatures verify against its SPKI`, async () => {
      const store = await openStore();
      const key = await store.generateKeyPair({ algorithm, label: `device-${algorithm}`, purpose: 'device' });
      expect(key.algorithm).toBe(algorithm);
      const data = Buffer.from('tbsCertificate bytes');
      expect(verifies(key, data, await store.sign(key, data, 'SHA-256'), 'sha256')).toBe(true);
      expect(verifies(key, data, await store.sign(key, data, 'SHA-384'), 'sha384')).toBe(true);
      expect(verifies(key, Buffer.from('other'), await store.sign(key, data, 'SHA-256'), 'sha256')).toBe(
        false,
      );
    });
  }

  it('keeps CA keys across reopening and device keys only in memory', async () => {
    const first = await openStore();
    const ca = await first.generateKeyPair({ algorithm: 'EC-P384', label: 'factory-ca', purpose: 'ca' });
    const device = await first.generateKeyPair({
      algorithm: 'EC-P256',
      label: 'device-1',
      purpose: 'device',
    });
    await first.close();

    const second = await openStore();
    const found = await second.findKey({ label: 'factory-ca' });
    expect(found).toEqual(ca);
    expect(await second.findKey({ id: ca.id })).toEqual(ca);
    expect(await second.findKey({ id: device.id })).toBeUndefined();
    const data = Buffer.from('crl bytes');
    expect(verifies(ca, data, await second.sign(found!, data, 'SHA-384'), 'sha384')).toBe(true);
  });

  it('exports a device key as PKCS#8 and refuses to export a CA key', async () => {
    const store = await openStore();
    const device = await store.generateKeyPair({ algorithm: 'EC-P256', label: 'device', purpose: 'device' });
    const pkcs8 = Buffer.from(await store.exportPrivateKey(device));
    const derived = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }));
    expect(derived.export({ format: 'der', type: 'spki' }).equals(Buffer.from(device.publicKeySpki))).toBe(
      true,
    );

    const ca = await store.generateKeyPair({ algorithm: 'EC-P256', label: 'ca', purpose: 'ca' });
    await expectStationError(store.exportPrivateKey(ca), 'keys.not-extractable');
    await expectStationError(store.exportPrivateKey({ ...ca, extractable: true }), 'keys.not-extractable');
  });

  it('keeps a claim key in its encrypted file and exports it after the store is reopened', async () => {
    const store = await openStore();
    const claim = await store.generateKeyPair({
      algorithm: 'EC-P256',
      label: 'claim:line-1',
      purpose: 'claim',
    });
    expect(claim).toMatchObject({ purpose: 'claim', extractable: true });
    const exported = Buffer.from(await store.exportPrivateKey(claim));
    await store.close();

    const bytes = await readFile(file);
    expect(bytes.includes(exported)).toBe(false);
    expect(bytes.toString('latin1')).not.toContain(exported.toString('base64').slice(0, 40));
    expect(bytes.toString('latin1')).not.toContain('claim:line-1');
    expect(await readdir(dir)).toEqual(['soft-keys.json']);

    const reopened = await openStore();
    const found = await reopened.findKey({ label: 'claim:line-1' });
    expect(found).toEqual(claim);
    expect(Buffer.from(await reopened.exportPrivateKey(found!)).equals(exported)).toBe(true);
    await expectStationError(
      reopened.generateKeyPair({ algorithm: 'EC-P256', label: 'claim:line-1', purpose: 'claim' }),
      'keys.label-taken',
    );
  });

  it('forgets a destroyed CA key, also in the file', async () => {
    const store = await openStore();
    const ca = await store.generateKeyPair({ algorithm: 'EC-P256', label: 'retired-ca', purpose: 'ca' });
    await store.destroyKey(ca);
    await expectStationError(store.sign(ca, Buffer.from('x'), 'SHA-256'), 'keys.key-not-found');
    await store.close();
    expect(await (await openStore()).findKey({ label: 'retired-ca' })).toBeUndefined();
  });

  it('refuses a second CA key with a label already in use', async () => {
    const store = await openStore();
    await store.generateKeyPair({ algorithm: 'EC-P256', label: 'dup', purpose: 'ca' });
    await expectStationError(
      store.generateKeyPair({ algorithm: 'EC-P256', label: 'dup', purpose: 'ca' }),
      'keys.label-taken',
    );
  });

  it('persists every CA key made concurrently', async () => {
    const store = await openStore();
    const made = await Promise.all(
      Array.from({ length: 6 }, (_, index) =>
        store.generateKeyPair({ algorithm: 'EC-P256', label: `ca-${index}`, purpose: 'ca' }),
      ),
    );
    await store.close();
    const reopened = await openStore();
    for (const key of made) expect(await reopened.findKey({ id: key.id })).toEqual(key);
  });

  it('keeps the CA keys of two stores sharing the file (a CLI beside a running station)', async () => {
    const station = await openStore();
    const cli = await openStore();
    const fromCli = await cli.generateKeyPair({ algorithm: 'EC-P256', label: 'made-by-cli', purpose: 'ca' });
    expect(await station.findKey({ label: 'made-by-cli' })).toEqual(fromCli);
    const fromStation = await station.generateKeyPair({
      algorithm: 'EC-P256',
      label: 'made-by-station',
      purpose: 'ca',
    });
    await cli.destroyKey(fromCli);
    await station.close();
    await cli.close();

    const reopened = await openStore();
    expect(await reopened.findKey({ id: fromStation.id })).toEqual(fromStation);
    expect(await reopened.findKey({ id: fromCli.id })).toBeUndefined();
  });

  it('loses no key when two processes write the file at the same moment', async () => {
    // station ca create beside station claim create: each write reads the file and writes it back, so
    // without a lock between the processes one drops the other's new keys.
    await (await openStore()).close();
    const startAt = Date.now() + 1_500;
    const script = (tag: string) => `
      const { SoftKeyStore } = await import(${JSON.stringify(path.join(repoRoot, 'src/keys/soft/soft-key-store.ts'))});
      const store = await SoftKeyStore.open({ file: ${JSON.stringify(file)}, passphrase: ${JSON.stringify(passphrase)}, env: {} });
      await new Promise((resolve) => setTimeout(resolve, ${startAt} - Date.now()));
      for (let index = 0; index < 15; index++)
        await store.generateKeyPair({ algorithm: 'EC-P256', label: 'claim:${tag}-' + index, purpose: 'claim' });
      await store.close();`;
    await Promise.all(
      ['a', 'b'].map((tag) =>
        execFileAsync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script(tag)], {
          cwd: repoRoot,
        }),
      ),
    );
    const reopened = await openStore();
    for (const tag of ['a', 'b'])
      for (let index = 0; index < 15; index++)
        expect(
          await reopened.findKey({ label: `claim:${tag}-${index}` }),
          `claim:${tag}-${index}`,
        ).toBeDefined();
    expect(await readdir(dir)).toEqual(['soft-keys.json']);
  }, 60_000);

  it('does not bring back a key another store destroyed', async () => {
    const [first, second] = [await openStore(), await openStore()];
    const key = await first.generateKeyPair({ algorithm: 'EC-P256', label: 'claim:gone', purpose: 'claim' });
    expect(await second.findKey({ id: key.id })).toEqual(key);
    await first.destroyKey(key);
    await second.generateKeyPair({ algorithm: 'EC-P256', label: 'claim:new', purpose: 'claim' });
    const reopened = await openStore();
    expect(await reopened.findKey({ id: key.id })).toBeUndefined();
    expect(await reopened.findKey({ label: 'claim:new' })).toBeDefined();
  });

  it('writes every key again when its file was deleted while the store was open', async () => {
    const store = await openStore();
    const ca = await store.generateKeyPair({ algorithm: 'EC-P256', label: 'ca', purpose: 'ca' });
    await rm(file);
    await store.generateKeyPair({ algorithm: 'EC-P256', label: 'claim:after', purpose: 'claim' });
    const reopened = await openStore();
    expect(await reopened.findKey({ id: ca.id })).toEqual(ca);
    expect(await reopened.findKey({ label: 'claim:after' })).toBeDefined();
  });

  it('keeps a newer CA key when an older copy of the file is put back while the store is open', async () => {
    const store = await openStore();
    const older = await store.generateKeyPair({ algorithm: 'EC-P256', label: 'ca-old', purpose: 'ca' });
    const backup = await readFile(file);
    const newer = await store.generateKeyPair({ algorithm: 'EC-P256', label: 'ca-new', purpose: 'ca' });
    await writeFile(file, backup); // restored from a backup, as the corrupt-file message advises
    await store.generateKeyPair({ algorithm: 'EC-P256', label: 'claim:after', purpose: 'claim' });
    const reopened = await openStore();
    expect(await reopened.findKey({ id: older.id })).toEqual(older);
    expect(await reopened.findKey({ id: newer.id })).toEqual(newer);
  });

  it('waits for a lock another process holds, and takes over one a killed process left', async () => {
    const store = await openStore();
    const lock = `${file}.lock`;
    await writeFile(lock, '99999');
    const waiting = store.generateKeyPair({ algorithm: 'EC-P256', label: 'claim:waits', purpose: 'claim' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await rm(lock);
    await waiting;
    // A lock as old as a killed holder leaves it: the store does not wait for it.
    await writeFile(lock, '99999');
    const old = new Date(Date.now() - 60_000);
    await utimes(lock, old, old);
    await store.generateKeyPair({ algorithm: 'EC-P256', label: 'claim:stale', purpose: 'claim' });
    expect(await readdir(dir)).toEqual(['soft-keys.json']);
  });

  it('refuses to overwrite a key file that was replaced while it was open', async () => {
    const store = await openStore();
    await rm(file);
    await openStore({ passphrase: 'another long passphrase' });
    await expectStationError(
      store.generateKeyPair({ algorithm: 'EC-P256', label: 'ca', purpose: 'ca' }),
      'keys.soft-file-replaced',
    );
  });

  it('holds no key material in clear in its file and leaves no temp files', async () => {
    const store = await openStore();
    await store.generateKeyPair({ algorithm: 'EC-P256', label: 'ca-p256', purpose: 'ca' });
    await store.generateKeyPair({ algorithm: 'RSA-2048', label: 'ca-rsa', purpose: 'ca' });
    const device = await store.generateKeyPair({ algorithm: 'EC-P256', label: 'device', purpose: 'device' });
    const devicePkcs8 = Buffer.from(await store.exportPrivateKey(device));
    await store.close();

    expect(await readdir(dir)).toEqual(['soft-keys.json']);
    expect((await stat(file)).mode & 0o077).toBe(0);
    const bytes = await readFile(file);
    const text = bytes.toString('latin1');
    expect(text).not.toContain('PRIVATE KEY');
    // The DER and base64 openings of a P-256 and an RSA PKCS#8, as node writes them.
    const p256Pkcs8Head = Buffer.from('308187020100301306072a8648ce3d020106082a8648ce3d030107', 'hex');
    const rsaPkcs8Head = Buffer.from('300d06092a864886f70d0101010500', 'hex');
    expect(bytes.includes(p256Pkcs8Head)).toBe(false);
    expect(bytes.includes(rsaPkcs8Head)).toBe(false);
    expect(text).not.toContain(p256Pkcs8Head.toString('base64').slice(0, 24));
    expect(text).not.toContain('MIIEv');
    expect(bytes.includes(devicePkcs8)).toBe(false);
    expect(text).not.toContain(devicePkcs8.toString('base64').slice(0, 40));
    expect(text).not.toContain('ca-p256');
    expect(text).toContain('NOT an HSM');
  });

  it('refuses a wrong passphrase', async () => {
    await (await openStore()).generateKeyPair({ algorithm: 'EC-P256', label: 'ca', purpose: 'ca' });
    const error = await expectStationError(
      openStore({ passphrase: 'not the passphrase' }),
      'keys.wrong-passphrase',
    );
    expect(error.field).toBe('passphrase');
  });

  it('refuses a file whose ciphertext was altered', async () => {
    await (await openStore()).generateKeyPair({ algorithm: 'EC-P256', label: 'ca', purpose: 'ca' });
    const envelope = JSON.parse(await readFile(file, 'utf8')) as { ciphertext: string };
    const ciphertext = Buffer.from(envelope.ciphertext, 'base64');
    ciphertext[5]! ^= 0x01;
    await writeFile(file, JSON.stringify({ ...envelope, ciphertext: ciphertext.toString('base64') }));
    await expectStationError(openStore(), 'keys.wrong-passphrase');
  });

  it('says the file is damaged when it is not a key file', async () => {
    await writeFile(file, 'garbage');
    await expectStationError(openStore(), 'keys.soft-file-corrupt');
    await writeFile(file, '{"format":"something else"}');
    await expectStationError(openStore(), 'keys.soft-file-corrupt');
  });

  it('takes the passphrase from STATION_SOFT_PASSPHRASE, else from the prompt, else says it needs one', async () => {
    await openStore({ passphrase: undefined, env: { STATION_SOFT_PASSPHRASE: passphrase } });
    let asked = 0;
    await openStore({
      passphrase: undefined,
      promptPassphrase: () => {
        asked++;
        return Promise.resolve(passphrase);
      },
    });
    expect(asked).toBe(1);
    await expectStationError(openStore({ passphrase: undefined }), 'keys.passphrase-required');
  });

  it("asks a new store's passphrase twice at the prompt, saying a new store is made; an existing one once", async () => {
    const questions: string[] = [];
    const prompt = (question: string) => {
      questions.push(question);
      return Promise.resolve(passphrase);
    };
    await (await openStore({ passphrase: undefined, promptPassphrase: prompt })).close();
    expect(questions).toHaveLength(2);
    expect(questions[0]).toMatch(/new software key store/);
    expect(questions[1]).toMatch(/same passphrase again/);
    questions.length = 0;
    await openStore({ passphrase: undefined, promptPassphrase: prompt });
    expect(questions).toEqual(['Soft key store passphrase: ']);
  });

  it('creates nothing when the two passphrases typed for a new store differ', async () => {
    const answers = [passphrase, `${passphrase}!`];
    const error = await expectStationError(
      openStore({ passphrase: undefined, promptPassphrase: () => Promise.resolve(answers.shift()!) }),
      'keys.passphrase-mismatch',
    );
    expect(error.message).toMatch(/type the same passphrase twice/);
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses a short passphrase for a new store', async () => {
    await expectStationError(openStore({ passphrase: 'short' }), 'keys.weak-passphrase');
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses to work after close', async () => {
    const store = await openStore();
    const key = await store.generateKeyPair({ algorithm: 'EC-P256', label: 'k', purpose: 'device' });
    await store.close();
    await expectStationError(store.sign(key, Buffer.from('x'), 'SHA-256'), 'keys.store-closed');
  });
});
