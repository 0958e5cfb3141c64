// `npm run bench -- issue [--count N] [--batch B] [--seconds S]`: identities per second for the full issuance
// path with P-256 on a fresh SoftHSM2 token (HSM session key or device CSR + certificate build + CA signature
// through the KeyStore + registry row), next to raw rates measured in the same run: pkcs11js sign alone,
// pkcs11js keygen alone, and an `openssl req` + `openssl x509 -req` shell loop. Budget (design.md 10):
// at least 1,000 identities/s. The bulk path records B identities per registry transaction.
import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pkcs11js from 'pkcs11js';
import { Pkcs11KeyStore } from '../../src/keys/pkcs11/pkcs11-key-store.js';
import { signatureAlgorithmFor } from '../../src/pki/algorithms.js';
import { encodeCsr, encodeCsrInfo } from '../../src/pki/csr-writer.js';
import { issueInBatches } from '../../src/pki/bulk-issuance.js';
import { encodeName } from '../../src/pki/names.js';
import { Pki } from '../../src/pki/pki.js';
import { Registry } from '../../src/registry/registry.js';
import { createSoftHsmToken, type SoftHsmToken } from '../helpers/softhsm.js';

const run = promisify(execFile);
const actor = 'bench:issue';

function option(args: string[], name: string, fallback: number): number {
  const index = args.indexOf(`--${name}`);
  const value = index >= 0 ? Number(args[index + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} needs a positive number`);
  return value;
}

async function ratePerSecond(seconds: number, operation: () => void): Promise<number> {
  for (let i = 0; i < 50; i++) operation();
  const start = process.hrtime.bigint();
  let count = 0;
  while (Number(process.hrtime.bigint() - start) < seconds * 1e9) {
    for (let i = 0; i < 100; i++) operation();
    count += 100;
  }
  return (count * 1e9) / Number(process.hrtime.bigint() - start);
}

/** Raw pkcs11js, no key store: run before any store opens the module (one C_Initialize per process). */
async function rawPkcs11Rates(
  token: SoftHsmToken,
  seconds: number,
): Promise<{ sign: number; keygen: number }> {
  const pkcs11 = new pkcs11js.PKCS11();
  pkcs11.load(token.module);
  pkcs11.C_Initialize();
  try {
    const slot = pkcs11
      .C_GetSlotList(true)
      .find((candidate) => pkcs11.C_GetTokenInfo(candidate).label.trimEnd() === token.tokenLabel)!;
    const session = pkcs11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    pkcs11.C_Login(session, pkcs11js.CKU_USER, token.pin);
    const p256 = Buffer.from('06082a8648ce3d030107', 'hex');
    const generate = () =>
      pkcs11.C_GenerateKeyPair(
        session,
        { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
        [
          { type: pkcs11js.CKA_TOKEN, value: false },
          { type: pkcs11js.CKA_EC_PARAMS, value: p256 },
        ],
        [
          { type: pkcs11js.CKA_TOKEN, value: false },
          { type: pkcs11js.CKA_SIGN, value: true },
          { type: pkcs11js.CKA_EXTRACTABLE, value: true },
          { type: pkcs11js.CKA_SENSITIVE, value: false },
        ],
      );
    const signer = generate();
    const digest = createHash('sha256').update('tbsCertificate').digest();
    const signRate = await ratePerSecond(seconds, () => {
      pkcs11.C_SignInit(session, { mechanism: pkcs11js.CKM_ECDSA }, signer.privateKey);
      pkcs11.C_Sign(session, digest, Buffer.alloc(64));
    });
    const keygenRate = await ratePerSecond(seconds, () => {
      const pair = generate();
      pkcs11.C_DestroyObject(session, pair.privateKey);
      pkcs11.C_DestroyObject(session, pair.publicKey);
    });
    pkcs11.C_CloseSession(session);
    return { sign: signRate, keygen: keygenRate };
  } finally {
    pkcs11.C_Finalize();
    pkcs11.close();
  }
}

/**
 * The classic shell way: `openssl req -newkey` then `openssl x509 -req` per certificate (two processes). Keys
 * never touch disk: the device key goes to /dev/null and the throwaway CA key lives in a shell variable.
 */
async function opensslLoopRate(dir: string, count: number): Promise<number> {
  const script = `
set -e
cakey=$(openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null)
openssl req -x509 -new -key <(printf '%s\\n' "$cakey") -subj /CN=bench-ca -days 30 -out "$1/ca.pem" 2>/dev/null
start=$(date +%s%N)
for i in $(seq 1 "$2"); do
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj "/CN=thing-$i" -out "$1/d.csr" 2>/dev/null
  openssl x509 -req -in "$1/d.csr" -CA "$1/ca.pem" -CAkey <(printf '%s\\n' "$cakey") -set_serial "$i" -days 365 -out "$1/d.pem" 2>/dev/null
done
echo $(( $(date +%s%N) - start ))`;
  const { stdout } = await run('bash', ['-c', script, 'bench', dir, String(count)]);
  return (count * 1e9) / Number(stdout.trim());
}

async function timed(work: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function deviceCsrs(count: number): Uint8Array[] {
  const algorithm = signatureAlgorithmFor('EC-P256');
  return Array.from({ length: count }, (_, index) => {
    const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = new Uint8Array(keys.publicKey.export({ type: 'spki', format: 'der' }));
    const info = encodeCsrInfo(encodeName({ commonName: `csr-thing-${index}` }), spki);
    return encodeCsr(info, algorithm, sign('sha256', info, keys.privateKey));
  });
}

const fmt = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 0 });
const ratio = (n: number, base: number): string => `${(n / base).toFixed(2)}x`;

export default async function issueBench(args: string[]): Promise<void> {
  const count = option(args, 'count', 5000);
  const batchSize = option(args, 'batch', 500);
  const seconds = option(args, 'seconds', 1.5);
  const opensslCount = option(args, 'openssl', 50);
  const token = await createSoftHsmToken();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'station-bench-issue-'));
  try {
    console.log(
      `issue bench: ${count} identities per path, batches of ${batchSize}, ${os.cpus().length} cores, SoftHSM2 P-256`,
    );
    const raw = await rawPkcs11Rates(token, seconds);
    const openssl = await opensslLoopRate(dir, opensslCount);

    const keyStore = await Pkcs11KeyStore.open({
      module: token.module,
      tokenLabel: token.tokenLabel,
      pin: token.pin,
    });
    const registry = await Registry.open(path.join(dir, 'registry.sqlite'));
    try {
      const pki = new Pki(registry, keyStore);
      await pki.factoryCa.createRoot({ name: 'bench' }, actor);
      // The private keys are dropped here; the station would hand each batch to its writer once committed.
      const injected = await timed(() =>
        issueInBatches(
          pki.issuer,
          count,
          async (index) => {
            const { prepared } = await pki.issuer.prepareInjected({
              caName: 'bench',
              commonName: `inject-thing-${index}`,
            });
            return { prepared, result: prepared.record.id };
          },
          { actor, batchSize },
        ),
      );
      const csrs = deviceCsrs(count);
      const fromCsr = await timed(() =>
        issueInBatches(
          pki.issuer,
          count,
          async (index) => {
            const prepared = await pki.issuer.prepareFromCsr(csrs[index]!, { caName: 'bench' });
            return { prepared, result: prepared.record.id };
          },
          { actor, batchSize },
        ),
      );
      const singleCount = Math.min(count, 1000);
      const single = await timed(async () => {
        for (let index = 0; index < singleCount; index++) {
          await pki.issuer.issueWithInjectedKey(
            { caName: 'bench', commonName: `single-thing-${index}` },
            actor,
          );
        }
      });
      const rows = await pki.certificates.count();
      if (rows !== 2 * count + singleCount)
        throw new Error(`expected ${2 * count + singleCount} rows, found ${rows}`);

      const injectedRate = count / injected;
      const csrRate = count / fromCsr;
      const singleRate = singleCount / single;
      console.log('baselines (same run):');
      console.log(`  raw pkcs11js P-256 sign (digest)          ${fmt(raw.sign).padStart(8)} /s`);
      console.log(`  raw pkcs11js P-256 session keygen+destroy ${fmt(raw.keygen).padStart(8)} /s`);
      console.log(
        `  openssl req + x509 -req loop (${opensslCount})      ${fmt(openssl).padStart(8)} certs/s`,
      );
      console.log('full path (identities/s; ratios to raw sign | raw keygen | openssl loop):');
      for (const [name, rate] of [
        [`HSM key injection, bulk (${batchSize}/tx)`, injectedRate],
        [`device CSR, bulk (${batchSize}/tx)        `, csrRate],
        ['HSM key injection, one tx per identity', singleRate],
      ] as const) {
        console.log(
          `  ${name.padEnd(40)} ${fmt(rate).padStart(8)} /s   ${ratio(rate, raw.sign)} | ${ratio(rate, raw.keygen)} | ${ratio(rate, openssl)}`,
        );
      }
      const verdict = Math.min(injectedRate, csrRate) >= 1000 ? 'within' : 'OVER';
      console.log(`budget >= 1,000 identities/s (bulk paths): ${verdict} budget`);
    } finally {
      await registry.close();
      await keyStore.close();
    }
  } finally {
    await token.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
}
