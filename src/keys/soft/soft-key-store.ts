import { createPrivateKey, createPublicKey, generateKeyPair, generateKeyPairSync, sign } from 'node:crypto';
import type { JsonWebKey, KeyObject } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { StationError } from '../../api/errors.js';
import { makeDirectory } from '../../config/data-dir.js';
import { ecPkcs8, ecSpki, isEcAlgorithm, nodeHashNames, rsaModulusBits } from '../key-encoding.js';
import {
  persistentKeyPurposes,
  type GenerateKeyOptions,
  type HashAlgorithm,
  type KeyAlgorithm,
  type KeyHandle,
  type KeyQuery,
  type KeyStore,
} from '../key-store.js';
import { newKeyId } from '../key-id.js';
import {
  keyFileExists,
  newFileKey,
  readKeyFile,
  rereadKeyFile,
  withKeyFileLock,
  writeKeyFile,
} from './soft-key-file.js';
import type { SoftKeyFileKey, StoredKey } from './soft-key-file.js';

export interface SoftKeyStoreOptions {
  /** The encrypted key file; created on first open. */
  file: string;
  /** Else env STATION_SOFT_PASSPHRASE; else `promptPassphrase`. Only the key derived from it is kept. */
  passphrase?: string;
  /** Asks the operator `question` and returns the answer (without echoing it). */
  promptPassphrase?: (question: string) => Promise<string>;
  env?: NodeJS.ProcessEnv;
}

/** A new file's passphrase protects every CA key in it: refuse the trivially guessable. */
const minimumNewPassphraseLength = 8;

const generateKeyPairAsync = promisify(generateKeyPair);

interface HeldKey {
  readonly handle: KeyHandle;
  /** The private key as PKCS#8 DER: what the file stores and an export returns; zeroed when destroyed. */
  readonly pkcs8: Buffer;
  /** Made on first signature: most device keys are only exported, never used to sign. */
  signingKey?: KeyObject;
}

interface NewKeyMaterial {
  spki: Uint8Array;
  pkcs8: Buffer;
}

const nodeCurveNames: Record<Extract<KeyAlgorithm, `EC-${string}`>, string> = {
  'EC-P256': 'P-256',
  'EC-P384': 'P-384',
};

/** @types/node 20 lacks the 'jwk' key generation encoding node has accepted since 15.9; typed here. */
const generateJwkPair = generateKeyPairSync as unknown as (
  type: 'ec',
  options: {
    namedCurve: string;
    publicKeyEncoding: { format: 'jwk' };
    privateKeyEncoding: { format: 'jwk' };
  },
) => { publicKey: JsonWebKey; privateKey: JsonWebKey };

/**
 * New pairs come out of node already encoded, never as KeyObjects: on Node 20 a KeyObject straight from
 * generateKeyPair(Sync) shares its lock with the key generation job, and exporting it while a garbage
 * collection frees that job deadlocks the process (seen after a few thousand keys; gdb shows
 * ~KeyGenJob waiting on the mutex ExportJWK holds). EC pairs come as JWK, which with the constant-prefix
 * builders is also the fast way to SPKI and PKCS#8 (node's DER encoders cost 0.2-0.5 ms); they are made
 * inline (~0.1 ms), RSA pairs (up to seconds) in the thread pool.
 */
async function newKeyMaterial(algorithm: KeyAlgorithm): Promise<NewKeyMaterial> {
  if (isEcAlgorithm(algorithm)) {
    const { privateKey: jwk } = generateJwkPair('ec', {
      namedCurve: nodeCurveNames[algorithm],
      publicKeyEncoding: { format: 'jwk' },
      privateKeyEncoding: { format: 'jwk' },
    });
    const point = Buffer.concat([
      Buffer.of(4),
      Buffer.from(jwk.x!, 'base64url'),
      Buffer.from(jwk.y!, 'base64url'),
    ]);
    const pkcs8 = Buffer.from(ecPkcs8(algorithm, Buffer.from(jwk.d!, 'base64url'), point));
    return { spki: ecSpki(algorithm, point), pkcs8 };
  }
  const pair = await generateKeyPairAsync('rsa', {
    modulusLength: rsaModulusBits[algorithm],
    publicExponent: 0x10001,
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'der' },
  });
  return { spki: new Uint8Array(pair.publicKey), pkcs8: pair.privateKey };
}

function spkiOfPkcs8(pkcs8: Buffer): Uint8Array {
  const publicKey = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }));
  return new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
}

/**
 * A typo in a new store's passphrase would lock its CA keys away for good, so a new store's is asked twice
 * (a passphrase from the environment was written down, not typed).
 */
async function askPassphrase(file: string, prompt: (question: string) => Promise<string>): Promise<string> {
  if (await keyFileExists(file)) return prompt('Soft key store passphrase: ');
  const first = await prompt(
    `A new software key store (NOT an HSM) is being created: ${file}\nNew passphrase (${minimumNewPassphraseLength} characters or more): `,
  );
  const again = await prompt('The same passphrase again: ');
  if (first !== again) {
    throw new StationError(
      'keys.passphrase-mismatch',
      'The two passphrases differ, so no key store was created: run the command again and type the same passphrase twice.',
      { field: 'passphrase' },
    );
  }
  return first;
}

/**
 * The embedded default when no HSM is configured: node:crypto keys, CA and claim keys kept in a
 * passphrase-encrypted file, device keys only in memory until destroyed. It is not an HSM and says so
 * (design.md section 5).
 */
export class SoftKeyStore implements KeyStore {
  readonly kind = 'soft' as const;
  readonly isHardware = false;
  readonly description: string;
  readonly file: string;

  private readonly keys = new Map<string, HeldKey>();
  /**
   * Persistent keys destroyed, here or by another store (the file lists them): merging in another
   * process's writes does not bring them back, nor does this store write them back.
   */
  private readonly destroyed = new Set<string>();
  private fileKey: SoftKeyFileKey | undefined;
  /** File writes run one after another, each writing the whole current set of persistent keys. */
  private writing: Promise<void> = Promise.resolve();

  private constructor(file: string, fileKey: SoftKeyFileKey) {
    this.file = file;
    this.fileKey = fileKey;
    this.description = `software key store (NOT an HSM): keys encrypted in ${path.basename(file)}`;
  }

  static async open(options: SoftKeyStoreOptions): Promise<SoftKeyStore> {
    const env = options.env ?? process.env;
    const passphrase =
      options.passphrase ??
      env.STATION_SOFT_PASSPHRASE ??
      (options.promptPassphrase ? await askPassphrase(options.file, options.promptPassphrase) : undefined);
    if (passphrase === undefined || passphrase.length === 0) {
      throw new StationError(
        'keys.passphrase-required',
        'The software key store needs its passphrase: enter it when asked or set STATION_SOFT_PASSPHRASE.',
        { field: 'passphrase' },
      );
    }
    const existing = await readKeyFile(options.file, passphrase);
    if (existing) {
      const store = new SoftKeyStore(options.file, existing.fileKey);
      for (const id of existing.destroyed) store.destroyed.add(id);
      for (const stored of existing.keys) store.load(stored);
      return store;
    }
    if (passphrase.length < minimumNewPassphraseLength) {
      throw new StationError(
        'keys.weak-passphrase',
        `A new software key store needs a passphrase of at least ${minimumNewPassphraseLength} characters.`,
        { field: 'passphrase' },
      );
    }
    await makeDirectory(path.dirname(options.file));
    const store = new SoftKeyStore(options.file, await newFileKey(passphrase));
    await store.persist();
    return store;
  }

  async generateKeyPair(options: GenerateKeyOptions): Promise<KeyHandle> {
    this.fileKeyOrThrow();
    const material = await newKeyMaterial(options.algorithm);
    const persistent = persistentKeyPurposes.includes(options.purpose);
    // Checked after the await, right before the key is added, so two concurrent requests cannot both pass.
    if (persistent && [...this.keys.values()].some((held) => held.handle.label === options.label)) {
      throw new StationError(
        'keys.label-taken',
        `The software key store already holds a key labelled '${options.label}': choose another name.`,
        { field: 'label', subject: options.label },
      );
    }
    const handle: KeyHandle = {
      id: newKeyId(),
      label: options.label,
      algorithm: options.algorithm,
      purpose: options.purpose,
      publicKeySpki: material.spki,
      extractable: options.purpose !== 'ca',
      neverExtractable: options.purpose === 'ca',
    };
    this.keys.set(handle.id, { handle, pkcs8: material.pkcs8 });
    if (persistent) {
      try {
        await this.persist();
      } catch (error) {
        this.keys.delete(handle.id);
        throw error;
      }
    }
    return handle;
  }

  async findKey(query: KeyQuery): Promise<KeyHandle | undefined> {
    this.fileKeyOrThrow();
    const found = this.match(query);
    if (found) return found;
    // Another process (the CLI beside a running station) may have made the CA key since this store opened.
    await this.mergeFromFile();
    return this.match(query);
  }

  private match(query: KeyQuery): KeyHandle | undefined {
    const matches = [...this.keys.values()].filter(
      ({ handle }) =>
        (query.label === undefined || handle.label === query.label) &&
        (query.id === undefined || handle.id === query.id),
    );
    if (matches.length > 1) {
      throw new StationError(
        'keys.ambiguous',
        `The software key store holds several keys matching ${JSON.stringify(query)}: name the key by id.`,
        { subject: query.label ?? query.id },
      );
    }
    return matches[0]?.handle;
  }

  private async mergeFromFile(): Promise<void> {
    const onFile = await rereadKeyFile(this.file, this.fileKeyOrThrow());
    for (const id of onFile.destroyed) {
      this.destroyed.add(id);
      const held = this.keys.get(id);
      if (held && held.handle.purpose !== 'device') this.keys.delete(id); // destroyed by another store
    }
    for (const stored of onFile.keys) {
      if (!this.keys.has(stored.id) && !this.destroyed.has(stored.id)) this.load(stored);
    }
  }

  async sign(key: KeyHandle, data: Uint8Array, hash: HashAlgorithm): Promise<Uint8Array> {
    const held = this.held(key);
    held.signingKey ??= createPrivateKey({ key: held.pkcs8, format: 'der', type: 'pkcs8' });
    // dsaEncoding der: the ECDSA-Sig-Value X.509 wants; RSA keys sign PKCS#1 v1.5, node's default.
    return sign(nodeHashNames[hash], data, { key: held.signingKey, dsaEncoding: 'der' });
  }

  async exportPrivateKey(key: KeyHandle): Promise<Uint8Array> {
    const held = this.held(key);
    // The store's own record decides, not the handle the caller passes in.
    if (!held.handle.extractable) {
      throw new StationError(
        'keys.not-extractable',
        `Key '${key.label}' is a CA key and never leaves the key store.`,
        { subject: key.label },
      );
    }
    return new Uint8Array(held.pkcs8);
  }

  async destroyKey(key: KeyHandle): Promise<void> {
    const held = this.held(key);
    this.keys.delete(key.id);
    held.pkcs8.fill(0);
    if (persistentKeyPurposes.includes(held.handle.purpose)) {
      this.destroyed.add(key.id);
      await this.persist();
    }
  }

  async close(): Promise<void> {
    await this.writing.catch(() => undefined);
    for (const held of this.keys.values()) held.pkcs8.fill(0);
    this.keys.clear();
    this.fileKey?.key.fill(0);
    this.fileKey = undefined;
  }

  private load(stored: StoredKey): void {
    const pkcs8 = Buffer.from(stored.pkcs8, 'base64');
    const handle: KeyHandle = {
      id: stored.id,
      label: stored.label,
      algorithm: stored.algorithm,
      purpose: stored.purpose,
      publicKeySpki: spkiOfPkcs8(pkcs8),
      extractable: stored.purpose === 'claim',
      neverExtractable: stored.purpose === 'ca',
    };
    this.keys.set(handle.id, { handle, pkcs8 });
  }

  private held(key: KeyHandle): HeldKey {
    this.fileKeyOrThrow();
    const held = this.keys.get(key.id);
    if (!held) {
      throw new StationError(
        'keys.key-not-found',
        `Key '${key.label}' is not in the software key store (any more): was it destroyed?`,
        { subject: key.label, details: { id: key.id } },
      );
    }
    return held;
  }

  private fileKeyOrThrow(): SoftKeyFileKey {
    if (!this.fileKey) {
      throw new StationError('keys.store-closed', 'The key store was closed: open it again.', {
        userFault: false,
      });
    }
    return this.fileKey;
  }

  /**
   * Writes every CA and claim key (device keys stay in memory), after any write already under way. Under
   * the file's lock, what other stores wrote meanwhile is merged in first: their new keys are kept, and
   * keys they destroyed stay destroyed. A key merely missing from the file (a file put back from a
   * backup, or deleted) is written again.
   */
  private persist(): Promise<void> {
    const fileKey = this.fileKeyOrThrow();
    const write = () =>
      withKeyFileLock(this.file, async () => {
        await this.mergeFromFile();
        await writeKeyFile(this.file, fileKey, { keys: this.storedKeys(), destroyed: [...this.destroyed] });
      });
    const next = this.writing.then(write, write);
    this.writing = next.catch(() => undefined);
    return next;
  }

  private storedKeys(): StoredKey[] {
    return [...this.keys.values()]
      .filter(({ handle }) => handle.purpose !== 'device')
      .map(({ handle, pkcs8 }) => ({
        id: handle.id,
        label: handle.label,
        algorithm: handle.algorithm,
        purpose: handle.purpose === 'claim' ? ('claim' as const) : ('ca' as const),
        pkcs8: pkcs8.toString('base64'),
      }));
  }
}
