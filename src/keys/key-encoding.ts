import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { ECParameters, ECPrivateKey, id_ecPublicKey, id_secp256r1, id_secp384r1 } from '@peculiar/asn1-ecc';
import { RSAPrivateKey, RSAPublicKey, id_rsaEncryption } from '@peculiar/asn1-rsa';
import { PrivateKey, PrivateKeyInfo } from '@peculiar/asn1-pkcs8';
import type { HashAlgorithm, KeyAlgorithm } from './key-store.js';

/**
 * DER encodings shared by the key stores: SubjectPublicKeyInfo and PKCS#8 built from the raw values a
 * PKCS#11 token returns, and signatures in the form X.509 wants them.
 */

export type EcAlgorithm = Extract<KeyAlgorithm, `EC-${string}`>;
export type RsaAlgorithm = Extract<KeyAlgorithm, `RSA-${string}`>;

export interface EcCurve {
  readonly oid: string;
  /** Bytes in one coordinate and in the private scalar. */
  readonly fieldBytes: number;
  /** The named curve as DER (CKA_EC_PARAMS). */
  readonly paramsDer: Uint8Array;
  /** Everything of the SPKI before the uncompressed point, so building one is a concatenation. */
  readonly spkiPrefix: Uint8Array;
  /** PKCS#8 = pkcs8Prefix || scalar (fieldBytes) || pkcs8Middle || point: the rest never changes per curve. */
  readonly pkcs8Prefix: Uint8Array;
  readonly pkcs8Middle: Uint8Array;
}

/**
 * Builds each curve's encodings once with asn1-schema and keeps the constant parts: serialising a PKCS#8
 * with asn1-schema costs ~170 us, a concatenation ~1 us, and device keys are exported once per device.
 */
function curve(oid: string, fieldBytes: number): EcCurve {
  const pointLength = 1 + 2 * fieldBytes;
  const paramsDer = new Uint8Array(AsnConvert.serialize(new ECParameters({ namedCurve: oid })));
  const spki = new Uint8Array(
    AsnConvert.serialize(
      new SubjectPublicKeyInfo({
        algorithm: new AlgorithmIdentifier({
          algorithm: id_ecPublicKey,
          parameters: paramsDer.slice().buffer,
        }),
        subjectPublicKey: new Uint8Array(pointLength).buffer,
      }),
    ),
  );
  const pkcs8 = ecPkcs8Der(paramsDer, new Uint8Array(fieldBytes), new Uint8Array(pointLength));
  // The tail is [1] { BIT STRING { 0 unused bits, point } }: 5 header bytes while the point is under 123 bytes.
  const middleLength = 5;
  return {
    oid,
    fieldBytes,
    paramsDer,
    spkiPrefix: spki.subarray(0, spki.length - pointLength),
    pkcs8Prefix: pkcs8.subarray(0, pkcs8.length - pointLength - middleLength - fieldBytes),
    pkcs8Middle: pkcs8.subarray(pkcs8.length - pointLength - middleLength, pkcs8.length - pointLength),
  };
}

function ecPkcs8Der(paramsDer: Uint8Array, scalar: Uint8Array, point: Uint8Array): Uint8Array {
  const ecKey = new ECPrivateKey({
    version: 1,
    privateKey: new OctetString(scalar),
    publicKey: point.slice().buffer,
  });
  const info = new PrivateKeyInfo({
    privateKeyAlgorithm: new AlgorithmIdentifier({
      algorithm: id_ecPublicKey,
      parameters: paramsDer.slice().buffer,
    }),
    privateKey: new PrivateKey(AsnConvert.serialize(ecKey)),
  });
  return new Uint8Array(AsnConvert.serialize(info));
}

export const ecCurves: Readonly<Record<EcAlgorithm, EcCurve>> = {
  'EC-P256': curve(id_secp256r1, 32),
  'EC-P384': curve(id_secp384r1, 48),
};

export const rsaModulusBits: Readonly<Record<RsaAlgorithm, number>> = {
  'RSA-2048': 2048,
  'RSA-3072': 3072,
};

export function isEcAlgorithm(algorithm: KeyAlgorithm): algorithm is EcAlgorithm {
  return algorithm.startsWith('EC-');
}

export function ecAlgorithmForParams(paramsDer: Uint8Array): EcAlgorithm | undefined {
  for (const [algorithm, entry] of Object.entries(ecCurves) as [EcAlgorithm, EcCurve][]) {
    if (Buffer.compare(entry.paramsDer, paramsDer) === 0) return algorithm;
  }
  return undefined;
}

export function rsaAlgorithmForBits(bits: number): RsaAlgorithm | undefined {
  for (const [algorithm, size] of Object.entries(rsaModulusBits) as [RsaAlgorithm, number][]) {
    if (size === bits) return algorithm;
  }
  return undefined;
}

/** SPKI of an EC key from its uncompressed point (0x04 || X || Y). */
export function ecSpki(algorithm: EcAlgorithm, point: Uint8Array): Uint8Array {
  const { spkiPrefix } = ecCurves[algorithm];
  const spki = new Uint8Array(spkiPrefix.length + point.length);
  spki.set(spkiPrefix);
  spki.set(point, spkiPrefix.length);
  return spki;
}

/**
 * CKA_EC_POINT holds the point wrapped in a DER OCTET STRING (PKCS#11 v2.40 section 2.3.3); some tokens
 * return it bare. Accepts both and returns the bare uncompressed point.
 */
export function unwrapEcPoint(value: Uint8Array, fieldBytes: number): Uint8Array {
  const pointLength = 1 + 2 * fieldBytes;
  if (value.length === pointLength && value[0] === 0x04) return value;
  return new Uint8Array(AsnConvert.parse(value, OctetString).buffer);
}

/** DER INTEGER contents are signed: an unsigned big-endian value with its top bit set needs a 0x00 prefix. */
function derIntegerBytes(unsigned: Uint8Array): Uint8Array {
  let start = 0;
  while (start < unsigned.length - 1 && unsigned[start] === 0) start++;
  const trimmed = unsigned.subarray(start);
  return trimmed[0]! & 0x80 ? Buffer.concat([Buffer.of(0), trimmed]) : trimmed;
}

/** asn1-schema takes INTEGER contents as an ArrayBuffer of its own (a copy: Buffers share a pool). */
function unsignedInteger(value: Uint8Array): ArrayBuffer {
  return new Uint8Array(derIntegerBytes(value)).buffer;
}

export interface RsaPublicComponents {
  modulus: Uint8Array;
  publicExponent: Uint8Array;
}

export function rsaSpki(key: RsaPublicComponents): Uint8Array {
  const publicKey = new RSAPublicKey({
    modulus: unsignedInteger(key.modulus),
    publicExponent: unsignedInteger(key.publicExponent),
  });
  const spki = new SubjectPublicKeyInfo({
    algorithm: new AlgorithmIdentifier({ algorithm: id_rsaEncryption, parameters: null }),
    subjectPublicKey: AsnConvert.serialize(publicKey),
  });
  return new Uint8Array(AsnConvert.serialize(spki));
}

/** PKCS#8 of an EC key from its private scalar (CKA_VALUE) and public point. */
export function ecPkcs8(algorithm: EcAlgorithm, scalar: Uint8Array, point: Uint8Array): Uint8Array {
  const { fieldBytes, pkcs8Prefix, pkcs8Middle } = ecCurves[algorithm];
  // RFC 5915: the private key is an octet string of exactly the field size, left-padded with zeros.
  const significant = scalar.subarray(Math.max(0, scalar.length - fieldBytes));
  const out = new Uint8Array(pkcs8Prefix.length + fieldBytes + pkcs8Middle.length + point.length);
  out.set(pkcs8Prefix, 0);
  out.set(significant, pkcs8Prefix.length + fieldBytes - significant.length);
  out.set(pkcs8Middle, pkcs8Prefix.length + fieldBytes);
  out.set(point, pkcs8Prefix.length + fieldBytes + pkcs8Middle.length);
  return out;
}

export interface RsaPrivateComponents extends RsaPublicComponents {
  privateExponent: Uint8Array;
  prime1: Uint8Array;
  prime2: Uint8Array;
  exponent1: Uint8Array;
  exponent2: Uint8Array;
  coefficient: Uint8Array;
}

export function rsaPkcs8(key: RsaPrivateComponents): Uint8Array {
  const rsaKey = new RSAPrivateKey({
    version: 0,
    modulus: unsignedInteger(key.modulus),
    publicExponent: unsignedInteger(key.publicExponent),
    privateExponent: unsignedInteger(key.privateExponent),
    prime1: unsignedInteger(key.prime1),
    prime2: unsignedInteger(key.prime2),
    exponent1: unsignedInteger(key.exponent1),
    exponent2: unsignedInteger(key.exponent2),
    coefficient: unsignedInteger(key.coefficient),
  });
  const info = new PrivateKeyInfo({
    privateKeyAlgorithm: new AlgorithmIdentifier({ algorithm: id_rsaEncryption, parameters: null }),
    privateKey: new PrivateKey(AsnConvert.serialize(rsaKey)),
  });
  return new Uint8Array(AsnConvert.serialize(info));
}

/** node:crypto hash names for the hashes X.509 signatures here use. */
export const nodeHashNames: Readonly<Record<HashAlgorithm, string>> = {
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
};

/**
 * DigestInfo prefixes (RFC 8017 section 9.2, note 1): CKM_RSA_PKCS signs whatever it is given, so the app
 * prepends the AlgorithmIdentifier of the hash to the digest itself.
 */
export const digestInfoPrefixes: Readonly<Record<HashAlgorithm, Uint8Array>> = {
  'SHA-256': Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  'SHA-384': Buffer.from('3041300d060960864801650304020205000430', 'hex'),
};

function significantStart(raw: Uint8Array, from: number, to: number): number {
  let start = from;
  while (start < to - 1 && raw[start] === 0) start++;
  return start;
}

/**
 * PKCS#11 CKM_ECDSA returns r || s, each the field size (PKCS#11 v2.40 section 2.3.1); X.509 wants the DER
 * ECDSA-Sig-Value SEQUENCE { r INTEGER, s INTEGER } (RFC 5480 section 2.2 / RFC 3279). Hand-written into
 * one buffer because it runs once per signature on the issuance path. Short-form lengths suffice up to
 * P-384 (48-byte halves); P-521 is not a station curve.
 */
export function ecdsaRawToDer(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2;
  const rStart = significantStart(raw, 0, half);
  const sStart = significantStart(raw, half, raw.length);
  const rPad = raw[rStart]! & 0x80 ? 1 : 0;
  const sPad = raw[sStart]! & 0x80 ? 1 : 0;
  const rLength = half - rStart + rPad;
  const sLength = raw.length - sStart + sPad;
  const bodyLength = 2 + rLength + 2 + sLength;
  const out = new Uint8Array(2 + bodyLength);
  out[0] = 0x30;
  out[1] = bodyLength;
  out[2] = 0x02;
  out[3] = rLength;
  out.set(raw.subarray(rStart, half), 4 + rPad);
  const sAt = 4 + rLength;
  out[sAt] = 0x02;
  out[sAt + 1] = sLength;
  out.set(raw.subarray(sStart), sAt + 2 + sPad);
  return out;
}
