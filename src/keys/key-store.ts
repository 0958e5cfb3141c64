/**
 * The KeyStore contract: every private key the station holds lives behind it. A CA key never leaves it;
 * a device key made for injection is exported once (PKCS#8) and then destroyed; a claim key is kept and
 * exported for every device of a claim job.
 */
export const keyAlgorithms = ['EC-P256', 'EC-P384', 'RSA-2048', 'RSA-3072'] as const;
export type KeyAlgorithm = (typeof keyAlgorithms)[number];

export type HashAlgorithm = 'SHA-256' | 'SHA-384';

/**
 * - `ca`: persistent (token object), sensitive, never extractable.
 * - `device`: for injection; a session object, extractable, exported once and destroyed.
 * - `claim`: the key of a fleet-provisioning claim certificate (aws-iot-spec.md 3) that every device of a
 *   claim job receives: persistent (a token object; in the soft store, in its encrypted file like a CA key)
 *   and extractable. It is written to devices, so it is only as secret as the devices keep it: revoke the
 *   claim certificate when one leaks.
 */
export type KeyPurpose = 'ca' | 'device' | 'claim';

/** Purposes whose keys outlive the process (token objects, or the soft store's file). */
export const persistentKeyPurposes: readonly KeyPurpose[] = ['ca', 'claim'];

export interface KeyHandle {
  /** Stable id within the store (hex CKA_ID on a token). */
  readonly id: string;
  readonly label: string;
  readonly algorithm: KeyAlgorithm;
  readonly purpose: KeyPurpose;
  /** SubjectPublicKeyInfo, DER. */
  readonly publicKeySpki: Uint8Array;
  readonly extractable: boolean;
  /**
   * The private value never left the store and cannot: on a token CKA_SENSITIVE and CKA_ALWAYS_SENSITIVE
   * true, CKA_EXTRACTABLE false and CKA_NEVER_EXTRACTABLE true; in the soft store, a CA key. A CA signs
   * only with such a key.
   */
  readonly neverExtractable: boolean;
}

export interface GenerateKeyOptions {
  algorithm: KeyAlgorithm;
  label: string;
  purpose: KeyPurpose;
}

export interface KeyQuery {
  label?: string;
  id?: string;
}

export interface KeyStore {
  readonly kind: 'pkcs11' | 'soft';
  /** False for the soft store: hosts must say plainly that keys are not in an HSM. */
  readonly isHardware: boolean;
  /** One line for a technician, e.g. "PKCS#11 token 'factory-ca'" or "software key store (NOT an HSM)". */
  readonly description: string;

  generateKeyPair(options: GenerateKeyOptions): Promise<KeyHandle>;
  findKey(query: KeyQuery): Promise<KeyHandle | undefined>;
  /**
   * Signs data with the key, hashing with `hash` (a PKCS#11 store hashes in the app and signs the digest,
   * since SoftHSM2 offers CKM_ECDSA without hashing). Returns the signature as X.509 wants it: DER
   * ECDSA-Sig-Value for EC keys, PKCS#1 v1.5 for RSA keys.
   */
  sign(key: KeyHandle, data: Uint8Array, hash: HashAlgorithm): Promise<Uint8Array>;
  /** PKCS#8 DER; refused (keys.not-extractable) unless the key was made extractable. */
  exportPrivateKey(key: KeyHandle): Promise<Uint8Array>;
  destroyKey(key: KeyHandle): Promise<void>;
  close(): Promise<void>;
}
