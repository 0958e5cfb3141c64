import type { HashAlgorithm, KeyAlgorithm } from '../keys/key-store.js';
import {
  Tag,
  bitStringBytes,
  childrenOf,
  contentOf,
  decodeObjectIdentifier,
  derNull,
  expectElement,
  objectIdentifier,
  readElement,
  sequence,
} from './der.js';

export const oids = {
  ecPublicKey: '1.2.840.10045.2.1',
  rsaEncryption: '1.2.840.113549.1.1.1',
  p256: '1.2.840.10045.3.1.7',
  p384: '1.3.132.0.34',
  p521: '1.3.132.0.35',
  secp256k1: '1.3.132.0.10',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  ecdsaWithSha512: '1.2.840.10045.4.3.4',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  sha384WithRsa: '1.2.840.113549.1.1.12',
  sha512WithRsa: '1.2.840.113549.1.1.13',
} as const;

const curveNames: Record<string, string> = {
  [oids.p256]: 'P-256',
  [oids.p384]: 'P-384',
  [oids.p521]: 'P-521',
  [oids.secp256k1]: 'secp256k1',
};

/** What a SubjectPublicKeyInfo holds, in the terms the station's key rules use. */
export type PublicKeyDescription =
  | { kind: 'EC'; curve: string; curveOid: string; algorithm?: KeyAlgorithm }
  | { kind: 'RSA'; modulusBits: number; algorithm?: KeyAlgorithm }
  | { kind: 'other'; algorithmOid: string };

/**
 * Parses a SubjectPublicKeyInfo far enough to apply key rules; throws (DerError or Error) when it is not
 * exactly one. Strict, because a certificate copies the SPKI byte for byte: an element too many, which
 * a lenient reader skips, makes a certificate that OpenSSL and AWS cannot load.
 */
export function describePublicKey(spki: Uint8Array): PublicKeyDescription {
  const outer = expectElement(spki, 0, Tag.sequence, 'SubjectPublicKeyInfo');
  if (outer.end !== spki.length) throw new Error('bytes follow the SubjectPublicKeyInfo');
  const [algorithm, keyBits, ...extra] = childrenOf(spki, outer);
  if (!algorithm || !keyBits || extra.length > 0) throw new Error('not a SubjectPublicKeyInfo');
  if (algorithm.tag !== Tag.sequence || keyBits.tag !== Tag.bitString) {
    throw new Error('not a SubjectPublicKeyInfo');
  }
  const [algorithmOid, parameters, ...moreParameters] = childrenOf(spki, algorithm);
  if (!algorithmOid || algorithmOid.tag !== Tag.oid) throw new Error('public key algorithm missing');
  if (moreParameters.length > 0) throw new Error('the key algorithm has more than one parameter');
  const oid = decodeObjectIdentifier(contentOf(spki, algorithmOid));
  if (oid === oids.ecPublicKey) {
    if (!parameters || parameters.tag !== Tag.oid) {
      return { kind: 'EC', curve: 'explicit parameters', curveOid: '' };
    }
    const curveOid = decodeObjectIdentifier(contentOf(spki, parameters));
    const curve = curveNames[curveOid] ?? curveOid;
    const algorithm: KeyAlgorithm | undefined =
      curveOid === oids.p256 ? 'EC-P256' : curveOid === oids.p384 ? 'EC-P384' : undefined;
    return { kind: 'EC', curve, curveOid, ...(algorithm && { algorithm }) };
  }
  if (oid === oids.rsaEncryption) {
    // RFC 3279 2.3.1: the parameters are NULL.
    if (!parameters || parameters.tag !== Tag.null || parameters.end !== parameters.contentStart) {
      throw new Error('rsaEncryption parameters must be NULL');
    }
    const key = bitStringBytes(spki, keyBits);
    const rsaKey = expectElement(key, 0, Tag.sequence, 'RSAPublicKey');
    if (rsaKey.end !== key.length || childrenOf(key, rsaKey).length !== 2) {
      throw new Error('RSAPublicKey is not a modulus and an exponent');
    }
    const modulus = readElement(key, rsaKey.contentStart, rsaKey.end);
    let content = contentOf(key, modulus);
    while (content.length > 0 && content[0] === 0) content = content.subarray(1);
    const modulusBits = content.length === 0 ? 0 : (content.length - 1) * 8 + bitLength(content[0]!);
    const algorithm: KeyAlgorithm | undefined =
      modulusBits === 2048 ? 'RSA-2048' : modulusBits === 3072 ? 'RSA-3072' : undefined;
    return { kind: 'RSA', modulusBits, ...(algorithm && { algorithm }) };
  }
  return { kind: 'other', algorithmOid: oid };
}

function bitLength(byte: number): number {
  let bits = 0;
  for (let rest = byte; rest > 0; rest >>= 1) bits++;
  return bits;
}

/** How a key of the given algorithm signs a certificate, CRL or CSR. */
export interface SignatureAlgorithm {
  readonly oid: string;
  readonly hash: HashAlgorithm;
  /** The AlgorithmIdentifier DER: no parameters for ECDSA, NULL for RSA (RFC 5758 3.2, RFC 4055 5). */
  readonly identifier: Uint8Array;
}

export function signatureAlgorithmFor(key: KeyAlgorithm): SignatureAlgorithm {
  switch (key) {
    case 'EC-P256':
      return {
        oid: oids.ecdsaWithSha256,
        hash: 'SHA-256',
        identifier: sequence(objectIdentifier(oids.ecdsaWithSha256)),
      };
    case 'EC-P384':
      return {
        oid: oids.ecdsaWithSha384,
        hash: 'SHA-384',
        identifier: sequence(objectIdentifier(oids.ecdsaWithSha384)),
      };
    case 'RSA-2048':
    case 'RSA-3072':
      return {
        oid: oids.sha256WithRsa,
        hash: 'SHA-256',
        identifier: sequence(objectIdentifier(oids.sha256WithRsa), derNull),
      };
  }
}

/** node:crypto digest names for signature algorithm OIDs a verifier accepts. */
export const verifiableSignatureHashes: Readonly<Record<string, { hash: string; keyKind: 'EC' | 'RSA' }>> = {
  [oids.ecdsaWithSha256]: { hash: 'sha256', keyKind: 'EC' },
  [oids.ecdsaWithSha384]: { hash: 'sha384', keyKind: 'EC' },
  [oids.ecdsaWithSha512]: { hash: 'sha512', keyKind: 'EC' },
  [oids.sha256WithRsa]: { hash: 'sha256', keyKind: 'RSA' },
  [oids.sha384WithRsa]: { hash: 'sha384', keyKind: 'RSA' },
  [oids.sha512WithRsa]: { hash: 'sha512', keyKind: 'RSA' },
};
