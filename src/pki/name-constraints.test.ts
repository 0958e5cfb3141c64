import { describe, expect, it } from 'vitest';
import {
  Tag,
  childrenOf,
  contextConstructed,
  contextPrimitive,
  expectElement,
  ia5String,
  objectIdentifier,
  printableString,
  sequence,
  tlv,
} from './der.js';
import { nameConstraintProblem, readNameConstraints, type CertificateNames } from './name-constraints.js';
import { decodeName, encodeName } from './names.js';

const subtree = (tag: number, content: Uint8Array) => sequence(tlv(tag, content));
const dns = (name: string) => sequence(ia5String(name, contextPrimitive(2)));

function constraints(permitted: Uint8Array[], excluded: Uint8Array[] = []) {
  const der = sequence(
    ...(permitted.length > 0 ? [tlv(contextConstructed(0), ...permitted)] : []),
    ...(excluded.length > 0 ? [tlv(contextConstructed(1), ...excluded)] : []),
  );
  return readNameConstraints(der, expectElement(der, 0, Tag.sequence, 'NameConstraints'));
}

function rdnsOf(name: Uint8Array): Uint8Array[] {
  return childrenOf(name, expectElement(name, 0, Tag.sequence, 'Name')).map((rdn) =>
    name.subarray(rdn.start, rdn.end),
  );
}

const attributesOf = (name: Uint8Array) => decodeName(name, expectElement(name, 0, Tag.sequence, 'Name'));

const names = (extra: Partial<CertificateNames>): CertificateNames => ({
  subject: attributesOf(encodeName({ commonName: 'thing-1', organization: 'Acme' })),
  dns: [],
  ip: [],
  uri: [],
  ...extra,
});

describe('name constraints', () => {
  it('permits a DNS subtree and the names below it, case aside; a leading dot means below only', () => {
    const fence = constraints([dns('devices.acme.com')]);
    for (const name of ['devices.acme.com', 'x.devices.ACME.com'])
      expect(nameConstraintProblem(fence, names({ dns: [name] }))).toBeUndefined();
    expect(nameConstraintProblem(fence, names({ dns: ['evildevices.acme.com'] }))).toContain('outside');
    const below = constraints([dns('.acme.com')]);
    expect(nameConstraintProblem(below, names({ dns: ['acme.com'] }))).toContain('outside');
    expect(nameConstraintProblem(below, names({ dns: ['a.acme.com'] }))).toBeUndefined();
    // A form the CA does not constrain is free.
    expect(nameConstraintProblem(fence, names({ ip: ['192.0.2.1'] }))).toBeUndefined();
  });

  it('checks a host-like subject CN as a DNS name when there is no DNS name, as OpenSSL does', () => {
    const fence = constraints([dns('devices.acme.com')]);
    const withCn = (commonName: string, extra: Partial<CertificateNames> = {}) =>
      names({ subject: attributesOf(encodeName({ commonName, organization: 'Acme' })), ...extra });
    expect(nameConstraintProblem(fence, withCn('thing-1.evil.example'))).toContain(
      'the subject CN (taken as a host name) thing-1.evil.example is outside',
    );
    expect(nameConstraintProblem(fence, withCn('thing-1.devices.acme.com'))).toBeUndefined();
    // A CN without a dot, or with spaces, is no host name; with a DNS name in the SAN the CN is not one.
    for (const commonName of ['thing-1', 'Thing One. Model 2', '-bad.example'])
      expect(nameConstraintProblem(fence, withCn(commonName))).toBeUndefined();
    expect(
      nameConstraintProblem(fence, withCn('thing-1.evil.example', { dns: ['t.devices.acme.com'] })),
    ).toBeUndefined();
    const excluded = constraints([], [dns('evil.example')]);
    expect(nameConstraintProblem(excluded, withCn('thing-1.evil.example'))).toContain('excludes');
    // A NUL inside a CN is refused under any constraints, IP ones too (OpenSSL error 53); trailing ones go.
    const ipOnly = constraints([subtree(contextPrimitive(7), Uint8Array.of(10, 0, 0, 0, 255, 0, 0, 0))]);
    expect(nameConstraintProblem(ipOnly, withCn('dev\u0000.example'))).toContain('holds a NUL byte');
    expect(nameConstraintProblem(ipOnly, withCn('dev.example\u0000'))).toBeUndefined();
  });

  it('applies excluded subtrees, IP ranges, URI hosts and directory names', () => {
    const fence = constraints(
      [
        subtree(contextPrimitive(7), Uint8Array.of(10, 0, 0, 0, 255, 0, 0, 0)),
        sequence(ia5String('.acme.com', contextPrimitive(6))),
      ],
      [dns('lab.acme.com')],
    );
    expect(nameConstraintProblem(fence, names({ ip: ['10.1.2.3'] }))).toBeUndefined();
    expect(nameConstraintProblem(fence, names({ ip: ['11.1.2.3'] }))).toContain(
      'IP address 11.1.2.3 is outside',
    );
    expect(nameConstraintProblem(fence, names({ ip: ['::1'] }))).toContain('outside');
    expect(nameConstraintProblem(fence, names({ uri: ['https://x.acme.com/a'] }))).toBeUndefined();
    expect(nameConstraintProblem(fence, names({ uri: ['https://acme.org/'] }))).toContain('URI');
    expect(nameConstraintProblem(fence, names({ dns: ['pc.lab.acme.com'] }))).toContain('excludes');

    // The base: the subject's first RDN (O=Acme) alone.
    const [organisation] = rdnsOf(encodeName({ organization: 'Acme', commonName: 'x' }));
    const directory = constraints([sequence(tlv(contextConstructed(4), sequence(organisation!)))]);
    const subject = (name: Uint8Array) => names({ subject: attributesOf(name) });
    expect(
      nameConstraintProblem(directory, subject(encodeName({ organization: 'Acme', commonName: 'x' }))),
    ).toBe(undefined);
    expect(
      nameConstraintProblem(directory, subject(encodeName({ organization: 'Other', commonName: 'x' }))),
    ).toContain('directory names');
  });

  it('matches directory names as verifiers do: case, spacing and string type aside', () => {
    // O=ACME as a PrintableString, where the station writes O=Acme as a UTF8String.
    const base = sequence(tlv(Tag.set, sequence(objectIdentifier('2.5.4.10'), printableString('ACME  '))));
    const directory = constraints([sequence(tlv(contextConstructed(4), base))]);
    expect(nameConstraintProblem(directory, names({}))).toBeUndefined();
  });

  it('leaves alone names of forms the station never writes: an e-mail constraint is no refusal', () => {
    const mail = constraints([], [sequence(ia5String('.example.com', contextPrimitive(1)))]);
    expect(nameConstraintProblem(mail, names({ dns: ['thing-1.example.com'] }))).toBeUndefined();
  });
});
