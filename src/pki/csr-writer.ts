import type { KeyHandle, KeyStore } from '../keys/key-store.js';
import { signatureAlgorithmFor, type SignatureAlgorithm } from './algorithms.js';
import { assembleSigned } from './certificate-builder.js';
import { contextConstructed, sequence, smallInteger, tlv } from './der.js';
import { encodeName, type SubjectName } from './names.js';

/** CertificationRequestInfo (RFC 2986 4.1) with no attributes: all the station's own CSRs carry. */
export function encodeCsrInfo(subjectName: Uint8Array, spki: Uint8Array): Uint8Array {
  return sequence(smallInteger(0), subjectName, spki, tlv(contextConstructed(0)));
}

/** CertificationRequest from its info and the signature over it (same outer shape as a certificate). */
export function encodeCsr(
  info: Uint8Array,
  algorithm: SignatureAlgorithm,
  signature: Uint8Array,
): Uint8Array {
  return assembleSigned(info, algorithm, signature);
}

/** A CSR (DER) for a key in the key store, signed by that key: an intermediate CA's, an injected device key's. */
export async function requestForKey(
  keyStore: KeyStore,
  key: KeyHandle,
  subject: SubjectName,
): Promise<Uint8Array> {
  const signatureAlgorithm = signatureAlgorithmFor(key.algorithm);
  const info = encodeCsrInfo(encodeName(subject), key.publicKeySpki);
  return encodeCsr(info, signatureAlgorithm, await keyStore.sign(key, info, signatureAlgorithm.hash));
}
