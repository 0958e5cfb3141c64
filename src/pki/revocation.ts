import { StationError } from '../api/errors.js';
import type { KeyStore } from '../keys/key-store.js';
import { CertificateTable, type CertificateRecord } from '../registry/certificates.js';
import type { Registry } from '../registry/registry.js';
import { assembleSigned } from './certificate-builder.js';
import { Tag, contextConstructed, sequence, smallInteger, tlv, unsignedInteger, x509Time } from './der.js';
import { authorityKeyIdentifierExtension, extension, extensionOids } from './extensions.js';
import type { FactoryCa } from './factory-ca.js';
import { toPem } from './pem.js';

/** CRLReason (RFC 5280 5.3.1), by the names `station cert revoke --reason` takes. */
export const revocationReasons = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  privilegeWithdrawn: 9,
} as const;
export type RevocationReason = keyof typeof revocationReasons;

export function parseRevocationReason(text: string): RevocationReason {
  const match = Object.keys(revocationReasons).find((name) => name.toLowerCase() === text.toLowerCase());
  if (!match) {
    throw new StationError(
      'input.invalid',
      `reason: '${text}' is not a revocation reason; use one of ${Object.keys(revocationReasons).join(', ')}.`,
      { field: 'reason' },
    );
  }
  return match as RevocationReason;
}

export interface Crl {
  der: Uint8Array;
  pem: string;
  /** CRLNumber: milliseconds since 1970 at issue, so each new CRL of a CA has a larger number. */
  number: number;
  thisUpdate: Date;
  nextUpdate: Date;
  revoked: number;
}

const dayMs = 86_400_000;

/** Revocation (audited, in the registry) and CRLs signed through the KeyStore. */
export class Revocation {
  private readonly certificates: CertificateTable;

  constructor(
    private readonly registry: Registry,
    private readonly factoryCa: FactoryCa,
    private readonly keyStore: KeyStore | undefined,
  ) {
    this.certificates = new CertificateTable(registry.reader);
  }

  async revoke(id: string, reason: RevocationReason, actor: string): Promise<CertificateRecord> {
    const revoked = await this.registry.transaction(actor, (tx) => this.certificates.revoke(tx, id, reason));
    if (!revoked) {
      throw new StationError('pki.certificate-not-found', `No certificate with id ${id} in the registry.`, {
        subject: id,
      });
    }
    return revoked;
  }

  /** A v2 CRL of the CA's revoked certificates, valid for `days` (default 7). */
  async crl(caName: string, days = 7, now: Date = new Date()): Promise<Crl> {
    if (!this.keyStore) {
      throw new StationError('keys.no-store', 'Signing a CRL needs the key store.', { userFault: false });
    }
    if (!Number.isInteger(days) || days < 1 || days > 366) {
      throw new StationError('input.invalid', 'days: a CRL is valid for 1 to 366 days.', { field: 'days' });
    }
    const ca = await this.factoryCa.signingCa(caName, now, 'crl');
    const revoked = await this.certificates.revokedBy(ca.record.id);
    const thisUpdate = new Date(Math.floor(now.getTime() / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + days * dayMs);
    const number = now.getTime();
    const entries = revoked.map((certificate) => revokedEntry(certificate));
    const tbs = sequence(
      smallInteger(1), // v2: CRL extensions are present
      ca.signatureAlgorithm.identifier,
      ca.certificate.subjectName,
      x509Time(thisUpdate),
      x509Time(nextUpdate),
      ...(entries.length > 0 ? [sequence(...entries)] : []),
      tlv(
        contextConstructed(0),
        sequence(
          authorityKeyIdentifierExtension(ca.certificate.subjectKeyIdentifier),
          extension(extensionOids.cRLNumber, false, smallInteger(number)),
        ),
      ),
    );
    const signature = await this.keyStore.sign(ca.key, tbs, ca.signatureAlgorithm.hash);
    const der = assembleSigned(tbs, ca.signatureAlgorithm, signature);
    return { der, pem: toPem('X509 CRL', der), number, thisUpdate, nextUpdate, revoked: revoked.length };
  }
}

function revokedEntry(certificate: CertificateRecord): Uint8Array {
  const serial = unsignedInteger(Buffer.from(certificate.serialHex, 'hex'));
  const revokedAt = x509Time(new Date(certificate.revokedAt ?? certificate.createdAt));
  // The pipeline notes why after the reason's name ("superseded: claim line-1"); the CRL takes the name.
  const name = certificate.revocationReason?.split(':')[0];
  const reason = revocationReasons[name as RevocationReason] ?? 0;
  // RFC 5280 5.3.1: the reasonCode "unspecified" SHOULD be absent.
  if (reason === 0) return sequence(serial, revokedAt);
  const reasonCode = extension(extensionOids.reasonCode, false, tlv(Tag.enumerated, Uint8Array.of(reason)));
  return sequence(serial, revokedAt, sequence(reasonCode));
}
