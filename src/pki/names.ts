import {
  Tag,
  childrenOf,
  contentOf,
  decodeObjectIdentifier,
  decodeString,
  expectElement,
  objectIdentifier,
  printableString,
  sequence,
  set,
  utf8String,
  type DerElement,
} from './der.js';

/**
 * The subject attributes the station writes: the ones AWS templates can reference
 * (AWS::IoT::Certificate::CommonName, Country, Organization, ... aws-iot-spec.md 1), plus locality.
 */
export interface SubjectName {
  commonName: string;
  country?: string;
  state?: string;
  locality?: string;
  organization?: string;
  organizationalUnit?: string;
  serialNumber?: string;
  dnQualifier?: string;
}

interface AttributeSpec {
  key: keyof SubjectName;
  short: string;
  oid: string;
  /** X.520 restricts these to PrintableString. */
  printable: boolean;
}

/** Encoding order, most general first, as CAs conventionally write names. */
const attributeSpecs: readonly AttributeSpec[] = [
  { key: 'country', short: 'C', oid: '2.5.4.6', printable: true },
  { key: 'state', short: 'ST', oid: '2.5.4.8', printable: false },
  { key: 'locality', short: 'L', oid: '2.5.4.7', printable: false },
  { key: 'organization', short: 'O', oid: '2.5.4.10', printable: false },
  { key: 'organizationalUnit', short: 'OU', oid: '2.5.4.11', printable: false },
  { key: 'commonName', short: 'CN', oid: '2.5.4.3', printable: false },
  // serialNumber has no short name @peculiar/x509 knows (stack-notes.md 3); openssl prints "serialNumber".
  { key: 'serialNumber', short: 'serialNumber', oid: '2.5.4.5', printable: true },
  { key: 'dnQualifier', short: 'dnQualifier', oid: '2.5.4.46', printable: true },
];

const printableCharacters = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

/** Problems with a subject, by attribute key; empty when it can be encoded. */
export function subjectProblems(subject: SubjectName): string[] {
  const problems: string[] = [];
  if (subject.commonName.length === 0 || subject.commonName.length > 64) {
    problems.push('commonName must be 1-64 characters (RFC 5280 ub-common-name)');
  }
  if (subject.country !== undefined && !/^[A-Z]{2}$/.test(subject.country)) {
    problems.push('country must be a two-letter ISO 3166 code such as DE');
  }
  for (const spec of attributeSpecs) {
    const value = subject[spec.key];
    if (value === undefined) continue;
    if (value.length === 0) problems.push(`${spec.key} must not be empty`);
    if (spec.printable && !printableCharacters.test(value)) {
      problems.push(`${spec.key} may hold only letters, digits, spaces and ' ( ) + , - . / : = ?`);
    }
  }
  return problems;
}

// Encoded once: every certificate repeats them (the issuance path encodes a subject per identity).
const attributeTypeDer = new Map(attributeSpecs.map((spec) => [spec.key, objectIdentifier(spec.oid)]));

/** Name DER for the subject (one attribute per RDN). */
export function encodeName(subject: SubjectName): Uint8Array {
  const rdns: Uint8Array[] = [];
  for (const spec of attributeSpecs) {
    const value = subject[spec.key];
    if (value === undefined) continue;
    const encoded = spec.printable ? printableString(value) : utf8String(value);
    rdns.push(set(sequence(attributeTypeDer.get(spec.key)!, encoded)));
  }
  return sequence(...rdns);
}

export interface NameAttribute {
  oid: string;
  /** Short name (CN, O, ...) or the dotted OID when the station does not know it. */
  type: string;
  value: string;
}

const specByOid = new Map(attributeSpecs.map((spec) => [spec.oid, spec]));

/** The attributes of a Name element in order; throws DerError on a malformed name. */
export function decodeName(bytes: Uint8Array, name: DerElement): NameAttribute[] {
  const attributes: NameAttribute[] = [];
  for (const rdn of childrenOf(bytes, name)) {
    if (rdn.tag !== Tag.set) throw new Error('relative distinguished name is not a SET');
    for (const pair of childrenOf(bytes, rdn)) {
      const attribute = expectElement(bytes, pair.start, Tag.sequence, 'name attribute', pair.end);
      const [type, value] = childrenOf(bytes, attribute);
      if (!type || !value || type.tag !== Tag.oid) throw new Error('name attribute without a type');
      const oid = decodeObjectIdentifier(contentOf(bytes, type));
      attributes.push({
        oid,
        type: specByOid.get(oid)?.short ?? oid,
        value: decodeString(value.tag, contentOf(bytes, value)),
      });
    }
  }
  return attributes;
}

/** One line for people and the registry: "C=DE, O=Acme, CN=thing-1" in encoding order. */
export function formatName(attributes: readonly NameAttribute[]): string {
  return attributes.map((attribute) => `${attribute.type}=${escapeValue(attribute.value)}`).join(', ');
}

/** The same line for a subject the station is about to write. */
export function formatSubject(subject: SubjectName): string {
  return attributeSpecs
    .filter((spec) => subject[spec.key] !== undefined)
    .map((spec) => `${spec.short}=${escapeValue(subject[spec.key]!)}`)
    .join(', ');
}

function escapeValue(value: string): string {
  return value.replace(/([,+"\\<>;=])/g, '\\$1');
}

export function commonNameOf(attributes: readonly NameAttribute[]): string | undefined {
  return attributes.find((attribute) => attribute.oid === '2.5.4.3')?.value;
}

/** Parses "CN=Factory CA, O=Acme, C=DE" (the CLI form) into a SubjectName; unknown types are refused. */
export function parseSubject(text: string): SubjectName {
  const fields: Partial<Record<keyof SubjectName, string>> = {};
  for (const part of text.split(/(?<!\\),/)) {
    const trimmed = part.trim();
    if (trimmed.length === 0) continue;
    const equals = trimmed.indexOf('=');
    if (equals <= 0) throw new Error(`'${trimmed}' is not TYPE=value`);
    const type = trimmed.slice(0, equals).trim();
    const value = trimmed
      .slice(equals + 1)
      .trim()
      .replace(/\\(.)/g, '$1');
    const spec = attributeSpecs.find((candidate) => candidate.short.toLowerCase() === type.toLowerCase());
    if (!spec) {
      throw new Error(`unknown name type '${type}' (use ${attributeSpecs.map((s) => s.short).join(', ')})`);
    }
    fields[spec.key] = value;
  }
  if (fields.commonName === undefined) throw new Error('a CN is required');
  return { ...fields, commonName: fields.commonName };
}
