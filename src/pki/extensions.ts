import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { StationError } from '../api/errors.js';
import {
  Tag,
  bitString,
  bitStringBytes,
  childrenOf,
  contextConstructed,
  contextPrimitive,
  derTrue,
  expectElement,
  ia5String,
  objectIdentifier,
  octetString,
  sequence,
  smallInteger,
  tlv,
} from './der.js';

/** X.509 v3 extension encoders (RFC 5280 4.2). Each returns one whole Extension element. */
export const extensionOids = {
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  cRLNumber: '2.5.29.20',
  reasonCode: '2.5.29.21',
  nameConstraints: '2.5.29.30',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

export function extension(oid: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical
    ? sequence(objectIdentifier(oid), derTrue, octetString(value))
    : sequence(objectIdentifier(oid), octetString(value));
}

/** KeyUsage bit positions (RFC 5280 4.2.1.3), bit 0 being the most significant bit of the first byte. */
export const keyUsageBits = {
  digitalSignature: 0,
  keyEncipherment: 2,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
} as const;
export type KeyUsageName = keyof typeof keyUsageBits;

/** A named-bit BIT STRING in DER: trailing zero bits dropped, the unused-bit count set accordingly. */
function namedBits(positions: readonly number[]): Uint8Array {
  const highest = Math.max(...positions);
  const bytes = new Uint8Array(Math.floor(highest / 8) + 1);
  for (const position of positions) bytes[position >> 3]! |= 0x80 >> (position & 7);
  return bitString(bytes, 7 - (highest & 7));
}

export function keyUsageExtension(usages: readonly KeyUsageName[]): Uint8Array {
  return extension(extensionOids.keyUsage, true, namedBits(usages.map((usage) => keyUsageBits[usage])));
}

export function basicConstraintsExtension(ca: boolean, pathLength?: number): Uint8Array {
  const value = ca
    ? sequence(derTrue, ...(pathLength === undefined ? [] : [smallInteger(pathLength)]))
    : sequence(); // cA DEFAULT FALSE is omitted in DER
  return extension(extensionOids.basicConstraints, true, value);
}

export const clientAuthExtension = (): Uint8Array =>
  extension(extensionOids.extKeyUsage, false, sequence(objectIdentifier(extensionOids.clientAuth)));

export const subjectKeyIdentifierExtension = (keyIdentifier: Uint8Array): Uint8Array =>
  extension(extensionOids.subjectKeyIdentifier, false, octetString(keyIdentifier));

export const authorityKeyIdentifierExtension = (keyIdentifier: Uint8Array): Uint8Array =>
  extension(extensionOids.authorityKeyIdentifier, false, sequence(tlv(contextPrimitive(0), keyIdentifier)));

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
export function keyIdentifierOf(spki: Uint8Array): Uint8Array {
  const outer = expectElement(spki, 0, Tag.sequence, 'SubjectPublicKeyInfo');
  const keyBits = childrenOf(spki, outer)[1];
  if (!keyBits) throw new Error('SubjectPublicKeyInfo without a key');
  return createHash('sha1').update(bitStringBytes(spki, keyBits)).digest();
}

export interface SubjectAltNames {
  dns?: string[];
  uri?: string[];
  ip?: string[];
}

export function hasAltNames(names: SubjectAltNames | undefined): names is SubjectAltNames {
  return (names?.dns?.length ?? 0) + (names?.uri?.length ?? 0) + (names?.ip?.length ?? 0) > 0;
}

/**
 * A DNS name: labels of letters, digits and hyphens (RFC 5280 4.2.1.6), and underscores, which AWS thing
 * names a template may put here can hold and which verifiers accept.
 */
const dnsNamePattern = /^([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/i;

/**
 * The ASCII form of a DNS name (an internationalised one in its xn-- form, as RFC 5280 7.2 requires), or
 * undefined when it is none. `prefix` is a `*.` (a SAN wildcard) or `.` (a constraint for subdomains
 * only) the name may start with.
 */
function asciiDnsName(name: string, prefix: '*.' | '.'): string | undefined {
  const lead = name.startsWith(prefix) ? prefix : '';
  const ascii = domainToASCII(name.slice(lead.length));
  if (ascii === '' || ascii.length > 253 || !dnsNamePattern.test(ascii)) return undefined;
  return lead + ascii;
}

function invalidName(what: string, value: string, why: string): StationError {
  return new StationError('pki.san-invalid', `Subject alternative name ${what} '${value}' ${why}.`, {
    field: 'subjectAltNames',
    details: { [what]: value },
  });
}

const notDnsName = 'is not a DNS name (letters, digits and hyphens in dot-separated labels)';

/** The names as a certificate carries them (IA5String: ASCII only), or a refusal naming the one at fault. */
export function checkedAltNames(names: SubjectAltNames): SubjectAltNames {
  const dns = (names.dns ?? []).map(
    (name) => asciiDnsName(name, '*.') ?? throwError(invalidName('dns', name, notDnsName)),
  );
  for (const uri of names.uri ?? []) {
    if (!/^[\x21-\x7e]+$/.test(uri) || !URL.canParse(uri)) {
      throw invalidName('uri', uri, 'is not an ASCII URI (percent-encode anything else)');
    }
  }
  for (const ip of names.ip ?? []) if (isIP(ip) === 0) throw invalidName('ip', ip, 'is not an IP address');
  return { ...names, ...(names.dns && { dns }) };
}

/** A CA's permitted DNS subtrees in their ASCII form; an empty or malformed one would fence nothing. */
export function checkedPermittedDns(domains: readonly string[]): string[] {
  return domains.map(
    (domain) =>
      asciiDnsName(domain, '.') ??
      throwError(
        new StationError('input.invalid', `permittedDns: '${domain}' ${notDnsName}.`, {
          field: 'permittedDns',
        }),
      ),
  );
}

function throwError(error: Error): never {
  throw error;
}

/** SAN as GeneralNames: dNSName [2], uniformResourceIdentifier [6], iPAddress [7]. */
export function subjectAltNameExtension(names: SubjectAltNames): Uint8Array {
  const general: Uint8Array[] = [];
  for (const dns of names.dns ?? []) general.push(ia5String(dns, contextPrimitive(2)));
  for (const uri of names.uri ?? []) general.push(ia5String(uri, contextPrimitive(6)));
  for (const ip of names.ip ?? []) general.push(tlv(contextPrimitive(7), ipAddressBytes(ip)));
  // Never critical: the station always writes a subject CN (RFC 5280 4.2.1.6).
  return extension(extensionOids.subjectAltName, false, sequence(...general));
}

export function ipAddressBytes(ip: string): Uint8Array {
  const version = isIP(ip);
  if (version === 4) return Uint8Array.from(ip.split('.').map(Number));
  if (version !== 6) throw new Error(`'${ip}' is not an IP address`);
  const [head = '', tail = ''] = ip.split('::');
  // A dotted IPv4 tail (::ffff:192.0.2.1) stands for the last two groups.
  const group = (text: string): number[] => {
    if (!text.includes('.')) return [parseInt(text, 16)];
    const [a = 0, b = 0, c = 0, d = 0] = text.split('.').map(Number);
    return [(a << 8) | b, (c << 8) | d];
  };
  const groups = (part: string): number[] => (part === '' ? [] : part.split(':').flatMap(group));
  const left = groups(head);
  const right = ip.includes('::') ? groups(tail) : [];
  const middle = new Array<number>(8 - left.length - right.length).fill(0);
  const bytes = new Uint8Array(16);
  [...left, ...middle, ...right].forEach((group, index) => {
    bytes[index * 2] = group >> 8;
    bytes[index * 2 + 1] = group & 0xff;
  });
  return bytes;
}

/** An iPAddress GeneralName's bytes as text: dotted IPv4, or IPv6 in full; other lengths in hex (no address). */
export function ipAddressText(bytes: Uint8Array): string {
  if (bytes.length === 4) return [...bytes].join('.');
  const hex = Buffer.from(bytes).toString('hex');
  if (bytes.length !== 16) return hex;
  return (hex.match(/.{4}/g) ?? []).join(':');
}

/** Name constraints of a CA: permitted DNS subtrees only (what a factory CA needs to fence its devices). */
export function nameConstraintsExtension(permittedDns: readonly string[]): Uint8Array {
  const subtrees = permittedDns.map((dns) => sequence(ia5String(dns, contextPrimitive(2))));
  // RFC 5280 4.2.1.10: conforming CAs MUST mark this extension critical.
  return extension(extensionOids.nameConstraints, true, sequence(tlv(contextConstructed(0), ...subtrees)));
}
