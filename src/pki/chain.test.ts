import { describe, expect, it } from 'vitest';
import { makeCa, makeDeviceCertificate } from '../../test/helpers/certificates.js';
import { chainAbove, issuerProblem } from './chain.js';

const day = 86_400_000;

describe('issuerProblem (RFC 5280 6.1.4 for the CA certificates of a path)', () => {
  it('accepts root (pathLen 1) > intermediate (pathLen 0) as the issuers of a device certificate', () => {
    const root = makeCa({ commonName: 'Root', pathLength: 1 });
    const intermediate = makeCa({ commonName: 'Intermediate', issuer: root, pathLength: 0 });
    const leaf = makeDeviceCertificate({ commonName: 'thing-1', issuer: intermediate });
    const chain = chainAbove(leaf, [root.certificate, intermediate.certificate]);
    expect(chain.map((certificate) => certificate.id)).toEqual(
      [leaf, intermediate.certificate, root.certificate].map((certificate) => certificate.id),
    );
    expect(issuerProblem(chain.slice(1), new Date())).toBeUndefined();
  });

  it('refuses a CA certificate below a root whose pathLenConstraint is 0, naming both', () => {
    const root = makeCa({ commonName: 'Root', pathLength: 0 });
    const intermediate = makeCa({ commonName: 'Intermediate', issuer: root });
    expect(issuerProblem([intermediate.certificate, root.certificate], new Date())).toMatchObject({
      certificate: { id: root.certificate.id },
      rule: 'path-length',
      text: 'CN=Root allows no CA certificate below it (pathLenConstraint 0), but CN=Intermediate is one',
    });
  });

  it('counts every CA certificate below a pathLenConstraint, not only the nearest', () => {
    const root = makeCa({ commonName: 'Root', pathLength: 1 });
    const policy = makeCa({ commonName: 'Policy CA', issuer: root });
    const issuing = makeCa({ commonName: 'Issuing CA', issuer: policy });
    const problem = issuerProblem([issuing.certificate, policy.certificate, root.certificate], new Date());
    expect(problem?.rule).toBe('path-length');
    expect(problem?.text).toContain('CN=Issuing CA, CN=Policy CA are 2');
  });

  it('does not count a self-issued CA certificate (a key rollover under the same name)', () => {
    const root = makeCa({ commonName: 'Root', pathLength: 0 });
    const rollover = makeCa({ commonName: 'Root', issuer: root });
    expect(issuerProblem([rollover.certificate, root.certificate], new Date())).toBeUndefined();
  });

  it('refuses an issuer whose KeyUsage lacks keyCertSign; a CA without KeyUsage may sign', () => {
    const root = makeCa({ commonName: 'Root' });
    const signingOnly = makeCa({ commonName: 'Signing Only', issuer: root, keyUsage: ['digitalSignature'] });
    expect(issuerProblem([signingOnly.certificate, root.certificate], new Date())).toMatchObject({
      rule: 'key-cert-sign',
      text: 'the KeyUsage of CN=Signing Only lacks keyCertSign, so it may not sign certificates',
    });
    const unrestricted = makeCa({ commonName: 'No KeyUsage', issuer: root, keyUsage: null });
    expect(issuerProblem([unrestricted.certificate, root.certificate], new Date())).toBeUndefined();
  });

  it('refuses an issuer outside its validity, and one that is not a CA', () => {
    const root = makeCa({ commonName: 'Root' });
    const expired = makeCa({
      commonName: 'Expired',
      issuer: root,
      notBefore: new Date(Date.now() - 400 * day),
      notAfter: new Date(Date.now() - day),
    });
    expect(issuerProblem([expired.certificate, root.certificate], new Date())?.rule).toBe('validity');
    const device = makeDeviceCertificate({ commonName: 'thing-2', issuer: root });
    expect(issuerProblem([device, root.certificate], new Date())).toMatchObject({
      rule: 'not-a-ca',
      text: 'CN=thing-2 is not a CA certificate (BasicConstraints CA:true missing)',
    });
  });
});
