import { StationError } from '../api/errors.js';
import type { CaCertificateRecord, NewCertificate } from '../registry/certificates.js';
import { describePublicKey } from './algorithms.js';
import { certificatesInPem } from './ca-records.js';
import { chainAbove } from './chain.js';
import { parseCertificate, subjectText, type ParsedCertificate } from './certificate-reader.js';
import { formatName } from './names.js';
import { derBlocksFrom, toPem } from './pem.js';

export interface ExistingCertificateCheck {
  /** The registered CA (external or the station's own) the certificate must chain to; absent: no CA. */
  ca?: CaCertificateRecord;
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
 * certificate with a key the station supports, within its validity, and issued by the given CA (directly,
 * or through intermediates the device stores after it or the CA's own chain holds). Without a CA it is
 * registered as AWS RegisterCertificateWithoutCA does (aws-iot-spec.md 5): then only the proof of
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
  if (describePublicKey(certificate.spki).kind === 'other') {
    throw new StationError(
      'pki.key-unsupported',
      `The device's certificate (${subject}) has a key type the station does not support (EC or RSA only).`,
    );
  }
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
  for (const issuer of chain.slice(1, anchorAt + 1)) {
    if (!issuer.isCa || now < issuer.notBefore || now > issuer.notAfter) {
      throw new StationError(
        'pki.chain-invalid',
        `The issuer ${subjectText(issuer)} of the device's certificate is ${issuer.isCa ? 'outside its validity' : 'not a CA'}.`,
        { subject: certificate.id },
      );
    }
  }
}
