import { ECDH, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isStationError } from '../api/errors.js';
import type { KeyAlgorithm } from '../keys/key-store.js';
import { oids, signatureAlgorithmFor, type SignatureAlgorithm } from './algorithms.js';
import { checkCsr } from './csr.js';
import { encodeCsr, encodeCsrInfo } from './csr-writer.js';
import { Tag, bitString, derNull, objectIdentifier, sequence, tlv } from './der.js';
import { encodeName } from './names.js';
import { toPem } from './pem.js';

const allowedKeys: KeyAlgorithm[] = ['EC-P256', 'EC-P384', 'RSA-2048', 'RSA-3072'];

function keyPair(kind: 'ec' | 'rsa', size: string | number): { publicKey: KeyObject; privateKey: KeyObject } {
  return kind === 'ec'
    ? generateKeyPairSync('ec', { namedCurve: size as string })
    : generateKeyPairSync('rsa', { modulusLength: size as number });
}

function makeCsr(options: {
  commonName?: string;
  keys?: { publicKey: KeyObject; privateKey: KeyObject };
  signer?: KeyObject;
  algorithm?: SignatureAlgorithm;
  hash?: string;
}): Uint8Array {
  const keys = options.keys ?? keyPair('ec', 'P-256');
  const spki = new Uint8Array(keys.publicKey.export({ type: 'spki', format: 'der' }));
  const name = encodeName({ commonName: options.commonName ?? 'thing-1' });
  const info = encodeCsrInfo(name, spki);
  const signature = sign(options.hash ?? 'sha256', info, options.signer ?? keys.privateKey);
  return encodeCsr(info, options.algorithm ?? signatureAlgorithmFor('EC-P256'), signature);
}

function codeOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    if (isStationError(error)) return error.code;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('checkCsr', () => {
  it('accepts a P-256 CSR in PEM and reports its CN and key', () => {
    const checked = checkCsr(Buffer.from(toPem('CERTIFICATE REQUEST', makeCsr({}))), { allowedKeys });
    expect(checked.commonName).toBe('thing-1');
    expect(checked.key.algorithm).toBe('EC-P256');
    expect(checked.subjectText).toBe('CN=thing-1');
  });

  it('accepts DER and each allowed key type', () => {
    const rsa = keyPair('rsa', 2048);
    const der = makeCsr({ keys: rsa, algorithm: signatureAlgorithmFor('RSA-2048') });
    expect(checkCsr(der, { allowedKeys }).key.algorithm).toBe('RSA-2048');
    const p384 = makeCsr({
      keys: keyPair('ec', 'P-384'),
      algorithm: signatureAlgorithmFor('EC-P384'),
      hash: 'sha384',
    });
    expect(checkCsr(p384, { allowedKeys }).key.algorithm).toBe('EC-P384');
  });

  it('tolerates ecdsa-with-SHA256 with a NULL parameter, as older nRF91 firmware writes it', () => {
    const withNull: SignatureAlgorithm = {
      oid: oids.ecdsaWithSha256,
      hash: 'SHA-256',
      identifier: sequence(objectIdentifier(oids.ecdsaWithSha256), derNull),
    };
    expect(checkCsr(makeCsr({ algorithm: withNull }), { allowedKeys }).commonName).toBe('thing-1');
  });

  it('refuses a garbage file as unreadable', () => {
    expect(codeOf(() => checkCsr(Buffer.from('hello, not a CSR\n'), { allowedKeys }))).toBe(
      'pki.csr-unreadable',
    );
  });

  it('refuses a CSR whose DER was damaged as malformed', () => {
    const der = makeCsr({});
    const truncated = der.subarray(0, der.length - 5);
    expect(codeOf(() => checkCsr(truncated, { allowedKeys }))).toBe('pki.csr-malformed');
  });

  it('refuses an RSA-1024 key as too small', () => {
    const der = makeCsr({ keys: keyPair('rsa', 1024), algorithm: signatureAlgorithmFor('RSA-2048') });
    expect(codeOf(() => checkCsr(der, { allowedKeys }))).toBe('pki.csr-key-too-small');
  });

  it('refuses secp256k1 and P-521 as curves not allowed', () => {
    expect(codeOf(() => checkCsr(makeCsr({ keys: keyPair('ec', 'secp256k1') }), { allowedKeys }))).toBe(
      'pki.csr-curve-not-allowed',
    );
    expect(codeOf(() => checkCsr(makeCsr({ keys: keyPair('ec', 'P-521') }), { allowedKeys }))).toBe(
      'pki.csr-curve-not-allowed',
    );
  });

  it('refuses P-384 when the rules allow only P-256', () => {
    const der = makeCsr({ keys: keyPair('ec', 'P-384'), hash: 'sha384' });
    expect(codeOf(() => checkCsr(der, { allowedKeys: ['EC-P256'] }))).toBe('pki.csr-curve-not-allowed');
  });

  it('refuses a CSR signed by another key than the one it carries', () => {
    const der = makeCsr({ signer: keyPair('ec', 'P-256').privateKey });
    expect(codeOf(() => checkCsr(der, { allowedKeys }))).toBe('pki.csr-signature-invalid');
  });

  it('refuses a CSR whose subject was edited after signing', () => {
    const der = Buffer.from(makeCsr({ commonName: 'thing-1' }));
    const at = der.indexOf('thing-1');
    der[at + 6] = '2'.charCodeAt(0);
    expect(codeOf(() => checkCsr(der, { allowedKeys }))).toBe('pki.csr-signature-invalid');
  });

  it('applies the subject rules: expected CN, thing-name pattern', () => {
    expect(codeOf(() => checkCsr(makeCsr({}), { allowedKeys, expectedCommonName: 'thing-2' }))).toBe(
      'pki.csr-subject-mismatch',
    );
    expect(codeOf(() => checkCsr(makeCsr({ commonName: 'bad name!' }), { allowedKeys }))).toBe(
      'pki.csr-subject-invalid',
    );
    expect(checkCsr(makeCsr({}), { allowedKeys, expectedCommonName: 'thing-1' }).commonName).toBe('thing-1');
  });

  it('accepts a compressed EC point and refuses a point that is not on the curve', () => {
    const keys = keyPair('ec', 'P-256');
    const spki = new Uint8Array(keys.publicKey.export({ type: 'spki', format: 'der' }));
    const point = Buffer.from(spki.subarray(spki.length - 65));
    const algorithmId = sequence(objectIdentifier(oids.ecPublicKey), objectIdentifier(oids.p256));
    const compressed = ECDH.convertKey(point, 'prime256v1', undefined, undefined, 'compressed') as Buffer;
    const withSpki = (keySpki: Uint8Array) => {
      const info = encodeCsrInfo(encodeName({ commonName: 'thing-1' }), keySpki);
      return encodeCsr(info, signatureAlgorithmFor('EC-P256'), sign('sha256', info, keys.privateKey));
    };
    expect(checkCsr(withSpki(sequence(algorithmId, bitString(compressed))), { allowedKeys }).commonName).toBe(
      'thing-1',
    );
    const offCurve = Buffer.from(point);
    offCurve[64] ^= 0x01;
    expect(
      codeOf(() => checkCsr(withSpki(sequence(algorithmId, bitString(offCurve))), { allowedKeys })),
    ).toBe('pki.csr-public-key-invalid');
  });

  it('refuses a signature algorithm that does not fit the key', () => {
    const der = makeCsr({ algorithm: signatureAlgorithmFor('RSA-2048') });
    expect(codeOf(() => checkCsr(der, { allowedKeys }))).toBe('pki.csr-signature-algorithm-not-allowed');
  });

  it('refuses a public key field that is not exactly one SubjectPublicKeyInfo, which a certificate would copy', () => {
    const keys = keyPair('ec', 'P-256');
    const jwk = keys.publicKey.export({ format: 'jwk' });
    const point = Buffer.concat([
      Buffer.of(4),
      Buffer.from(jwk.x!, 'base64url'),
      Buffer.from(jwk.y!, 'base64url'),
    ]);
    const p256 = objectIdentifier(oids.p256);
    const algorithm = sequence(objectIdentifier(oids.ecPublicKey), p256);
    const withSpki = (spki: Uint8Array) => {
      const info = encodeCsrInfo(encodeName({ commonName: 'thing-1' }), spki);
      return encodeCsr(info, signatureAlgorithmFor('EC-P256'), sign('sha256', info, keys.privateKey));
    };
    // The well-formed field of the same key passes.
    expect(checkCsr(withSpki(sequence(algorithm, bitString(point))), { allowedKeys }).key.algorithm).toBe(
      'EC-P256',
    );
    const damaged = [
      // The curve's OID with an unfinished last arc: read leniently, it is P-256.
      sequence(
        sequence(
          objectIdentifier(oids.ecPublicKey),
          tlv(Tag.oid, Uint8Array.from([...p256.subarray(2), 0x81])),
        ),
        bitString(point),
      ),
      sequence(algorithm, bitString(point), derNull),
      sequence(sequence(objectIdentifier(oids.ecPublicKey), p256, derNull), bitString(point)),
    ];
    for (const spki of damaged)
      expect(codeOf(() => checkCsr(withSpki(spki), { allowedKeys }))).toBe('pki.csr-malformed');
  });
});
