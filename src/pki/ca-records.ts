import { StationError } from '../api/errors.js';
import { parseCertificate, subjectText, type ParsedCertificate } from './certificate-reader.js';
import { pemBlocks, toPem } from './pem.js';
import type { NewCaCertificate } from '../registry/certificates.js';

/** CA names are how technicians and work orders refer to a CA: short, no spaces, safe in key labels. */
const caNamePattern = /^[A-Za-z0-9._-]{1,64}$/;

export function checkCaName(name: string): void {
  if (!caNamePattern.test(name)) {
    throw new StationError(
      'input.invalid',
      'name: a CA name is 1-64 letters, digits, dots, dashes or underscores.',
      {
        field: 'name',
      },
    );
  }
}

/** The key-store label of a CA's key. */
export const caKeyLabel = (name: string): string => `ca:${name}`;

/** The certificates of a PEM text (a chain file, or the registry's pem column), parsed, in order. */
export function certificatesInPem(text: string, field = 'file'): ParsedCertificate[] {
  const blocks = pemBlocks(text).filter((block) => block.label === 'CERTIFICATE');
  if (blocks.length === 0) {
    throw new StationError('pki.no-certificate', 'The file holds no PEM CERTIFICATE block.', { field });
  }
  return blocks.map((block, index) => {
    try {
      return parseCertificate(block.der);
    } catch (error) {
      throw new StationError(
        'pki.certificate-unreadable',
        `Certificate ${index + 1} in the file is damaged (${error instanceof Error ? error.message : String(error)}).`,
        { field },
      );
    }
  });
}

/** The registry row of a CA certificate: pem is the certificate followed by its issuers. */
export function caRecordFrom(
  name: string,
  chain: readonly ParsedCertificate[],
  key: { label: string; id: string } | undefined,
): NewCaCertificate {
  const certificate = chain[0]!;
  return {
    id: certificate.id,
    name,
    pem: chain.map((entry) => toPem('CERTIFICATE', entry.der)).join(''),
    subject: subjectText(certificate),
    serialHex: certificate.serialHex,
    notBefore: certificate.notBefore.toISOString(),
    notAfter: certificate.notAfter.toISOString(),
    ...(key && { keyLabel: key.label, keyId: key.id }),
    external: key === undefined,
  };
}
