import { StationError } from '../api/errors.js';
import { CaCertificateTable, CertificateTable, type CertificateStatus } from '../registry/certificates.js';
import type { Registry } from '../registry/registry.js';
import { certificatesInPem } from './ca-records.js';
import { chainAbove, issuerProblem, nameConstraintBreach, namedIssuerOf, signedBy } from './chain.js';
import { parseCertificate, subjectText, type ParsedCertificate } from './certificate-reader.js';
import { derBlocksFrom } from './pem.js';

export interface VerificationCheck {
  check: 'issuer' | 'signature' | 'ca' | 'names' | 'validity' | 'status';
  ok: boolean;
  detail: string;
}

export interface VerificationResult {
  valid: boolean;
  certificateId: string;
  subject: string;
  serialHex: string;
  notBefore: string;
  notAfter: string;
  /** The station CA that issued it, when one did. */
  ca?: string;
  status: CertificateStatus | 'UNKNOWN';
  checks: VerificationCheck[];
}

/**
 * `station cert verify`: does this certificate chain to a station CA (trust anchors are the CAs in the
 * registry, including registered external ones) whose name constraints allow its names, is it within its
 * validity, and what does the registry say?
 */
export class CertificateVerifier {
  private readonly cas: CaCertificateTable;
  private readonly certificates: CertificateTable;

  constructor(registry: Registry) {
    this.cas = new CaCertificateTable(registry.reader);
    this.certificates = new CertificateTable(registry.reader);
  }

  async verify(content: Uint8Array, now: Date = new Date()): Promise<VerificationResult> {
    const [certificate, ...given] = readCertificates(content);
    const checks: VerificationCheck[] = [];
    const issuer = await this.findIssuer(certificate, given);
    if (!issuer) {
      checks.push({
        check: 'issuer',
        ok: false,
        detail:
          given.length > 0
            ? 'no station CA names and signs this certificate or a certificate above it in the file'
            : 'no station CA names and signs this certificate',
      });
    } else {
      const through = issuer.intermediates.map((intermediate) => subjectText(intermediate)).join(', ');
      checks.push({
        check: 'issuer',
        ok: true,
        detail: `issued by CA '${issuer.name}' (${subjectText(issuer.certificate)})${through ? ` through ${through} from the file` : ''}`,
      });
      checks.push({
        check: 'signature',
        ok: true,
        detail: through
          ? `signatures verify up to the key of CA '${issuer.name}'`
          : `signature verifies with the key of CA '${issuer.name}'`,
      });
      // The CA and every CA above it: a CA, within validity, allowed to sign (keyCertSign, pathLen).
      const problem = issuerProblem(issuer.chain, now);
      const caActive = issuer.status === 'ACTIVE';
      checks.push({
        check: 'ca',
        ok: !problem && caActive,
        detail: problem
          ? `CA '${issuer.name}' cannot vouch for it: ${problem.text}`
          : caActive
            ? `CA '${issuer.name}' is active and valid until ${issuer.certificate.notAfter.toISOString()}`
            : `CA '${issuer.name}' is disabled`,
      });
      // What issuance refuses to sign, a verifier refuses to accept (openssl verify error 47).
      const breach = nameConstraintBreach(certificate, issuer.chain);
      checks.push({
        check: 'names',
        ok: !breach,
        detail: breach
          ? `outside the name constraints of ${subjectText(breach.certificate)}: ${breach.text}`
          : `no name constraint of CA '${issuer.name}' or a CA above it refuses its names`,
      });
    }
    const inValidity = now >= certificate.notBefore && now <= certificate.notAfter;
    checks.push({
      check: 'validity',
      ok: inValidity,
      detail: inValidity
        ? `valid until ${certificate.notAfter.toISOString()}`
        : now < certificate.notBefore
          ? `not valid before ${certificate.notBefore.toISOString()}`
          : `expired on ${certificate.notAfter.toISOString()}`,
    });
    const record = await this.certificates.byId(certificate.id);
    const status = record?.status ?? 'UNKNOWN';
    checks.push({
      check: 'status',
      ok: status === 'ACTIVE',
      detail:
        status === 'UNKNOWN'
          ? 'not in the registry'
          : status === 'REVOKED'
            ? `revoked on ${record?.revokedAt ?? '?'} (${record?.revocationReason ?? 'no reason'})`
            : `registry status ${status}`,
    });
    return {
      valid: checks.every((check) => check.ok),
      certificateId: certificate.id,
      subject: subjectText(certificate),
      serialHex: certificate.serialHex,
      notBefore: certificate.notBefore.toISOString(),
      notAfter: certificate.notAfter.toISOString(),
      ...(issuer && { ca: issuer.name }),
      status,
      checks,
    };
  }

  /**
   * The registered CA that signs the certificate, or the top of the intermediates the file gives after it
   * (as a device or a maker hands them out: leaf first). `chain` is the path above the certificate: those
   * intermediates, then the CA's own registered chain.
   */
  private async findIssuer(
    certificate: ParsedCertificate,
    given: readonly ParsedCertificate[],
  ): Promise<
    | {
        name: string;
        status: string;
        certificate: ParsedCertificate;
        intermediates: ParsedCertificate[];
        chain: ParsedCertificate[];
      }
    | undefined
  > {
    const path = chainAbove(certificate, given);
    const cas = (await this.cas.list()).map((ca) => ({ ca, chain: certificatesInPem(ca.pem, 'ca') }));
    // The registered CA closest to the certificate decides: a file listing a disabled CA's certificate
    // must not reach the active root above it instead.
    for (const [below, member] of path.entries()) {
      for (const { ca, chain: caChain } of cas) {
        const caCertificate = caChain[0]!;
        if (!namedIssuerOf(member, caCertificate) || !signedBy(member, caCertificate.spki)) continue;
        const intermediates = path.slice(1, below + 1);
        return {
          name: ca.name,
          status: ca.status,
          certificate: caCertificate,
          intermediates,
          chain: [...intermediates, ...caChain],
        };
      }
    }
    return undefined;
  }
}

/** The certificates of the file, the one to verify first. */
function readCertificates(content: Uint8Array): [ParsedCertificate, ...ParsedCertificate[]] {
  const blocks = derBlocksFrom(content, ['CERTIFICATE']);
  if (blocks.length === 0) {
    throw new StationError(
      'pki.no-certificate',
      'The file holds no certificate (PEM CERTIFICATE block or DER).',
      {
        field: 'file',
      },
    );
  }
  try {
    return blocks.map((block) => parseCertificate(block)) as [ParsedCertificate, ...ParsedCertificate[]];
  } catch (error) {
    throw new StationError(
      'pki.certificate-unreadable',
      `The certificate is damaged (${error instanceof Error ? error.message : String(error)}).`,
      { field: 'file' },
    );
  }
}
