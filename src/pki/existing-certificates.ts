import { createPublicKey } from 'node:crypto';
import { StationError } from '../api/errors.js';
import { keyAlgorithms, type KeyAlgorithm } from '../keys/key-store.js';
import type { CaCertificateRecord, NewCertificate } from '../registry/certificates.js';
import { verifiableSignatureHashes } from './algorithms.js';
import { certificatesInPem } from './ca-records.js';
import { chainAbove, issuerProblem, nameConstraintBreach } from './chain.js';
import { parseCertificate, subjectText, type ParsedCertificate } from './certificate-reader.js';
import { checkKeyRules, type KeyRuleError } from './csr.js';
import { formatName } from './names.js';
import { derBlocksFrom, toPem } from './pem.js';

export interface ExistingCertificateCheck {
  /** The registered CA (external or the station's own) the certificate must chain to; absent: no CA. */
  ca?: CaCertificateRecord;
  /** Key types and sizes the certificate may carry (default all the station supports, as for a CSR). */
  allowedKeys?: readonly KeyAlgorithm[];
  jobId?: number;
  now?: Date;
}

/** A certificate a device already held, checked and ready to record (key_origin 'external'). */
export interface AcceptedCertificate {
  certificate: ParsedCertificate;
  record: NewCertificate;
}

/** A certificate as a device stores it: its own first, then any intermediates it keeps after it. */
export interface DeviceCertificate {
  certificate: ParsedCertificate;
  extras: ParsedCertificate[];
}

/** Reads the certificate slot's bytes (PEM, one or more blocks, or DER). */
export function parseDeviceCertificate(content: Uint8Array): DeviceCertificate {
  const [leafDer, ...extraDer] = derBlocksFrom(content, ['CERTIFICATE']);
  if (!leafDer) {
    throw new StationError(
      'pki.no-certificate',
      "The device's certificate slot holds no certificate (neither PEM nor DER).",
    );
  }
  const [certificate, ...extras] = [leafDer, ...extraDer].map((der, index) => {
    try {
      return parseCertificate(der);
    } catch (error) {
      throw new StationError(
        'pki.certificate-unreadable',
        `Certificate ${index + 1} on the device is damaged (${error instanceof Error ? error.message : String(error)}).`,
      );
    }
  }) as [ParsedCertificate, ...ParsedCertificate[]];
  return { certificate, extras };
}

/**
 * Checks a certificate read from a device for registration as it is (key mode `existing`): an end-entity
 * certificate with a key the CSR rules allow and a SHA-2 signature, within its validity, and issued by
 * the given CA (directly, or through intermediates the device stores after it or the CA's own chain
 * holds) along a chain whose CA constraints allow it, its names included (NameConstraints). Without a CA
 * it is registered as AWS RegisterCertificateWithoutCA does (aws-iot-spec.md 5): then only the proof of
 * possession the pipeline asks for vouches for it.
 */
export function acceptExistingCertificate(
  device: DeviceCertificate,
  options: ExistingCertificateCheck = {},
): AcceptedCertificate {
  const now = options.now ?? new Date();
  const { certificate, extras } = device;
  const subject = subjectText(certificate);
  if (certificate.isCa) {
    throw new StationError(
      'pki.not-a-device-certificate',
      `The device holds a CA certificate (${subject}), not its own certificate.`,
    );
  }
  checkDeviceKey(certificate, options.allowedKeys ?? keyAlgorithms);
  checkSignatureAlgorithm(certificate);
  if (now < certificate.notBefore || now > certificate.notAfter) {
    throw new StationError(
      now < certificate.notBefore ? 'pki.certificate-not-yet-valid' : 'pki.certificate-expired',
      now < certificate.notBefore
        ? `The device's certificate (${subject}) is not valid before ${certificate.notBefore.toISOString()}; check the station clock.`
        : `The device's certificate (${subject}) expired on ${certificate.notAfter.toISOString()}; it cannot be registered.`,
    );
  }
  if (options.ca) checkIssuedBy(certificate, extras, options.ca, now);
  return {
    certificate,
    record: {
      id: certificate.id,
      ...(options.ca && { caId: options.ca.id }),
      pem: toPem('CERTIFICATE', certificate.der),
      subject,
      serialHex: certificate.serialHex,
      notBefore: certificate.notBefore.toISOString(),
      notAfter: certificate.notAfter.toISOString(),
      status: 'ACTIVE',
      keyOrigin: 'external',
      ...(options.jobId !== undefined && { jobId: options.jobId }),
    },
  };
}

function checkIssuedBy(
  certificate: ParsedCertificate,
  extras: readonly ParsedCertificate[],
  ca: CaCertificateRecord,
  now: Date,
): void {
  const caChain = certificatesInPem(ca.pem, 'ca');
  const anchor = caChain[0]!;
  const chain = chainAbove(certificate, [...extras, ...caChain]);
  const anchorAt = chain.findIndex((entry) => entry.id === anchor.id);
  if (anchorAt < 0) {
    throw new StationError(
      'pki.certificate-untrusted',
      `The device's certificate (${subjectText(certificate)}, issuer ${formatName(certificate.issuer)}) is not issued by CA '${ca.name}'; register its CA (station ca register) or use a job that accepts certificates without a CA.`,
      { subject: certificate.id, details: { ca: ca.name, issuer: formatName(certificate.issuer) } },
    );
  }
  if (ca.status !== 'ACTIVE') {
    throw new StationError(
      'pki.ca-disabled',
      `CA '${ca.name}' is disabled; its certificates are not accepted.`,
      {
        subject: ca.name,
      },
    );
  }
  const problem = issuerProblem(chain.slice(1, anchorAt + 1), now);
  if (problem) {
    throw new StationError(
      'pki.chain-invalid',
      `The device's certificate (${subjectText(certificate)}) does not chain validly to CA '${ca.name}': ${problem.text}. openssl verify refuses such a chain too; it cannot be registered.`,
      {
        subject: certificate.id,
        details: { ca: ca.name, rule: problem.rule, certificate: subjectText(problem.certificate) },
      },
    );
  }
  // The constraints of every CA above it, the registered CA's own issuers included, as at issuance.
  const breach = nameConstraintBreach(certificate, chain.slice(1));
  if (breach) {
    throw new StationError(
      'pki.name-constraint',
      `The device's certificate (${subjectText(certificate)}) is outside the name constraints of ${subjectText(breach.certificate)} in the chain of CA '${ca.name}': ${breach.text}. openssl verify refuses it too; it cannot be registered.`,
      { subject: certificate.id, details: { ca: ca.name, certificate: subjectText(breach.certificate) } },
    );
  }
}

/**
 * The key rules a CSR meets (csr.ts) hold for a certificate the device already has: AWS IoT refuses RSA
 * keys under 2048 bits and curves such as secp256k1 at RegisterCertificate*, so they are not recorded.
 */
function checkDeviceKey(certificate: ParsedCertificate, allowed: readonly KeyAlgorithm[]): void {
  const refuse: KeyRuleError = (rule, message, details) =>
    new StationError(
      rule === 'malformed' ? 'pki.certificate-unreadable' : 'pki.key-unsupported',
      `${message} It cannot be registered.`,
      { subject: certificate.id, details: { rule, subject: subjectText(certificate), ...details } },
    );
  checkKeyRules(certificate.spki, allowed, "The device's certificate", refuse);
  try {
    // OpenSSL's decoder checks what the rules cannot: an EC point on its curve, a usable RSA key.
    createPublicKey({ key: Buffer.from(certificate.spki), format: 'der', type: 'spki' });
  } catch (error) {
    throw refuse(
      'public-key-invalid',
      `The device's certificate holds no valid public key (${String(error)}).`,
    );
  }
}

/**
 * The signature algorithms a CSR may use, which are AWS IoT's list for client certificates less DSA:
 * SHA-1 and MD5 signatures (collisions are practical) are not among them.
 */
function checkSignatureAlgorithm(certificate: ParsedCertificate): void {
  if (verifiableSignatureHashes[certificate.signatureAlgorithmOid]) return;
  throw new StationError(
    'pki.signature-algorithm-not-allowed',
    `The device's certificate (${subjectText(certificate)}) is signed with algorithm ${certificate.signatureAlgorithmOid}; the station accepts ECDSA or RSA PKCS#1 v1.5 with SHA-256, SHA-384 or SHA-512, and AWS IoT refuses SHA-1 and MD5 signatures. The maker must issue it again.`,
    { subject: certificate.id, details: { signatureAlgorithm: certificate.signatureAlgorithmOid } },
  );
}
