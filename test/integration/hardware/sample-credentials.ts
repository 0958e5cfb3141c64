import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

/**
 * Credentials to write in driver tests: a CA certificate with LF line ends and a device certificate with
 * CRLF line ends (so byte-exact storage is checked both ways, protocols.md 6.1), and a PKCS#8 key.
 * Made fresh per run: throwaway test material, never a real secret.
 */
export interface SampleCredentials {
  ca: Uint8Array;
  certificate: Uint8Array;
  key: Uint8Array;
}

const ecdsa = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export async function makeSampleCredentials(): Promise<SampleCredentials> {
  const caKeys = await webcrypto.subtle.generateKey(ecdsa, true, ['sign', 'verify']);
  const deviceKeys = await webcrypto.subtle.generateKey(ecdsa, true, ['sign', 'verify']);
  const notBefore = new Date('2026-01-01T00:00:00Z');
  const notAfter = new Date('2036-01-01T00:00:00Z');
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=Driver Suite Test CA',
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: ecdsa,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true)],
  });
  const device = await x509.X509CertificateGenerator.create({
    serialNumber: '02',
    subject: 'CN=driver-suite-device',
    issuer: ca.subject,
    notBefore,
    notAfter,
    publicKey: deviceKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: ecdsa,
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', deviceKeys.privateKey);
  const keyPem = x509.PemConverter.encode(pkcs8, 'PRIVATE KEY');
  return {
    ca: Buffer.from(`${lf(ca.toString('pem'))}\n`, 'ascii'),
    certificate: Buffer.from(`${lf(device.toString('pem')).replaceAll('\n', '\r\n')}\r\n`, 'ascii'),
    key: Buffer.from(`${lf(keyPem)}\n`, 'ascii'),
  };
}

function lf(pem: string): string {
  return pem.replaceAll('\r\n', '\n').trimEnd();
}
