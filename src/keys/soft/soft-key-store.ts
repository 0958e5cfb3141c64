import { createPrivateKey, createPublicKey, generateKeyPair, generateKeyPairSync, sign } from 'node:crypto';
import type { JsonWebKey, KeyObject } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { StationError } from '../../api/errors.js';
import { ecPkcs8, ecSpki, isEcAlgorithm, nodeHashNames, rsaModulusBits } from '../key-encoding.js';
import type {
  GenerateKeyOptions,
  HashAlgorithm,
  KeyAlgorithm,
  KeyHandle,
  KeyQuery,
  KeyStore,
} from '../key-store.js';
import { newKeyId } from '../key-id.js';
import { newFileKey, readKeyFile, rereadKeyFile, writeKeyFile } from './soft-key-file.js';
import type { SoftKeyFileKey, StoredKey } from './soft-key-file.js';

export interface SoftKeyStoreOptions {
  /** The encrypted key file; created on first open. */
  file: string;
  /** Else env STATION_SOFT_PASSPHRASE; else `promptPassphrase`. Only the key derived from it is kept. */
  passphrase?: string;
  promptPassphrase?: () => Promise<string>;
  env?: NodeJS.ProcessEnv;
}

/** A new file's passphrase protects every CA key in it: refuse the trivially guessable. */
const minimumNewPassphraseLength = 8;

const generateKeyPairAsync = promisify(generateKeyPair);

interface HeldKey {
  readonly handle: KeyHandle;
  readonly privateKey: KeyObject;
}

const nodeCurveNames: Record<Extract<KeyAlgorithm, `EC-${string}`>, string> = {
  'EC-P256': 'P-256',
  'EC-P384': 'P-384',
};

/** EC pairs are made inline (~60 us); RSA pairs take up to seconds, so they go to the thread pool. */
async function newKeyObject(algorithm: KeyAlgorithm): Promise<KeyObject> {
  if (isEcAlgorithm(algorithm)) {
    return generateKeyPairSync('ec', { namedCurve: nodeCurveNames[algorithm] }).privateKey;
  }
  const pair = await generateKeyPairAsync('rsa', {
    modulusLength: rsaModulusBits[algorithm],
    publicExponent: 0x10001,
  });
  return pair.privateKey;
}

/**
 * EC encodings go through JWK and the constant-prefix builders: node's DER export of an EC key costs
 * 0.2-0.5 ms (OpenSSL 3 encoders), more than making the key, its JWK export ~10 us.
 */
function ecPoint(jwk: JsonWebKey): Buffer {
  return Buffer.concat([Buffer.of(4), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
}

function spkiOf(algorithm: KeyAlgorithm, privateKey: KeyObject): Uint8Array {
  if (isEcAlgorithm(algorithm)) return ecSpki(algorithm, ecPoint(privateKey.export({ format: 'jwk' })));
  return new Uint8Array(createPublicKey(privateKey).export({ format: 'der', type: 'spki' }));
}

function pkcs8Of(algorithm: KeyAlgorithm, privateKey: KeyObject): Uint8Array {
  if (isEcAlgorithm(algorithm)) {
    const jwk = privateKey.export({ format: 'jwk' });
    return ecPkcs8(algorithm, Buffer.from(jwk.d!, 'base64url'), ecPoint(jwk));
  }
  return new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' }));
}

function handleFor(
  id: string,
  label: string,
  algorithm: KeyAlgorithm,
  purpose: KeyHandle['purpose'],
  privateKey: KeyObject,
): KeyHandle {
  return {
    id,
    label,
    algorithm,
    purpose,
    publicKeySpki: spkiOf(algorithm, privateKey),
    extractable: purpose === 'device',
  };
}

/**
 * The embedded default when no HSM is configured: node:crypto keys, CA keys kept in a passphrase-encrypted
 * file, device keys only in memory until destroyed. It is not an HSM and says so (design.md section 5).
 */
export class SoftKeyStore implements KeyStore {
  readonly kind = 'soft' as const;
  readonly isHardware = false;
  readonly description: string;
  readonly file: string;

  private readonly keys = new Map<string, HeldKey>();
  /** CA keys destroyed here, so merging in another process's writes does not bring them back. */
  private readonly destroyed = new Set<string>();
  private fileKey: SoftKeyFileKey | undefined;
  /** File writes run one after another, each writing the whole current set of CA keys. */
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
      (options.promptPassphrase ? await options.promptPassphrase() : undefined);
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
    await mkdir(path.dirname(options.file), { recursive: true });
    const store = new SoftKeyStore(options.file, await newFileKey(passphrase));
    await store.persist();
    return store;
  }

  async generateKeyPair(options: GenerateKeyOptions): Promise<KeyHandle> {
    this.fileKeyOrThrow();
    const privateKey = await newKeyObject(options.algorithm);
    // Checked after the await, right before the key is added, so two concurrent requests cannot both pass.
    if (
      options.purpose === 'ca' &&
      [...this.keys.values()].some((held) => held.handle.label === options.label)
    ) {
      throw new StationError(
        'keys.label-taken',
        `The software key store already holds a key labelled '${options.label}': choose another name.`,
        { field: 'label', subject: options.label },
      );
    }
    const handle = handleFor(newKeyId(), options.label, options.algorithm, options.purpose, privateKey);
    this.keys.set(handle.id, { handle, privateKey });
    if (options.purpose === 'ca') {
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
    for (const stored of await rereadKeyFile(this.file, this.fileKeyOrThrow())) {
      if (!this.keys.has(stored.id) && !this.destroyed.has(stored.id)) this.load(stored);
    }
  }

  async sign(key: KeyHandle, data: Uint8Array, hash: HashAlgorithm): Promise<Uint8Array> {
    const { privateKey } = this.held(key);
    // dsaEncoding der: the ECDSA-Sig-Value X.509 wants; RSA keys sign PKCS#1 v1.5, node's default.
    return sign(nodeHashNames[hash], data, { key: privateKey, dsaEncoding: 'der' });
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
    return pkcs8Of(held.handle.algorithm, held.privateKey);
  }

  async destroyKey(key: KeyHandle): Promise<void> {
    const held = this.held(key);
    this.keys.delete(key.id);
    if (held.handle.purpose === 'ca') {
      this.destroyed.add(key.id);
      await this.persist();
    }
  }

  async close(): Promise<void> {
    await this.writing.catch(() => undefined);
    this.keys.clear();
    this.fileKey?.key.fill(0);
    this.fileKey = undefined;
  }

  private load(stored: StoredKey): void {
    const privateKey = createPrivateKey({
      key: Buffer.from(stored.pkcs8, 'base64'),
      format: 'der',
      type: 'pkcs8',
    });
    const handle = handleFor(stored.id, stored.label, stored.algorithm, 'ca', privateKey);
    this.keys.set(handle.id, { handle, privateKey });
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
   * Writes every CA key (device keys stay in memory), after any write already under way, merging in what
   * other stores wrote to the file meanwhile so their keys are not lost.
   */
  private persist(): Promise<void> {
    const fileKey = this.fileKeyOrThrow();
    const write = async () => {
      await this.mergeFromFile();
      const keys: StoredKey[] = [...this.keys.values()]
        .filter(({ handle }) => handle.purpose === 'ca')
        .map(({ handle, privateKey }) => ({
          id: handle.id,
          label: handle.label,
          algorithm: handle.algorithm,
          pkcs8: Buffer.from(pkcs8Of(handle.algorithm, privateKey)).toString('base64'),
        }));
      await writeKeyFile(this.file, fileKey, keys);
    };
    const next = this.writing.then(write, write);
    this.writing = next.catch(() => undefined);
    return next;
  }
}
