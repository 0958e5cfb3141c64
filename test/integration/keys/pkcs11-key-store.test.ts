import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, verify } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StationError } from '../../../src/api/errors.js';
import { keyAlgorithms } from '../../../src/keys/key-store.js';
import type { HashAlgorithm, KeyHandle } from '../../../src/keys/key-store.js';
import { Pkcs11KeyStore } from '../../../src/keys/pkcs11/pkcs11-key-store.js';
import { acquireTokenSession } from '../../../src/keys/pkcs11/pkcs11-module.js';
import { createSoftHsmToken, makeForeignTokenKey } from '../../helpers/softhsm.js';
import type { SoftHsmToken } from '../../helpers/softhsm.js';

let token: SoftHsmToken;
let store: Pkcs11KeyStore;

beforeAll(async () => {
  token = await createSoftHsmToken();
  store = await Pkcs11KeyStore.open({ module: token.module, tokenLabel: token.tokenLabel, pin: token.pin });
});

afterAll(async () => {
  await store?.close();
  await token?.cleanup();
});

const nodeHash: Record<HashAlgorithm, string> = { 'SHA-256': 'sha256', 'SHA-384': 'sha384' };

function verifies(key: KeyHandle, data: Uint8Array, signature: Uint8Array, hash: HashAlgorithm): boolean {
  const publicKey = createPublicKey({ key: Buffer.from(key.publicKeySpki), format: 'der', type: 'spki' });
  return verify(nodeHash[hash], data, { key: publicKey, dsaEncoding: 'der' }, signature);
}

/** pkcs11-tool's view of the token, as a technician would check it. */
function listObjects(): string {
  return execFileSync(
    'pkcs11-tool',
    [
      '--module',
      token.module,
      '--token-label',
      token.tokenLabel,
      '--login',
      '--pin',
      token.pin,
      '--list-objects',
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

/** The block pkcs11-tool prints for the private key with this label. */
function privateKeyEntry(listing: string, label: string): string | undefined {
  return listing
    .split(/\n(?=\S)/)
    .find((block) => block.startsWith('Private Key Object') && block.includes(`label:      ${label}\n`));
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

describe('Pkcs11KeyStore on a SoftHSM2 token', () => {
  it('says it is a software token, not an HSM', () => {
    expect(store.kind).toBe('pkcs11');
    expect(store.isHardware).toBe(false);
    expect(store.description).toContain(token.tokenLabel);
    expect(store.description).toContain('NOT an HSM');
  });

  for (const algorithm of keyAlgorithms) {
    it(`generates a ${algorithm} device key whose signatures verify against its SPKI`, async () => {
      const key = await store.generateKeyPair({ algorithm, label: `device-${algorithm}`, purpose: 'device' });
      expect(key.algorithm).toBe(algorithm);
      expect(key.extractable).toBe(true);
      const publicKey = createPublicKey({ key: Buffer.from(key.publicKeySpki), format: 'der', type: 'spki' });
      expect(publicKey.asymmetricKeyType).toBe(algorithm.startsWith('EC') ? 'ec' : 'rsa');
      const data = Buffer.from(`to be signed by ${algorithm}`);
      for (const hash of ['SHA-256', 'SHA-384'] as const) {
        const signature = await store.sign(key, data, hash);
        expect(verifies(key, data, signature, hash)).toBe(true);
        expect(verifies(key, Buffer.from('something else'), signature, hash)).toBe(false);
      }
      await store.destroyKey(key);
    });
  }

  it('exports a device key once as PKCS#8 that node:crypto and openssl load, then destroys it', async () => {
    for (const algorithm of ['EC-P256', 'EC-P384', 'RSA-2048'] as const) {
      const key = await store.generateKeyPair({
        algorithm,
        label: `injected-${algorithm}`,
        purpose: 'device',
      });
      const pkcs8 = Buffer.from(await store.exportPrivateKey(key));
      const privateKey = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
      const derivedSpki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
      expect(derivedSpki.equals(Buffer.from(key.publicKeySpki))).toBe(true);
      // openssl reads the key from stdin: no private key in a temp file.
      const text = execFileSync('openssl', ['pkey', '-inform', 'DER', '-noout', '-text_pub'], {
        input: pkcs8,
      });
      expect(text.toString()).toMatch(
        algorithm.startsWith('EC') ? /ASN1 OID: (prime256v1|secp384r1)/ : /2048 bit/,
      );

      // A session object: never written to the token, so another process never sees it.
      expect(listObjects()).not.toContain(`injected-${algorithm}`);
      expect(await store.findKey({ id: key.id })).toEqual(key);

      await store.destroyKey(key);
      expect(await store.findKey({ id: key.id })).toBeUndefined();
      expect(listObjects()).not.toContain(`injected-${algorithm}`);
    }
  });

  it('keeps a CA key on the token, sensitive and never extractable, and refuses to export it', async () => {
    const key = await store.generateKeyPair({
      algorithm: 'EC-P256',
      label: 'factory-ca-root',
      purpose: 'ca',
    });
    expect(key.extractable).toBe(false);
    await expectStationError(store.exportPrivateKey(key), 'keys.not-extractable');
    // Even a handle that claims to be extractable gets nothing out of the token.
    await expectStationError(store.exportPrivateKey({ ...key, extractable: true }), 'keys.not-extractable');

    const entry = privateKeyEntry(listObjects(), 'factory-ca-root');
    expect(entry).toBeDefined();
    expect(entry).toMatch(/Access:.*\bsensitive\b/);
    expect(entry).toMatch(/Access:.*never extractable/);
  });

  for (const algorithm of ['EC-P256', 'RSA-2048'] as const) {
    it(`makes a CA key (${algorithm}) that can only sign: no decrypt, unwrap, derive or sign-recover`, async () => {
      const key = await store.generateKeyPair({ algorithm, label: `ca:usage-${algorithm}`, purpose: 'ca' });
      const usages = {
        sign: pkcs11js.CKA_SIGN,
        decrypt: pkcs11js.CKA_DECRYPT,
        unwrap: pkcs11js.CKA_UNWRAP,
        derive: pkcs11js.CKA_DERIVE,
        signRecover: pkcs11js.CKA_SIGN_RECOVER,
      };
      // Read on a session of its own, as any other application on the token would see the key.
      const session = acquireTokenSession(token.module, token.tokenLabel, token.pin);
      try {
        session.pkcs11.C_FindObjectsInit(session.session, [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
          { type: pkcs11js.CKA_ID, value: Buffer.from(key.id, 'hex') },
        ]);
        const [handle] = session.pkcs11.C_FindObjects(session.session, 1);
        session.pkcs11.C_FindObjectsFinal(session.session);
        const values = session.pkcs11.C_GetAttributeValue(
          session.session,
          handle!,
          Object.values(usages).map((type) => ({ type })),
        );
        const allowed = Object.fromEntries(
          Object.keys(usages).map((name, i) => [name, (values[i]!.value as Buffer)[0] === 1]),
        );
        expect(allowed).toEqual({
          sign: true,
          decrypt: false,
          unwrap: false,
          derive: false,
          signRecover: false,
        });
        // Nor can anyone on the token allow them again; the key can still be destroyed (ca discard-key).
        expect(() =>
          session.pkcs11.C_SetAttributeValue(session.session, handle!, [
            { type: pkcs11js.CKA_DECRYPT, value: true },
          ]),
        ).toThrow(/CKR_ATTRIBUTE_READ_ONLY|CKR_ACTION_PROHIBITED|CKR_VENDOR_DEFINED:27\b/); // 0x1B: ACTION_PROHIBITED
      } finally {
        session.release();
      }
      await store.destroyKey(key);
      expect(await store.findKey({ id: key.id })).toBeUndefined();
      await store.destroyKey(key);
    });
  }

  it('tells a key that never left the token from one made elsewhere that is or was readable', async () => {
    const made = await store.generateKeyPair({ algorithm: 'EC-P256', label: 'ca:guarded', purpose: 'ca' });
    expect(made.neverExtractable).toBe(true);
    expect(await store.findKey({ id: made.id })).toMatchObject({ neverExtractable: true });
    const foreign = [
      { label: 'foreign:guarded', sensitive: true, extractable: false, neverExtractable: true },
      { label: 'foreign:readable', sensitive: false, extractable: false, neverExtractable: false },
      { label: 'foreign:exportable', sensitive: true, extractable: true, neverExtractable: false },
    ];
    for (const { label, sensitive, extractable, neverExtractable } of foreign) {
      makeForeignTokenKey(token, label, { sensitive, extractable });
      expect(await store.findKey({ label }), label).toMatchObject({ neverExtractable });
    }
  });

  it('keeps a claim key on the token as an extractable token object, exportable after reopening', async () => {
    const claim = await store.generateKeyPair({
      algorithm: 'EC-P256',
      label: 'claim:fleet',
      purpose: 'claim',
    });
    expect(claim).toMatchObject({ purpose: 'claim', extractable: true });
    const entry = privateKeyEntry(listObjects(), 'claim:fleet');
    expect(entry).toBeDefined();
    expect(entry).toMatch(/Access:.*\bextractable\b/);
    expect(entry).not.toMatch(/never extractable/);

    const reopened = await Pkcs11KeyStore.open({
      module: token.module,
      tokenLabel: token.tokenLabel,
      pin: token.pin,
    });
    try {
      const found = await reopened.findKey({ label: 'claim:fleet' });
      expect(found).toEqual(claim);
      const pkcs8 = Buffer.from(await reopened.exportPrivateKey(found!));
      const derived = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }));
      expect(derived.export({ format: 'der', type: 'spki' }).equals(Buffer.from(claim.publicKeySpki))).toBe(
        true,
      );
    } finally {
      await reopened.close();
    }
    await store.destroyKey(claim);
    expect(privateKeyEntry(listObjects(), 'claim:fleet')).toBeUndefined();
  });

  it('finds a CA key by label and by id after the store is reopened, and signs with it', async () => {
    const created = await store.generateKeyPair({
      algorithm: 'RSA-2048',
      label: 'factory-ca-rsa',
      purpose: 'ca',
    });
    const reopened = await Pkcs11KeyStore.open({
      module: token.module,
      tokenLabel: token.tokenLabel,
      pin: token.pin,
    });
    try {
      const byLabel = await reopened.findKey({ label: 'factory-ca-rsa' });
      const byId = await reopened.findKey({ id: created.id });
      expect(byLabel).toEqual(created);
      expect(byId).toEqual(created);
      const data = Buffer.from('tbsCertificate');
      expect(verifies(created, data, await reopened.sign(byLabel!, data, 'SHA-256'), 'SHA-256')).toBe(true);
      expect(await reopened.findKey({ label: 'no-such-key' })).toBeUndefined();
    } finally {
      await reopened.close();
    }
  });

  it('refuses a second CA key with a label already in use', async () => {
    await store.generateKeyPair({ algorithm: 'EC-P384', label: 'factory-ca-dup', purpose: 'ca' });
    await expectStationError(
      store.generateKeyPair({ algorithm: 'EC-P256', label: 'factory-ca-dup', purpose: 'ca' }),
      'keys.label-taken',
    );
  });

  it('signs from many pipelines at once on one session', async () => {
    const key = await store.generateKeyPair({ algorithm: 'EC-P256', label: 'concurrent', purpose: 'device' });
    const messages = Array.from({ length: 64 }, (_, index) => Buffer.from(`message ${index}`));
    const signatures = await Promise.all(messages.map((message) => store.sign(key, message, 'SHA-256')));
    signatures.forEach((signature, index) =>
      expect(verifies(key, messages[index]!, signature, 'SHA-256')).toBe(true),
    );
    await store.destroyKey(key);
  });

  it('reports a destroyed key as not found when asked to sign with it', async () => {
    const key = await store.generateKeyPair({
      algorithm: 'EC-P256',
      label: 'short-lived',
      purpose: 'device',
    });
    await store.destroyKey(key);
    await expectStationError(store.sign(key, Buffer.from('x'), 'SHA-256'), 'keys.key-not-found');
  });
});

describe('opening a PKCS#11 token', () => {
  it('refuses a wrong PIN', async () => {
    await store.close();
    const error = await expectStationError(
      Pkcs11KeyStore.open({ module: token.module, tokenLabel: token.tokenLabel, pin: '0000' }),
      'keys.wrong-pin',
    );
    expect(error.message).toContain(token.tokenLabel);
    expect(error.details).toMatchObject({ ckr: 'CKR_PIN_INCORRECT' });
    store = await Pkcs11KeyStore.open({ module: token.module, tokenLabel: token.tokenLabel, pin: token.pin });
  });

  it('refuses a wrong PIN while the token is already open in this process', async () => {
    await expectStationError(
      Pkcs11KeyStore.open({ module: token.module, tokenLabel: token.tokenLabel, pin: '0000' }),
      'keys.wrong-pin',
    );
  });

  it('takes the PIN from STATION_HSM_PIN and never asks when it is set', async () => {
    const second = await Pkcs11KeyStore.open({
      module: token.module,
      tokenLabel: token.tokenLabel,
      env: { STATION_HSM_PIN: token.pin },
      promptPin: () => Promise.reject(new Error('should not prompt')),
    });
    await second.close();
  });

  it('asks for the PIN when none is given, and says so when it cannot', async () => {
    const prompted = await Pkcs11KeyStore.open({
      module: token.module,
      tokenLabel: token.tokenLabel,
      env: {},
      promptPin: () => Promise.resolve(token.pin),
    });
    await prompted.close();
    await expectStationError(
      Pkcs11KeyStore.open({ module: token.module, tokenLabel: token.tokenLabel, env: {} }),
      'keys.pin-required',
    );
  });

  it('says which token is missing and which tokens it saw', async () => {
    const error = await expectStationError(
      Pkcs11KeyStore.open({ module: token.module, tokenLabel: 'no-such-token', pin: token.pin }),
      'keys.token-not-found',
    );
    expect(error.message).toContain("'no-such-token' not found");
    expect(error.details).toMatchObject({ tokensSeen: [token.tokenLabel] });
  });

  it('says when the PKCS#11 module cannot be loaded', async () => {
    await expectStationError(
      Pkcs11KeyStore.open({
        module: '/nonexistent/libpkcs11.so',
        tokenLabel: token.tokenLabel,
        pin: token.pin,
      }),
      'keys.module-unavailable',
    );
  });

  it('refuses to work after close', async () => {
    const closing = await Pkcs11KeyStore.open({
      module: token.module,
      tokenLabel: token.tokenLabel,
      pin: token.pin,
    });
    await closing.close();
    await expectStationError(
      closing.generateKeyPair({ algorithm: 'EC-P256', label: 'late', purpose: 'device' }),
      'keys.store-closed',
    );
  });
});
