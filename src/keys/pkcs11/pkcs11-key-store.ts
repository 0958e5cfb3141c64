import { createHash } from 'node:crypto';
import os from 'node:os';
import pkcs11js from 'pkcs11js';
import { StationError } from '../../api/errors.js';
import {
  digestInfoPrefixes,
  ecAlgorithmForParams,
  ecCurves,
  ecPkcs8,
  ecSpki,
  ecdsaRawToDer,
  isEcAlgorithm,
  nodeHashNames,
  rsaAlgorithmForBits,
  rsaModulusBits,
  rsaPkcs8,
  rsaSpki,
  unwrapEcPoint,
} from '../key-encoding.js';
import type {
  GenerateKeyOptions,
  HashAlgorithm,
  KeyAlgorithm,
  KeyHandle,
  KeyQuery,
  KeyStore,
} from '../key-store.js';
import { hsmError } from './pkcs11-errors.js';
import { acquireTokenSession } from './pkcs11-module.js';
import { newKeyId } from '../key-id.js';
import type { Pkcs11, Pkcs11Handle, TokenSession } from './pkcs11-module.js';

export interface Pkcs11KeyStoreOptions {
  /** Path of the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so. */
  module: string;
  tokenLabel: string;
  /** The operator's PIN; else env STATION_HSM_PIN; else `promptPin`. Used to log in, never kept. */
  pin?: string;
  promptPin?: () => Promise<string>;
  env?: NodeJS.ProcessEnv;
  /** Told when the token has few PIN tries left. */
  warn?: (message: string) => void;
}

type Template = { type: number; value?: number | boolean | string | Buffer }[];

const rsaPublicExponent = Buffer.from([0x01, 0x00, 0x01]);

/** CK_ULONG attribute values come back in the host's byte order; key types fit in the low 32 bits. */
function readUlong(value: Buffer): number {
  return os.endianness() === 'LE' ? value.readUInt32LE(0) : value.readUInt32BE(value.length - 4);
}

function publicKeyParameters(algorithm: KeyAlgorithm): Template {
  if (isEcAlgorithm(algorithm)) {
    return [{ type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from(ecCurves[algorithm].paramsDer) }];
  }
  return [
    { type: pkcs11js.CKA_MODULUS_BITS, value: rsaModulusBits[algorithm] },
    { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: rsaPublicExponent },
  ];
}

/** Only signing, for good: CKA_MODIFIABLE off, so no one holding the PIN turns the other usages back on. */
const caOnlySigns: Template = [
  pkcs11js.CKA_DECRYPT,
  pkcs11js.CKA_UNWRAP,
  pkcs11js.CKA_DERIVE,
  pkcs11js.CKA_SIGN_RECOVER,
  pkcs11js.CKA_MODIFIABLE,
].map((type) => ({ type, value: false }));

function readBool(value: Buffer): boolean {
  return value.length > 0 && value[0] !== 0;
}

function keyNotFound(tokenLabel: string, key: KeyHandle): StationError {
  return new StationError(
    'keys.key-not-found',
    `Key '${key.label}' is not on HSM token '${tokenLabel}' (any more): was it destroyed or is this another token?`,
    { subject: key.label, details: { id: key.id } },
  );
}

/**
 * The HSM key store on pkcs11js directly (node-webcrypto-p11 measured 15x slower per signature,
 * stack-notes.md section 4). All stores on one token share one logged-in session. pkcs11js calls are
 * synchronous on the JS thread, so a C_SignInit/C_Sign pair can never interleave with another pipeline's:
 * one session serialises the many concurrent pipelines naturally, and the async methods stay thin.
 */
export class Pkcs11KeyStore implements KeyStore {
  readonly kind = 'pkcs11' as const;
  readonly isHardware: boolean;
  readonly description: string;
  readonly tokenLabel: string;

  /** Private key object handles by key id: finding an object costs more than the signature. */
  private readonly privateHandles = new Map<string, Pkcs11Handle>();
  /**
   * Both halves of the device keys made here, so destroying one (once per injected device) needs no
   * search: C_FindObjects walks every object on the token.
   */
  private readonly generatedPairs = new Map<string, readonly [Pkcs11Handle, Pkcs11Handle]>();
  private token: TokenSession | undefined;

  private constructor(token: TokenSession) {
    this.token = token;
    this.tokenLabel = token.tokenLabel;
    // SoftHSM2 speaks PKCS#11 but keeps its keys in files: say so rather than claim an HSM.
    const software = /softhsm/i.test(`${token.manufacturer} ${token.model}`);
    this.isHardware = !software;
    this.description = software
      ? `PKCS#11 token '${token.tokenLabel}' (${token.model}, a software token: NOT an HSM)`
      : `PKCS#11 token '${token.tokenLabel}' (${token.manufacturer} ${token.model})`;
  }

  static async open(options: Pkcs11KeyStoreOptions): Promise<Pkcs11KeyStore> {
    const env = options.env ?? process.env;
    const fromEnvironment = options.pin === undefined && env.STATION_HSM_PIN !== undefined;
    const pin =
      options.pin ?? env.STATION_HSM_PIN ?? (options.promptPin ? await options.promptPin() : undefined);
    if (pin === undefined || pin.length === 0) {
      throw new StationError(
        'keys.pin-required',
        `HSM token '${options.tokenLabel}' needs its PIN: enter it when asked or set STATION_HSM_PIN.`,
        { subject: options.tokenLabel },
      );
    }
    return new Pkcs11KeyStore(
      acquireTokenSession(options.module, options.tokenLabel, pin, {
        pinSource: fromEnvironment ? 'environment' : 'operator',
        warn: options.warn,
      }),
    );
  }

  private get session(): { pkcs11: Pkcs11; session: Pkcs11Handle } {
    if (!this.token) {
      throw new StationError('keys.store-closed', 'The key store was closed: open it again.', {
        userFault: false,
      });
    }
    return this.token;
  }

  async generateKeyPair(options: GenerateKeyOptions): Promise<KeyHandle> {
    const { pkcs11, session } = this.session;
    const isCa = options.purpose === 'ca';
    const persistent = options.purpose !== 'device';
    if (persistent && (await this.findKey({ label: options.label }))) {
      throw new StationError(
        'keys.label-taken',
        `HSM token '${this.tokenLabel}' already holds a key labelled '${options.label}': choose another name.`,
        { field: 'label', subject: options.label },
      );
    }
    const id = Buffer.from(newKeyId(), 'hex');
    const ec = isEcAlgorithm(options.algorithm);
    const common: Template = [
      { type: pkcs11js.CKA_TOKEN, value: persistent },
      { type: pkcs11js.CKA_LABEL, value: options.label },
      { type: pkcs11js.CKA_ID, value: id },
      { type: pkcs11js.CKA_KEY_TYPE, value: ec ? pkcs11js.CKK_EC : pkcs11js.CKK_RSA },
    ];
    const publicTemplate: Template = [
      ...common,
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
      { type: pkcs11js.CKA_PRIVATE, value: false },
      { type: pkcs11js.CKA_VERIFY, value: true },
      ...publicKeyParameters(options.algorithm),
    ];
    // CA keys never leave the token; device keys for injection are session objects that are exported once;
    // claim keys are token objects exported for every device of a claim job (key-store.ts).
    const privateTemplate: Template = [
      ...common,
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SIGN, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: isCa },
      { type: pkcs11js.CKA_EXTRACTABLE, value: !isCa },
      // A CA key only signs: tokens default the other usages to allowed (SoftHSM2 does), and a CA key that
      // decrypts or unwraps could be made to open what was sealed to it.
      ...(isCa ? caOnlySigns : []),
    ];
    const mechanism = { mechanism: ec ? pkcs11js.CKM_EC_KEY_PAIR_GEN : pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN };
    let pair: { privateKey: Pkcs11Handle; publicKey: Pkcs11Handle };
    try {
      pair = pkcs11.C_GenerateKeyPair(session, mechanism, publicTemplate, privateTemplate);
    } catch (error) {
      throw hsmError(error, this.tokenLabel, `generate a ${options.algorithm} key`);
    }
    const handle: KeyHandle = {
      id: id.toString('hex'),
      label: options.label,
      algorithm: options.algorithm,
      purpose: options.purpose,
      publicKeySpki: this.readSpki(pair.publicKey, options.algorithm),
      extractable: !isCa,
      // Made sensitive and unextractable, so the token keeps CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE.
      neverExtractable: isCa,
    };
    this.privateHandles.set(handle.id, pair.privateKey);
    if (!persistent) this.generatedPairs.set(handle.id, [pair.privateKey, pair.publicKey]);
    return handle;
  }

  async findKey(query: KeyQuery): Promise<KeyHandle | undefined> {
    const template: Template = [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }];
    if (query.label !== undefined) template.push({ type: pkcs11js.CKA_LABEL, value: query.label });
    if (query.id !== undefined) template.push({ type: pkcs11js.CKA_ID, value: Buffer.from(query.id, 'hex') });
    const found = this.findObjects(template, 'look up a key');
    if (found.length === 0) return undefined;
    if (found.length > 1) {
      throw new StationError(
        'keys.ambiguous',
        `HSM token '${this.tokenLabel}' holds several keys matching ${JSON.stringify(query)}: name the key by id.`,
        { subject: query.label ?? query.id },
      );
    }
    return this.describeKey(found[0]!);
  }

  async sign(key: KeyHandle, data: Uint8Array, hash: HashAlgorithm): Promise<Uint8Array> {
    const { pkcs11, session } = this.session;
    const privateKey = this.privateHandle(key);
    const digest = createHash(nodeHashNames[hash]).update(data).digest();
    // SoftHSM 2.6.1 has no CKM_ECDSA_SHA256 (stack-notes.md): hash here, sign the digest.
    try {
      if (isEcAlgorithm(key.algorithm)) {
        pkcs11.C_SignInit(session, { mechanism: pkcs11js.CKM_ECDSA }, privateKey);
        const raw = pkcs11.C_Sign(session, digest, Buffer.alloc(2 * ecCurves[key.algorithm].fieldBytes));
        return ecdsaRawToDer(raw);
      }
      pkcs11.C_SignInit(session, { mechanism: pkcs11js.CKM_RSA_PKCS }, privateKey);
      const digestInfo = Buffer.concat([digestInfoPrefixes[hash], digest]);
      return pkcs11.C_Sign(session, digestInfo, Buffer.alloc(rsaModulusBits[key.algorithm] / 8));
    } catch (error) {
      const failure = hsmError(error, this.tokenLabel, `sign with key '${key.label}'`);
      if (failure.code === 'keys.key-not-found') {
        this.privateHandles.delete(key.id);
        this.generatedPairs.delete(key.id);
      }
      throw failure;
    }
  }

  async exportPrivateKey(key: KeyHandle): Promise<Uint8Array> {
    if (!key.extractable) {
      throw new StationError(
        'keys.not-extractable',
        `Key '${key.label}' is a ${key.purpose} key made never to leave HSM token '${this.tokenLabel}'.`,
        { subject: key.label },
      );
    }
    const privateKey = this.privateHandle(key);
    const action = `export key '${key.label}'`;
    if (isEcAlgorithm(key.algorithm)) {
      const [scalar] = this.readAttributes(privateKey, [pkcs11js.CKA_VALUE], action);
      const point = key.publicKeySpki.subarray(ecCurves[key.algorithm].spkiPrefix.length);
      return ecPkcs8(key.algorithm, scalar!, point);
    }
    const [modulus, publicExponent, privateExponent, prime1, prime2, exponent1, exponent2, coefficient] =
      this.readAttributes(
        privateKey,
        [
          pkcs11js.CKA_MODULUS,
          pkcs11js.CKA_PUBLIC_EXPONENT,
          pkcs11js.CKA_PRIVATE_EXPONENT,
          pkcs11js.CKA_PRIME_1,
          pkcs11js.CKA_PRIME_2,
          pkcs11js.CKA_EXPONENT_1,
          pkcs11js.CKA_EXPONENT_2,
          pkcs11js.CKA_COEFFICIENT,
        ],
        action,
      ) as [Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, Buffer];
    return rsaPkcs8({
      modulus,
      publicExponent,
      privateExponent,
      prime1,
      prime2,
      exponent1,
      exponent2,
      coefficient,
    });
  }

  async destroyKey(key: KeyHandle): Promise<void> {
    const { pkcs11, session } = this.session;
    // Both halves share the CKA_ID; destroying by id also removes a public key left over from a failure.
    const objects =
      this.generatedPairs.get(key.id) ??
      this.findObjects(
        [{ type: pkcs11js.CKA_ID, value: Buffer.from(key.id, 'hex') }],
        `find key '${key.label}'`,
      );
    this.privateHandles.delete(key.id);
    this.generatedPairs.delete(key.id);
    for (const object of objects) {
      try {
        pkcs11.C_DestroyObject(session, object);
      } catch (error) {
        throw hsmError(error, this.tokenLabel, `destroy key '${key.label}'`);
      }
    }
  }

  async close(): Promise<void> {
    const token = this.token;
    this.token = undefined;
    this.privateHandles.clear();
    this.generatedPairs.clear();
    token?.release();
  }

  private privateHandle(key: KeyHandle): Pkcs11Handle {
    const cached = this.privateHandles.get(key.id);
    if (cached) return cached;
    const [found] = this.findObjects(
      [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
        { type: pkcs11js.CKA_ID, value: Buffer.from(key.id, 'hex') },
      ],
      `find key '${key.label}'`,
    );
    if (!found) throw keyNotFound(this.tokenLabel, key);
    this.privateHandles.set(key.id, found);
    return found;
  }

  private findObjects(template: Template, action: string): Pkcs11Handle[] {
    const { pkcs11, session } = this.session;
    const found: Pkcs11Handle[] = [];
    try {
      pkcs11.C_FindObjectsInit(session, template);
      try {
        for (;;) {
          const batch = pkcs11.C_FindObjects(session, 16);
          found.push(...batch);
          if (batch.length < 16) break;
        }
      } finally {
        pkcs11.C_FindObjectsFinal(session);
      }
    } catch (error) {
      throw hsmError(error, this.tokenLabel, action);
    }
    return found;
  }

  private readAttributes(object: Pkcs11Handle, types: number[], action: string): Buffer[] {
    const { pkcs11, session } = this.session;
    try {
      const result = pkcs11.C_GetAttributeValue(
        session,
        object,
        types.map((type) => ({ type })),
      );
      return types.map(
        (type) => result.find((attribute) => attribute.type === type)?.value ?? Buffer.alloc(0),
      );
    } catch (error) {
      throw hsmError(error, this.tokenLabel, action);
    }
  }

  private readSpki(publicKey: Pkcs11Handle, algorithm: KeyAlgorithm): Uint8Array {
    const action = 'read a public key';
    if (isEcAlgorithm(algorithm)) {
      const [point] = this.readAttributes(publicKey, [pkcs11js.CKA_EC_POINT], action);
      return ecSpki(algorithm, unwrapEcPoint(point!, ecCurves[algorithm].fieldBytes));
    }
    const [modulus, publicExponent] = this.readAttributes(
      publicKey,
      [pkcs11js.CKA_MODULUS, pkcs11js.CKA_PUBLIC_EXPONENT],
      action,
    );
    return rsaSpki({ modulus: modulus!, publicExponent: publicExponent! });
  }

  private describeKey(privateKey: Pkcs11Handle): KeyHandle {
    const action = 'read a key';
    const [keyType, token, extractable, sensitive, alwaysSensitive, neverExtractable, label, id] =
      this.readAttributes(
        privateKey,
        [
          pkcs11js.CKA_KEY_TYPE,
          pkcs11js.CKA_TOKEN,
          pkcs11js.CKA_EXTRACTABLE,
          pkcs11js.CKA_SENSITIVE,
          pkcs11js.CKA_ALWAYS_SENSITIVE,
          pkcs11js.CKA_NEVER_EXTRACTABLE,
          pkcs11js.CKA_LABEL,
          pkcs11js.CKA_ID,
        ],
        action,
      ) as [Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, Buffer];
    const labelText = label.toString('utf8');
    const unsupported = (what: string) =>
      new StationError(
        'keys.unsupported-key',
        `Key '${labelText}' on HSM token '${this.tokenLabel}' is ${what}, which the station does not use.`,
        { subject: labelText },
      );
    let algorithm: KeyAlgorithm;
    let publicKeySpki: Uint8Array;
    if (readUlong(keyType) === pkcs11js.CKK_EC) {
      const [publicKey] = this.findObjects(
        [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
          { type: pkcs11js.CKA_ID, value: id },
        ],
        action,
      );
      // An EC private key object carries no point (PKCS#11 v2.40 section 2.3.4): the SPKI needs its public half.
      if (!publicKey) throw unsupported('an EC key without its public half');
      const [params] = this.readAttributes(publicKey, [pkcs11js.CKA_EC_PARAMS], action);
      const ecAlgorithm = ecAlgorithmForParams(params!);
      if (!ecAlgorithm) throw unsupported('an EC key on another curve');
      algorithm = ecAlgorithm;
      publicKeySpki = this.readSpki(publicKey, algorithm);
    } else if (readUlong(keyType) === pkcs11js.CKK_RSA) {
      const [modulus, publicExponent] = this.readAttributes(
        privateKey,
        [pkcs11js.CKA_MODULUS, pkcs11js.CKA_PUBLIC_EXPONENT],
        action,
      ) as [Buffer, Buffer];
      const rsaAlgorithm = rsaAlgorithmForBits(modulus.length * 8);
      if (!rsaAlgorithm) throw unsupported(`an RSA-${modulus.length * 8} key`);
      algorithm = rsaAlgorithm;
      publicKeySpki = rsaSpki({ modulus, publicExponent });
    } else {
      throw unsupported('neither EC nor RSA');
    }
    const handle: KeyHandle = {
      id: id.toString('hex'),
      label: labelText,
      algorithm,
      // Only claim keys are both token objects and extractable (generateKeyPair).
      purpose: readBool(token) ? (readBool(extractable) ? 'claim' : 'ca') : 'device',
      publicKeySpki,
      extractable: readBool(extractable),
      // A key made elsewhere (another tool, a migrated key) may have been readable once, or be readable now.
      neverExtractable:
        !readBool(extractable) &&
        readBool(sensitive) &&
        readBool(alwaysSensitive) &&
        readBool(neverExtractable),
    };
    this.privateHandles.set(handle.id, privateKey);
    return handle;
  }
}
