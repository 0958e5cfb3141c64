import { createPublicKey, verify } from 'node:crypto';
import {
  allowsKeyUsage,
  digestForSignature,
  subjectText,
  type ParsedCertificate,
} from './certificate-reader.js';
import { certificateNames, nameConstraintProblem } from './name-constraints.js';

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

/** Subject and issuer are the same name (RFC 5280 6.1): such a CA certificate does not count in path lengths. */
const isSelfIssued = (certificate: ParsedCertificate): boolean => namedIssuerOf(certificate, certificate);

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

/** The first RFC 5280 path rule a CA certificate of a chain breaks, worded to name the certificates. */
export interface IssuerProblem {
  certificate: ParsedCertificate;
  rule: 'not-a-ca' | 'validity' | 'key-cert-sign' | 'path-length';
  /** A clause for the caller's message, e.g. "CN=Root allows no CA certificate below it (...)". */
  text: string;
}

/**
 * Checks the CA certificates of a path, the one that signs the end entity first, up to the trust anchor,
 * as RFC 5280 6.1.4 (k)-(n) does: each is a CA within its validity, its KeyUsage (when present) has
 * keyCertSign, and its pathLenConstraint admits the CA certificates below it, self-issued ones not counted.
 * The anchor's own constraints apply too, because OpenSSL applies them (openssl verify error 25).
 */
export function issuerProblem(issuers: readonly ParsedCertificate[], now: Date): IssuerProblem | undefined {
  const below: ParsedCertificate[] = [];
  for (const issuer of issuers) {
    const name = subjectText(issuer);
    if (!issuer.isCa) {
      return {
        certificate: issuer,
        rule: 'not-a-ca',
        text: `${name} is not a CA certificate (BasicConstraints CA:true missing)`,
      };
    }
    if (now < issuer.notBefore || now > issuer.notAfter) {
      return {
        certificate: issuer,
        rule: 'validity',
        text: `${name} is valid only from ${issuer.notBefore.toISOString()} to ${issuer.notAfter.toISOString()}`,
      };
    }
    if (!allowsKeyUsage(issuer, 'keyCertSign')) {
      return {
        certificate: issuer,
        rule: 'key-cert-sign',
        text: `the KeyUsage of ${name} lacks keyCertSign, so it may not sign certificates`,
      };
    }
    if (issuer.pathLength !== undefined && below.length > issuer.pathLength) {
      const allowed =
        issuer.pathLength === 0 ? 'no CA certificate' : `at most ${issuer.pathLength} CA certificates`;
      return {
        certificate: issuer,
        rule: 'path-length',
        text: `${name} allows ${allowed} below it (pathLenConstraint ${issuer.pathLength}), but ${below.map(subjectText).join(', ')} ${below.length === 1 ? 'is one' : `are ${below.length}`}`,
      };
    }
    if (!isSelfIssued(issuer)) below.push(issuer);
  }
  return undefined;
}

/** The CA certificate of a path whose NameConstraints an end entity's names break, and how. */
export interface NameConstraintBreach {
  certificate: ParsedCertificate;
  /** A clause for the caller's message, e.g. "the DNS name x.evil.com is outside the subtrees the CA permits". */
  text: string;
}

/**
 * Checks the end entity's SAN and subject against the NameConstraints of every CA certificate of its
 * path (RFC 5280 6.1.3 (b), (c)), the anchor's too, as issuance does before signing (issuance.ts) and as
 * openssl verify does (error 47). `issuers` is the path above `leaf`, in any order.
 */
export function nameConstraintBreach(
  leaf: ParsedCertificate,
  issuers: readonly ParsedCertificate[],
): NameConstraintBreach | undefined {
  const names = certificateNames(leaf);
  for (const issuer of issuers) {
    const text = issuer.nameConstraints && nameConstraintProblem(issuer.nameConstraints, names);
    if (text) return { certificate: issuer, text };
  }
  return undefined;
}
