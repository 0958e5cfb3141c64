// `npm run bench -- keys [--seconds S]`: key store rates next to the raw rates measured in the same run:
// raw pkcs11js (C_SignInit + C_Sign CKM_ECDSA on a digest; C_GenerateKeyPair of a session P-256 pair) for
// Pkcs11KeyStore on a fresh SoftHSM2 token, and raw node:crypto for SoftKeyStore.
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pkcs11js from 'pkcs11js';
import type { KeyStore } from '../../src/keys/key-store.js';
import { ecCurves } from '../../src/keys/key-encoding.js';
import { Pkcs11KeyStore } from '../../src/keys/pkcs11/pkcs11-key-store.js';
import { SoftKeyStore } from '../../src/keys/soft/soft-key-store.js';
import { createSoftHsmToken } from '../helpers/softhsm.js';
import type { SoftHsmToken } from '../helpers/softhsm.js';

export interface Rate {
  name: string;
  perSecond: number;
  operations: number;
}

/** Runs `operation` back to back for about `seconds` and reports operations per second. */
export async function measureRate(name: string, seconds: number, operation: () => unknown): Promise<Rate> {
  for (let warmup = 0; warmup < 20; warmup++) await operation();
  const budget = seconds * 1e9;
  const start = process.hrtime.bigint();
  let operations = 0;
  let elapsed = 0;
  while (elapsed < budget) {
    for (let batch = 0; batch < 50; batch++) await operation();
    operations += 50;
    elapsed = Number(process.hrtime.bigint() - start);
  }
  return { name, perSecond: (operations * 1e9) / elapsed, operations };
}

/**
 * Raw pkcs11js rates on a token, without the key store: P-256 signature of a SHA-256 digest with a token
 * key (as a CA key) and with a session key, and P-256 session key pair generation. Call it while no key store has the module open in this process (it
 * initialises and finalises the module itself: one C_Initialize per process at a time).
 */
export async function measureRawPkcs11(
  token: SoftHsmToken,
  seconds: number,
): Promise<{ sign: Rate; sessionSign: Rate; keygen: Rate }> {
  const pkcs11 = new pkcs11js.PKCS11();
  pkcs11.load(token.module);
  pkcs11.C_Initialize();
  try {
    const slot = pkcs11
      .C_GetSlotList(true)
      .find((candidate) => pkcs11.C_GetTokenInfo(candidate).label.trimEnd() === token.tokenLabel);
    if (!slot) throw new Error(`token ${token.tokenLabel} not found`);
    const session = pkcs11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    pkcs11.C_Login(session, pkcs11js.CKU_USER, token.pin);
    const params = Buffer.from(ecCurves['EC-P256'].paramsDer);
    // A CA key is a token object (SoftHSM2 re-checks its file on use), a device key a session object.
    const generate = (tokenObject: boolean) =>
      pkcs11.C_GenerateKeyPair(
        session,
        { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
        [
          { type: pkcs11js.CKA_TOKEN, value: tokenObject },
          { type: pkcs11js.CKA_EC_PARAMS, value: params },
          { type: pkcs11js.CKA_VERIFY, value: true },
        ],
        [
          { type: pkcs11js.CKA_TOKEN, value: tokenObject },
          { type: pkcs11js.CKA_PRIVATE, value: true },
          { type: pkcs11js.CKA_SIGN, value: true },
          { type: pkcs11js.CKA_EXTRACTABLE, value: !tokenObject },
          { type: pkcs11js.CKA_SENSITIVE, value: tokenObject },
        ],
      );
    const digest = createHash('sha256').update('tbsCertificate').digest();
    const signWith = (key: Buffer) => () => {
      pkcs11.C_SignInit(session, { mechanism: pkcs11js.CKM_ECDSA }, key);
      return pkcs11.C_Sign(session, digest, Buffer.alloc(64));
    };
    const tokenKey = generate(true);
    const sessionKey = generate(false);
    const signRate = await measureRate(
      'raw pkcs11js P-256 sign (digest), token key',
      seconds,
      signWith(tokenKey.privateKey),
    );
    const sessionSignRate = await measureRate(
      'raw pkcs11js P-256 sign (digest), session key',
      seconds,
      signWith(sessionKey.privateKey),
    );
    const keygenRate = await measureRate('raw pkcs11js P-256 session keygen + destroy', seconds, () => {
      const pair = generate(false);
      pkcs11.C_DestroyObject(session, pair.privateKey);
      pkcs11.C_DestroyObject(session, pair.publicKey);
    });
    pkcs11.C_DestroyObject(session, tokenKey.privateKey);
    pkcs11.C_DestroyObject(session, tokenKey.publicKey);
    pkcs11.C_Logout(session);
    pkcs11.C_CloseSession(session);
    return { sign: signRate, sessionSign: sessionSignRate, keygen: keygenRate };
  } finally {
    pkcs11.C_Finalize();
    pkcs11.close();
  }
}

/** The store's own rates: sign with a CA key, and the injection path (keygen + export + destroy). */
export async function measureStore(store: KeyStore, seconds: number): Promise<Rate[]> {
  const ca = await store.generateKeyPair({
    algorithm: 'EC-P256',
    label: `bench-ca-${Date.now()}`,
    purpose: 'ca',
  });
  const tbs = Buffer.alloc(400, 1);
  const rates = [
    await measureRate(`${store.kind} store P-256 sign with the CA key (SHA-256 of 400 bytes)`, seconds, () =>
      store.sign(ca, tbs, 'SHA-256'),
    ),
    await measureRate(`${store.kind} store P-256 device keygen + destroy`, seconds, async () => {
      const key = await store.generateKeyPair({
        algorithm: 'EC-P256',
        label: 'bench-device',
        purpose: 'device',
      });
      await store.destroyKey(key);
    }),
    await measureRate(
      `${store.kind} store P-256 device keygen + PKCS#8 export + destroy`,
      seconds,
      async () => {
        const key = await store.generateKeyPair({
          algorithm: 'EC-P256',
          label: 'bench-device',
          purpose: 'device',
        });
        await store.exportPrivateKey(key);
        await store.destroyKey(key);
      },
    ),
  ];
  const concurrent = 32;
  const start = process.hrtime.bigint();
  let operations = 0;
  while (Number(process.hrtime.bigint() - start) < seconds * 1e9) {
    await Promise.all(Array.from({ length: concurrent }, () => store.sign(ca, tbs, 'SHA-256')));
    operations += concurrent;
  }
  rates.push({
    name: `${store.kind} store P-256 sign, ${concurrent} at once`,
    perSecond: (operations * 1e9) / Number(process.hrtime.bigint() - start),
    operations,
  });
  await store.destroyKey(ca);
  return rates;
}

function report(baseline: Rate, rates: Rate[]): void {
  const line = (rate: Rate) =>
    `  ${rate.name.padEnd(62)} ${rate.perSecond.toFixed(0).padStart(8)} /s  ${(rate.perSecond / baseline.perSecond).toFixed(2).padStart(6)}x`;
  console.log(`baseline: ${baseline.name}`);
  console.log(line(baseline));
  for (const rate of rates) console.log(line(rate));
}

export default async function keysBench(args: string[]): Promise<void> {
  const secondsIndex = args.indexOf('--seconds');
  const seconds = secondsIndex >= 0 ? Number(args[secondsIndex + 1]) : 2;
  console.log(
    `key store rates, ${seconds} s per figure, sequential unless said (${os.cpus().length} cores)\n`,
  );

  const token = await createSoftHsmToken();
  try {
    const raw = await measureRawPkcs11(token, seconds);
    const store = await Pkcs11KeyStore.open({
      module: token.module,
      tokenLabel: token.tokenLabel,
      pin: token.pin,
    });
    try {
      const storeRates = await measureStore(store, seconds);
      report(raw.sign, [raw.sessionSign, raw.keygen, ...storeRates]);
    } finally {
      await store.close();
    }
  } finally {
    await token.cleanup();
  }

  console.log('');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'station-bench-keys-'));
  try {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const tbs = Buffer.alloc(400, 1);
    const nodeSign = await measureRate('raw node:crypto P-256 sign (SHA-256 of 400 bytes)', seconds, () =>
      sign('sha256', tbs, { key: privateKey, dsaEncoding: 'der' }),
    );
    const nodeKeygen = await measureRate('raw node:crypto P-256 generateKeyPairSync', seconds, () =>
      generateKeyPairSync('ec', { namedCurve: 'P-256' }),
    );
    const store = await SoftKeyStore.open({
      file: path.join(dir, 'soft-keys.json'),
      passphrase: 'bench passphrase',
    });
    try {
      report(nodeSign, [nodeKeygen, ...(await measureStore(store, seconds))]);
    } finally {
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
