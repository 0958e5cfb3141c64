import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { StationError } from '../api/errors.js';
import type { KeyAlgorithm } from '../keys/key-store.js';
import { describePublicKey, verifiableSignatureHashes, type PublicKeyDescription } from './algorithms.js';
import {
  DerError,
  Tag,
  bitStringBytes,
  childrenOf,
  contentOf,
  decodeObjectIdentifier,
  expectElement,
  wholeOf,
} from './der.js';
import { commonNameOf, decodeName, formatName, type NameAttribute } from './names.js';
import { derBlocksFrom } from './pem.js';

/** A CSR that parsed, whose signature verified and whose key the rules allow. */
export interface CheckedCsr {
  subject: NameAttribute[];
  subjectText: string;
  commonName?: string;
  spki: Uint8Array;
  key: Exclude<PublicKeyDescription, { kind: 'other' }> & { algorithm: KeyAlgorithm };
}

export interface CsrRules {
  /** Key types and sizes accepted (issue 3: EC P-256/P-384, RSA 2048/3072 unless configured narrower). */
  allowedKeys: readonly KeyAlgorithm[];
  /** When given, the CSR's CN must equal it (the thing name, or what the template says). */
  expectedCommonName?: string;
}

/** The subject rule for CNs the station derives thing names from: AWS thing names (aws-iot-spec.md 1). */
const thingNamePattern = /^[a-zA-Z0-9:_-]{1,128}$/;

const csrLabels = ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST'];

/** Input errors about a CSR: each cause has its own code so a technician (and a test) can tell them apart. */
function csrError(reason: string, message: string, details?: Record<string, unknown>): StationError {
  return new StationError(`pki.csr-${reason}`, message, { field: 'csr', ...(details && { details }) });
}

/**
 * Checks a CSR (PEM or DER bytes) in order: readable, well-formed DER, allowed key, valid public key,
 * signature, subject rules. Throws a StationError with code pki.csr-* at the first failure.
 */
export function checkCsr(content: Uint8Array, rules: CsrRules): CheckedCsr {
  const blocks = derBlocksFrom(content, csrLabels);
  if (blocks.length !== 1) {
    throw csrError(
      'unreadable',
      blocks.length === 0
        ? 'The file is not a certificate signing request (no PEM CERTIFICATE REQUEST block and not DER).'
        : 'The file holds several certificate signing requests; give one CSR per device.',
    );
  }
  const parsed = parseCsrStructure(blocks[0]!);
  const key = checkKeyRules(parsed.spki, rules.allowedKeys);
  const publicKey = importPublicKey(parsed.spki, key);
  verifySignature(parsed, publicKey, key);
  const commonName = commonNameOf(parsed.subject);
  checkSubject(commonName, rules.expectedCommonName);
  return {
    subject: parsed.subject,
    subjectText: formatName(parsed.subject),
    ...(commonName !== undefined && { commonName }),
    spki: parsed.spki,
    key,
  };
}

interface CsrStructure {
  info: Uint8Array;
  subject: NameAttribute[];
  spki: Uint8Array;
  signatureAlgorithmOid: string;
  signature: Uint8Array;
}

function parseCsrStructure(der: Uint8Array): CsrStructure {
  try {
    const outer = expectElement(der, 0, Tag.sequence, 'CertificationRequest');
    if (outer.end !== der.length) throw new DerError('bytes follow the end of the request', outer.end);
    const [info, algorithm, signature, ...extra] = childrenOf(der, outer);
    if (!info || !algorithm || !signature || extra.length > 0) {
      throw new DerError('a CSR has exactly three parts', outer.start);
    }
    if (info.tag !== Tag.sequence || algorithm.tag !== Tag.sequence || signature.tag !== Tag.bitString) {
      throw new DerError('the parts of the CSR have the wrong types', outer.start);
    }
    const [version, subject, spki, attributes] = childrenOf(der, info);
    if (!version || version.tag !== Tag.integer || contentOf(der, version).join() !== '0') {
      throw new DerError('CSR version must be 1 (0)', info.start);
    }
    if (!subject || subject.tag !== Tag.sequence || !spki || spki.tag !== Tag.sequence) {
      throw new DerError('subject or public key missing', info.start);
    }
    if (attributes && attributes.tag !== 0xa0) throw new DerError('attributes must be [0]', attributes.start);
    // Older nRF91 modem firmware writes ecdsa-with-SHA256 with a NULL parameter (protocols.md 1.4, 6.6):
    // tolerate exactly that (parameters absent or NULL), which is also what RSA algorithm ids carry.
    const [oid, parameters, ...moreParameters] = childrenOf(der, algorithm);
    if (!oid || oid.tag !== Tag.oid || moreParameters.length > 0) {
      throw new DerError('signature algorithm is malformed', algorithm.start);
    }
    if (parameters && !(parameters.tag === Tag.null && parameters.end === parameters.contentStart)) {
      throw new DerError('signature algorithm parameters are not supported', algorithm.start);
    }
    return {
      info: wholeOf(der, info),
      subject: decodeName(der, subject),
      spki: wholeOf(der, spki),
      signatureAlgorithmOid: decodeObjectIdentifier(contentOf(der, oid)),
      signature: bitStringBytes(der, signature),
    };
  } catch (error) {
    if (error instanceof StationError) throw error;
    const where = error instanceof DerError ? ` at byte ${error.offset}` : '';
    throw csrError(
      'malformed',
      `The certificate signing request is damaged (${messageOf(error)}${where}); ask the device for a new CSR.`,
    );
  }
}

/** Makes the error for a broken key rule; `reason` is what the pki.csr-* code of a CSR ends in. */
export type KeyRuleError = (
  reason: string,
  message: string,
  details?: Record<string, unknown>,
) => StationError;

/**
 * The key rules of issue 3. A certificate a device already holds (key mode existing) must meet them too:
 * `holder` names whose key it is in the messages, `fail` makes the error.
 */
export function checkKeyRules(
  spki: Uint8Array,
  allowed: readonly KeyAlgorithm[],
  holder = 'The CSR',
  fail: KeyRuleError = csrError,
): CheckedCsr['key'] {
  let key: PublicKeyDescription;
  try {
    key = describePublicKey(spki);
  } catch (error) {
    throw fail('malformed', `${holder}'s public key field is damaged (${messageOf(error)}).`);
  }
  const allowedText = allowed.join(', ');
  if (key.kind === 'RSA' && (key.algorithm === undefined || !allowed.includes(key.algorithm))) {
    const tooSmall = key.modulusBits < 2048;
    throw fail(
      tooSmall ? 'key-too-small' : 'key-size-not-allowed',
      tooSmall
        ? `${holder} has an RSA-${key.modulusBits} key, which is too weak; the station accepts ${allowedText}.`
        : `${holder} has an RSA-${key.modulusBits} key; the station accepts ${allowedText}.`,
      { modulusBits: key.modulusBits },
    );
  }
  if (key.kind === 'EC' && (key.algorithm === undefined || !allowed.includes(key.algorithm))) {
    throw fail(
      'curve-not-allowed',
      `${holder}'s key is on curve ${key.curve}; the station accepts ${allowedText}.`,
      {
        curve: key.curve,
      },
    );
  }
  if (key.kind === 'other') {
    throw fail(
      'key-type-not-allowed',
      `${holder}'s key type (${key.algorithmOid}) is not accepted; the station accepts ${allowedText}.`,
      { algorithmOid: key.algorithmOid },
    );
  }
  return key as CheckedCsr['key'];
}

function subjectPublicKeyBits(spki: Uint8Array): Uint8Array {
  const [, keyBits] = childrenOf(spki, expectElement(spki, 0, Tag.sequence, 'SubjectPublicKeyInfo'));
  return bitStringBytes(spki, keyBits!);
}

const ecCoordinateBytes: Readonly<Record<string, number>> = { 'P-256': 32, 'P-384': 48 };

/**
 * Imports the CSR's key for verification. An uncompressed EC point goes in as JWK: OpenSSL 3 decodes DER
 * SubjectPublicKeyInfo through its generic decoder framework, measured ~75 us slower per key here.
 * Both ways check that the point is on the curve.
 */
function importPublicKey(spki: Uint8Array, key: CheckedCsr['key']): KeyObject {
  try {
    const size = key.kind === 'EC' ? ecCoordinateBytes[key.curve] : undefined;
    const point = Buffer.from(subjectPublicKeyBits(spki));
    if (key.kind === 'EC' && size !== undefined && point.length === 1 + 2 * size && point[0] === 0x04) {
      const x = point.subarray(1, 1 + size).toString('base64url');
      const y = point.subarray(1 + size).toString('base64url');
      return createPublicKey({ key: { kty: 'EC', crv: key.curve, x, y }, format: 'jwk' });
    }
    return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (error) {
    throw csrError(
      'public-key-invalid',
      `The CSR's public key is not a valid key (${messageOf(error)}); ask the device for a new CSR.`,
    );
  }
}

function verifySignature(csr: CsrStructure, publicKey: KeyObject, key: CheckedCsr['key']): void {
  const scheme = verifiableSignatureHashes[csr.signatureAlgorithmOid];
  if (!scheme || scheme.keyKind !== key.kind) {
    throw csrError(
      'signature-algorithm-not-allowed',
      `The CSR is signed with ${csr.signatureAlgorithmOid}, which does not fit its ${key.kind} key; ` +
        'use ECDSA or RSA PKCS#1 v1.5 with SHA-256, SHA-384 or SHA-512.',
    );
  }
  let valid: boolean;
  try {
    valid = verify(scheme.hash, csr.info, publicKey, csr.signature);
  } catch {
    valid = false;
  }
  if (!valid) {
    throw csrError(
      'signature-invalid',
      "The CSR's signature does not verify with its own public key: it was altered after signing or signed " +
        'with another key; ask the device for a new CSR.',
    );
  }
}

function checkSubject(commonName: string | undefined, expected: string | undefined): void {
  if (commonName === undefined) {
    throw csrError('subject-no-cn', 'The CSR subject has no CN; the station needs CN = the thing name.');
  }
  if (expected !== undefined && commonName !== expected) {
    throw csrError(
      'subject-mismatch',
      `The CSR's CN is '${commonName}' but this device must be '${expected}'.`,
      {
        commonName,
        expected,
      },
    );
  }
  if (expected === undefined && !thingNamePattern.test(commonName)) {
    throw csrError(
      'subject-invalid',
      `The CSR's CN '${commonName}' is not a valid thing name (1-128 of letters, digits, ':', '_', '-').`,
    );
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
