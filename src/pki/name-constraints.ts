import { isIP } from 'node:net';
import { childrenOf, contentOf, contextConstructed, contextPrimitive, type DerElement } from './der.js';
import { ipAddressBytes, type SubjectAltNames } from './extensions.js';
import { decodeName, type NameAttribute } from './names.js';

/** A CA's NameConstraints (RFC 5280 4.2.1.10), for the name forms a device certificate can carry. */
export interface NameConstraints {
  permitted: Subtrees;
  excluded: Subtrees;
}

interface Subtrees {
  dns: string[];
  /** Address and mask, each 4 or 16 bytes. */
  ip: { address: Uint8Array; mask: Uint8Array }[];
  uri: string[];
  /** The attributes of each directoryName base, in order. */
  directory: NameAttribute[][];
}

/** The names of a certificate about to be signed, in the forms constraints apply to. */
export interface CertificateNames {
  /** The subject's attributes, in order. */
  subject: readonly NameAttribute[];
  dns: readonly string[];
  ip: readonly string[];
  uri: readonly string[];
}

/** The names a certificate carries (a parsed one, or one about to be signed), in the forms constraints apply to. */
export function certificateNames(certificate: {
  subject: readonly NameAttribute[];
  subjectAltNames?: SubjectAltNames;
}): CertificateNames {
  const altNames = certificate.subjectAltNames;
  return {
    subject: certificate.subject,
    dns: altNames?.dns ?? [],
    ip: altNames?.ip ?? [],
    uri: altNames?.uri ?? [],
  };
}

const emptySubtrees = (): Subtrees => ({ dns: [], ip: [], uri: [], directory: [] });

/** Reads the extension's value (the NameConstraints SEQUENCE) from `der`. */
export function readNameConstraints(der: Uint8Array, value: DerElement): NameConstraints {
  const constraints: NameConstraints = { permitted: emptySubtrees(), excluded: emptySubtrees() };
  for (const part of childrenOf(der, value)) {
    const into =
      part.tag === contextConstructed(0)
        ? constraints.permitted
        : part.tag === contextConstructed(1)
          ? constraints.excluded
          : undefined;
    if (!into) throw new Error('NameConstraints holds something other than permitted or excluded subtrees');
    for (const subtree of childrenOf(der, part)) {
      const base = childrenOf(der, subtree)[0];
      if (!base) throw new Error('a GeneralSubtree without a base');
      const content = contentOf(der, base);
      if (base.tag === contextPrimitive(2))
        into.dns.push(Buffer.from(content).toString('latin1').toLowerCase());
      else if (base.tag === contextPrimitive(6))
        into.uri.push(Buffer.from(content).toString('latin1').toLowerCase());
      else if (base.tag === contextPrimitive(7) && (content.length === 8 || content.length === 32)) {
        const half = content.length / 2;
        into.ip.push({ address: content.subarray(0, half), mask: content.subarray(half) });
      } else if (base.tag === contextConstructed(4)) {
        const name = childrenOf(der, base)[0];
        if (!name) throw new Error('a directoryName subtree without a name');
        into.directory.push(decodeName(der, name));
      }
      // Other forms (rfc822Name, otherName, ...) constrain only names of their own form, which the
      // station never writes (RFC 5280 4.2.1.10).
    }
  }
  return constraints;
}

/**
 * A common name OpenSSL takes for a host name (NAME_CONSTRAINTS_check_CN): letters, digits and
 * underscores in labels joined by dots, with hyphens inside labels, and at least one dot.
 */
const hostLikeName =
  /^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)+$/;

/**
 * Why the CA's constraints forbid these names, or undefined when they allow them: each name must lie in a
 * permitted subtree of its form (when the CA permits any of that form) and in no excluded one. A
 * certificate without DNS names has its subject CNs that look like host names checked as DNS names, as
 * OpenSSL does (a station thing name holds no dot, so never looks like one; a device maker's CN may).
 */
export function nameConstraintProblem(
  constraints: NameConstraints,
  names: CertificateNames,
): string | undefined {
  const { permitted, excluded } = constraints;
  // Without DNS names, the CNs are candidates for host names; OpenSSL drops trailing NULs first and
  // refuses a CN with a NUL inside under any constraints (error 53, unsupported name syntax).
  const commonNames =
    names.dns.length > 0
      ? []
      : names.subject
          .filter((attribute) => attribute.oid === '2.5.4.3')
          .map((attribute) => attribute.value.replace(/\0+$/, ''));
  if (commonNames.some((name) => name.includes('\0')))
    return 'the subject CN holds a NUL byte, which verifiers refuse under any name constraints';
  const checks: {
    form: string;
    values: readonly string[];
    inTree: (value: string, trees: Subtrees) => boolean;
    has: (trees: Subtrees) => boolean;
  }[] = [
    {
      form: 'DNS name',
      values: names.dns,
      inTree: (value, trees) => trees.dns.some((base) => dnsWithin(value, base)),
      has: (trees) => trees.dns.length > 0,
    },
    {
      form: 'subject CN (taken as a host name)',
      values: commonNames.filter((name) => hostLikeName.test(name)),
      inTree: (value, trees) => trees.dns.some((base) => dnsWithin(value, base)),
      has: (trees) => trees.dns.length > 0,
    },
    {
      form: 'IP address',
      values: names.ip,
      inTree: (value, trees) => trees.ip.some((range) => ipWithin(value, range)),
      has: (trees) => trees.ip.length > 0,
    },
    {
      form: 'URI',
      values: names.uri,
      inTree: (value, trees) => trees.uri.some((base) => uriWithin(value, base)),
      has: (trees) => trees.uri.length > 0,
    },
  ];
  for (const { form, values, inTree, has } of checks) {
    for (const value of values) {
      if (has(permitted) && !inTree(value, permitted))
        return `the ${form} ${value} is outside the subtrees the CA permits`;
      if (inTree(value, excluded)) return `the ${form} ${value} is in a subtree the CA excludes`;
    }
  }
  const subject = names.subject;
  if (permitted.directory.length > 0 && !permitted.directory.some((base) => nameWithin(subject, base))) {
    return 'the subject is outside the directory names the CA permits';
  }
  if (excluded.directory.some((base) => nameWithin(subject, base))) {
    return 'the subject is in a directory name the CA excludes';
  }
  return undefined;
}

/** RFC 5280: a name within `base` is base itself or base with labels added on the left (".base": only those). */
function dnsWithin(name: string, base: string): boolean {
  const lower = name.toLowerCase();
  if (base.startsWith('.')) return lower.endsWith(base);
  return lower === base || lower.endsWith(`.${base}`);
}

function ipWithin(ip: string, range: { address: Uint8Array; mask: Uint8Array }): boolean {
  if (isIP(ip) === 0) return false;
  const bytes = ipAddressBytes(ip);
  if (bytes.length !== range.address.length) return false;
  return bytes.every(
    (byte, index) => (byte & range.mask[index]!) === (range.address[index]! & range.mask[index]!),
  );
}

/** A URI constraint names a host: the URI's host equals it, or for ".domain" lies below it. */
function uriWithin(uri: string, base: string): boolean {
  const host = URL.canParse(uri) ? new URL(uri).hostname.toLowerCase() : '';
  if (host === '') return false;
  return base.startsWith('.') ? host.endsWith(base) : host === base;
}

/**
 * The subject starts with the base's attributes. Values compare as RFC 5280 7.1 asks, after string
 * preparation: case and runs of spaces aside, whatever string type each was written in (OpenSSL does so).
 */
function nameWithin(subject: readonly NameAttribute[], base: readonly NameAttribute[]): boolean {
  const prepared = (value: string) => value.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase();
  return (
    base.length <= subject.length &&
    base.every(
      (attribute, index) =>
        attribute.oid === subject[index]!.oid &&
        prepared(attribute.value) === prepared(subject[index]!.value),
    )
  );
}
