import { createPublicKey, verify } from 'node:crypto';
import { digestForSignature, type ParsedCertificate } from './certificate-reader.js';

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

/** True when `certificate`'s signature verifies with the issuer's public key. */
export function signedBy(certificate: ParsedCertificate, issuerSpki: Uint8Array): boolean {
  const digest = digestForSignature(certificate.signatureAlgorithmOid);
  if (!digest) return false;
  try {
    const key = createPublicKey({ key: Buffer.from(issuerSpki), format: 'der', type: 'spki' });
    return verify(digest, certificate.tbs, key, certificate.signature);
  } catch {
    return false;
  }
}

/** Names match byte for byte (we write issuers as copies of the CA subject, RFC 5280 7.1 allows it). */
export const namedIssuerOf = (child: ParsedCertificate, issuer: ParsedCertificate): boolean =>
  sameBytes(child.issuerName, issuer.subjectName);

export const isSelfSigned = (certificate: ParsedCertificate): boolean =>
  namedIssuerOf(certificate, certificate) && signedBy(certificate, certificate.spki);

export const sameKey = (a: Uint8Array, b: Uint8Array): boolean => sameBytes(a, b);

/**
 * Orders `pool` into the chain above `leaf`: each next certificate names and signs the previous one.
 * Stops at a self-signed certificate or when no issuer is in the pool; returns leaf first.
 */
export function chainAbove(leaf: ParsedCertificate, pool: readonly ParsedCertificate[]): ParsedCertificate[] {
  const chain = [leaf];
  let current = leaf;
  while (!isSelfSigned(current) && chain.length <= pool.length + 1) {
    const issuer = pool.find(
      (candidate) =>
        !chain.includes(candidate) && namedIssuerOf(current, candidate) && signedBy(current, candidate.spki),
    );
    if (!issuer) break;
    chain.push(issuer);
    current = issuer;
  }
  return chain;
}
