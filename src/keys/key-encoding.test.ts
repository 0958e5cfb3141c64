import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { ECDSASigValue } from '@peculiar/asn1-ecc';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ecAlgorithmForParams,
  ecCurves,
  ecPkcs8,
  ecSpki,
  ecdsaRawToDer,
  rsaAlgorithmForBits,
  rsaPkcs8,
  rsaSpki,
  unwrapEcPoint,
} from './key-encoding.js';

function unsigned(bytes: ArrayBuffer): bigint {
  const hex = Buffer.from(bytes).toString('hex');
  return hex.length === 0 ? 0n : BigInt(`0x${hex}`);
}

function jwkBytes(value: string | undefined): Buffer {
  return Buffer.from(value!, 'base64url');
}

describe('ecdsaRawToDer', () => {
  it('encodes r || s as an ECDSA-Sig-Value with the same integers, for any r and s', () => {
    fc.assert(
      fc.property(fc.constantFrom(32, 48), fc.uint8Array({ minLength: 96, maxLength: 96 }), (size, bytes) => {
        const raw = bytes.subarray(0, 2 * size);
        const parsed = AsnConvert.parse(ecdsaRawToDer(raw), ECDSASigValue);
        expect(unsigned(parsed.r)).toBe(unsigned(raw.subarray(0, size).slice().buffer));
        expect(unsigned(parsed.s)).toBe(unsigned(raw.subarray(size).slice().buffer));
        // DER: no needless leading zero byte, and a zero byte wherever the top bit would read as negative.
        for (const integer of [new Uint8Array(parsed.r), new Uint8Array(parsed.s)]) {
          if (integer.length > 1) expect(integer[0] === 0 && (integer[1]! & 0x80) === 0).toBe(false);
        }
      }),
    );
  });

  it('turns a P1363 signature from node into one node verifies as DER', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const data = Buffer.from('data');
    const raw = sign('sha384', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
    expect(verify('sha384', data, { key: publicKey, dsaEncoding: 'der' }, ecdsaRawToDer(raw))).toBe(true);
  });
});

describe('EC encodings', () => {
  for (const [algorithm, curve] of [
    ['EC-P256', 'P-256'],
    ['EC-P384', 'P-384'],
  ] as const) {
    it(`builds the ${algorithm} SPKI and PKCS#8 node builds from the same point and scalar`, () => {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
      const jwk = privateKey.export({ format: 'jwk' });
      const point = Buffer.concat([Buffer.of(4), jwkBytes(jwk.x), jwkBytes(jwk.y)]);
      const spki = ecSpki(algorithm, point);
      expect(Buffer.from(spki).equals(publicKey.export({ format: 'der', type: 'spki' }))).toBe(true);

      const pkcs8 = ecPkcs8(algorithm, jwkBytes(jwk.d), point);
      const loaded = createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' });
      expect(loaded.export({ format: 'jwk' })).toEqual(jwk);
    });
  }

  it('pads a private scalar that a token returns without its leading zeros', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = privateKey.export({ format: 'jwk' });
    const point = Buffer.concat([Buffer.of(4), jwkBytes(jwk.x), jwkBytes(jwk.y)]);
    const d = jwkBytes(jwk.d);
    // A scalar with its first byte zero is the same key with one byte fewer.
    const shortened = Buffer.concat([Buffer.of(0), d.subarray(1)]).subarray(1);
    const pkcs8 = ecPkcs8('EC-P256', shortened, point);
    const parsed = createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' }).export({
      format: 'jwk',
    });
    expect(jwkBytes(parsed.d)).toEqual(Buffer.concat([Buffer.of(0), d.subarray(1)]));
  });

  it('accepts CKA_EC_POINT wrapped in an OCTET STRING or bare', () => {
    const point = Buffer.concat([Buffer.of(4), Buffer.alloc(64, 7)]);
    expect(Buffer.from(unwrapEcPoint(point, 32)).equals(point)).toBe(true);
    expect(Buffer.from(unwrapEcPoint(Buffer.concat([Buffer.of(0x04, 0x41), point]), 32)).equals(point)).toBe(
      true,
    );
  });

  it('names the curve of CKA_EC_PARAMS and no other', () => {
    expect(ecAlgorithmForParams(ecCurves['EC-P384'].paramsDer)).toBe('EC-P384');
    expect(ecAlgorithmForParams(Buffer.from('06052b81040023', 'hex'))).toBeUndefined(); // P-521
  });
});

describe('RSA encodings', () => {
  it('builds the SPKI and PKCS#8 node builds from the same components', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = privateKey.export({ format: 'jwk' });
    const components = {
      modulus: jwkBytes(jwk.n),
      publicExponent: jwkBytes(jwk.e),
      privateExponent: jwkBytes(jwk.d),
      prime1: jwkBytes(jwk.p),
      prime2: jwkBytes(jwk.q),
      exponent1: jwkBytes(jwk.dp),
      exponent2: jwkBytes(jwk.dq),
      coefficient: jwkBytes(jwk.qi),
    };
    expect(Buffer.from(rsaSpki(components)).equals(publicKey.export({ format: 'der', type: 'spki' }))).toBe(
      true,
    );
    const loaded = createPrivateKey({ key: Buffer.from(rsaPkcs8(components)), format: 'der', type: 'pkcs8' });
    expect(loaded.export({ format: 'jwk' })).toEqual(jwk);
    expect(createPublicKey(loaded).export({ format: 'jwk' })).toEqual(publicKey.export({ format: 'jwk' }));
  });

  it('knows RSA 2048 and 3072 and no other size', () => {
    expect(rsaAlgorithmForBits(3072)).toBe('RSA-3072');
    expect(rsaAlgorithmForBits(1024)).toBeUndefined();
  });
});
