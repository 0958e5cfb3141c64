import type { SignatureAlgorithm } from './algorithms.js';
import { assembleSigned } from './certificate-builder.js';
import { contextConstructed, sequence, smallInteger, tlv } from './der.js';

/** CertificationRequestInfo (RFC 2986 4.1) with no attributes: what an intermediate CA's CSR carries. */
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
