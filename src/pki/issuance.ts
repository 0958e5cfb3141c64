import { randomBytes } from 'node:crypto';
import { StationError } from '../api/errors.js';
import { keyAlgorithms, type KeyAlgorithm, type KeyHandle, type KeyStore } from '../keys/key-store.js';
import {
  CertificateTable,
  type CertificateRecord,
  type CertificateStatus,
  type KeyOrigin,
  type NewCertificate,
} from '../registry/certificates.js';
import type { Registry } from '../registry/registry.js';
import { assembleSigned, randomSerial } from './certificate-builder.js';
import { certificateId } from './certificate-reader.js';
import { checkCsr } from './csr.js';
import { Tag, expectElement } from './der.js';
import { requestForKey } from './csr-writer.js';
import { checkedAltNames, type SubjectAltNames } from './extensions.js';
import type { FactoryCa, SigningCa } from './factory-ca.js';
import { decodeName, encodeName, formatSubject, subjectProblems, type SubjectName } from './names.js';
import { certificateNames, nameConstraintProblem } from './name-constraints.js';
import { toPem } from './pem.js';
import { validityFor, type Validity } from './validity.js';

export interface IssueOptions {
  caName: string;
  /** Validity in days from now (default 365). */
  days?: number;
  /** The thing name: the certificate's CN, and the CN a CSR must carry when given. */
  commonName?: string;
  /** Further subject attributes the profile adds (organization, country, ...). */
  subject?: Omit<SubjectName, 'commonName'>;
  subjectAltNames?: SubjectAltNames;
  /** KeyUsage keyAgreement for EC keys (default false). */
  ecKeyAgreement?: boolean;
  status?: CertificateStatus;
  jobId?: number;
}

export interface CsrIssueOptions extends IssueOptions {
  /** Key types and sizes a CSR may carry (default all the station supports). */
  allowedKeys?: readonly KeyAlgorithm[];
}

export interface InjectionIssueOptions extends IssueOptions {
  commonName: string;
  algorithm?: KeyAlgorithm;
  /**
   * Also make a CSR signed by the new key (subject CN = commonName), for a template whose certificate is
   * made from a CSR parameter (AWS bulk registration): the request the key would have sent.
   */
  withRequest?: boolean;
}

/** The key-store label of a claim's key. */
export const claimKeyLabel = (name: string): string => `claim:${name}`;

/** A signed certificate not yet in the registry (the bulk path records many in one transaction). */
export interface PreparedCertificate {
  record: NewCertificate;
  der: Uint8Array;
}

export interface IssuedCertificate {
  certificate: CertificateRecord;
  der: Uint8Array;
}

/** Injection mode result: the private key (PKCS#8 DER) goes to the device and nowhere else. */
export interface InjectedIdentity extends IssuedCertificate {
  privateKeyPkcs8: Uint8Array;
}

/**
 * Issues device certificates (design.md 5): from a device's CSR (preferred) or from a key made in the key
 * store for injection. The certificate is built from the CA's compiled profile, signed through the
 * KeyStore, and recorded with its audit row; a rejected request leaves no row.
 */
export class CertificateIssuer {
  readonly certificates: CertificateTable;

  constructor(
    private readonly registry: Registry,
    private readonly factoryCa: FactoryCa,
    private readonly keyStore: KeyStore,
  ) {
    this.certificates = new CertificateTable(registry.reader);
  }

  async issueFromCsr(csr: Uint8Array, options: CsrIssueOptions, actor: string): Promise<IssuedCertificate> {
    const prepared = await this.prepareFromCsr(csr, options);
    const [certificate] = await this.record([prepared], actor);
    return { certificate: certificate!, der: prepared.der };
  }

  async issueWithInjectedKey(options: InjectionIssueOptions, actor: string): Promise<InjectedIdentity> {
    const { prepared, privateKeyPkcs8 } = await this.prepareInjected(options);
    const [certificate] = await this.record([prepared], actor);
    return { certificate: certificate!, der: prepared.der, privateKeyPkcs8 };
  }

  async prepareFromCsr(csr: Uint8Array, options: CsrIssueOptions): Promise<PreparedCertificate> {
    const ca = await this.factoryCa.signingCa(options.caName);
    const checked = checkCsr(csr, {
      allowedKeys: options.allowedKeys ?? keyAlgorithms,
      ...(options.commonName !== undefined && { expectedCommonName: options.commonName }),
    });
    const commonName = options.commonName ?? checked.commonName!;
    const validity = validityWithin(ca, options.days);
    return this.sign(ca, checked.spki, checked.key.kind, commonName, 'device', validity, options);
  }

  /**
   * Makes a device key in the key store (a session object, extractable), certifies it, exports it once as
   * PKCS#8 and destroys it, whatever happens in between: no device key outlives this call on the token.
   */
  async prepareInjected(
    options: InjectionIssueOptions,
  ): Promise<{ prepared: PreparedCertificate; privateKeyPkcs8: Uint8Array; request?: Uint8Array }> {
    const ca = await this.factoryCa.signingCa(options.caName);
    const algorithm = options.algorithm ?? 'EC-P256';
    const validity = validityWithin(ca, options.days);
    const key = await this.keyStore.generateKeyPair({
      algorithm,
      label: `device:${randomBytes(8).toString('hex')}`,
      purpose: 'device',
    });
    try {
      const keyKind = algorithm.startsWith('EC') ? 'EC' : 'RSA';
      const prepared = await this.sign(
        ca,
        key.publicKeySpki,
        keyKind,
        options.commonName,
        'hsm-injected',
        validity,
        options,
      );
      const request = options.withRequest
        ? await requestForKey(this.keyStore, key, { commonName: options.commonName })
        : undefined;
      const privateKeyPkcs8 = await this.keyStore.exportPrivateKey(key);
      return { prepared, privateKeyPkcs8, ...(request && { request }) };
    } finally {
      await this.keyStore.destroyKey(key);
    }
  }

  /**
   * Makes a claim identity (aws-iot-spec.md 3): a key in the key store with purpose 'claim' (persistent,
   * extractable: every device of a claim job receives it) and its certificate, CN = the claim name. When
   * signing fails the key is destroyed; once this returns, the caller records the certificate or destroys
   * the key.
   */
  async prepareClaim(
    options: InjectionIssueOptions,
  ): Promise<{ prepared: PreparedCertificate; key: KeyHandle }> {
    const ca = await this.factoryCa.signingCa(options.caName);
    const algorithm = options.algorithm ?? 'EC-P256';
    // Before the key exists: a refused validity leaves nothing on the token.
    const validity = validityWithin(ca, options.days);
    const key = await this.keyStore.generateKeyPair({
      algorithm,
      label: claimKeyLabel(options.commonName),
      purpose: 'claim',
    });
    try {
      const keyKind = algorithm.startsWith('EC') ? 'EC' : 'RSA';
      const prepared = await this.sign(
        ca,
        key.publicKeySpki,
        keyKind,
        options.commonName,
        'claim',
        validity,
        options,
      );
      return { prepared, key };
    } catch (error) {
      await this.keyStore.destroyKey(key).catch(() => undefined);
      throw error;
    }
  }

  /**
   * The claim key as PKCS#8, to be written to devices. Checked against the claim certificate, so a key
   * store holding another key under that id never puts a wrong key on a device.
   */
  async exportClaimKey(keyId: string, certificateSpki: Uint8Array): Promise<Uint8Array> {
    const key = await this.keyStore.findKey({ id: keyId });
    if (!key) {
      throw new StationError(
        'keys.key-not-found',
        `The claim key is not in ${this.keyStore.description}: is the right HSM token attached?`,
        { details: { keyId } },
      );
    }
    if (key.purpose !== 'claim' || !Buffer.from(key.publicKeySpki).equals(Buffer.from(certificateSpki))) {
      throw new StationError(
        'keys.claim-key-mismatch',
        `Key '${key.label}' in the key store is not the key of this claim certificate.`,
        { subject: key.label },
      );
    }
    return this.keyStore.exportPrivateKey(key);
  }

  /** Records prepared certificates in one transaction (one multi-row insert, one audit append). */
  async record(prepared: readonly PreparedCertificate[], actor: string): Promise<CertificateRecord[]> {
    return this.registry.transaction(actor, (tx) =>
      this.certificates.insertMany(
        tx,
        prepared.map((entry) => entry.record),
      ),
    );
  }

  private async sign(
    ca: SigningCa,
    spki: Uint8Array,
    keyKind: 'EC' | 'RSA',
    commonName: string,
    keyOrigin: KeyOrigin,
    { notBefore, notAfter }: Validity,
    options: IssueOptions,
  ): Promise<PreparedCertificate> {
    const subject: SubjectName = { ...options.subject, commonName };
    const problems = subjectProblems(subject);
    if (problems.length > 0) {
      throw new StationError(
        'pki.subject-invalid',
        `The certificate subject is not valid: ${problems.join('; ')}.`,
        {
          field: 'subject',
        },
      );
    }
    const subjectName = encodeName(subject);
    const altNames = options.subjectAltNames && checkedAltNames(options.subjectAltNames);
    checkNameConstraints(ca, subjectName, altNames);
    const serial = randomSerial();
    const tbs = ca.profile(options.ecKeyAgreement ?? false).tbs({
      serial,
      notBefore,
      notAfter,
      subjectName,
      spki,
      keyKind,
      ...(altNames && { subjectAltNames: altNames }),
    });
    const signature = await this.keyStore.sign(ca.key, tbs, ca.signatureAlgorithm.hash);
    const der = assembleSigned(tbs, ca.signatureAlgorithm, signature);
    return {
      der,
      record: {
        id: certificateId(der),
        caId: ca.record.id,
        pem: toPem('CERTIFICATE', der),
        subject: formatSubject(subject),
        serialHex: Buffer.from(serial).toString('hex'),
        notBefore: notBefore.toISOString(),
        notAfter: notAfter.toISOString(),
        status: options.status ?? 'ACTIVE',
        keyOrigin,
        ...(options.jobId !== undefined && { jobId: options.jobId }),
      },
    };
  }
}

/** The validity of a certificate the CA signs now: `days` (default 365), within the CA's own. */
function validityWithin(ca: SigningCa, days = 365): Validity {
  const validity = validityFor(days);
  // A device certificate outliving its CA would fail verification later: refuse it now.
  if (validity.notAfter > ca.certificate.notAfter) {
    throw new StationError(
      'pki.validity-beyond-ca',
      `CA '${ca.record.name}' expires on ${ca.certificate.notAfter.toISOString().slice(0, 10)}; choose fewer days.`,
      { field: 'days' },
    );
  }
  return validity;
}

/**
 * A certificate outside its CA's name constraints (or those of a CA above it) fails every verifier, so it
 * is refused before it is signed.
 */
function checkNameConstraints(
  ca: SigningCa,
  subjectName: Uint8Array,
  names: SubjectAltNames | undefined,
): void {
  if (ca.nameConstraints.length === 0) return;
  const subject = decodeName(subjectName, expectElement(subjectName, 0, Tag.sequence, 'Name'));
  for (const constraints of ca.nameConstraints) {
    const problem = nameConstraintProblem(
      constraints,
      certificateNames({ subject, ...(names && { subjectAltNames: names }) }),
    );
    if (problem) {
      throw new StationError(
        'pki.name-constraint',
        `CA '${ca.record.name}' cannot sign this certificate: ${problem}.`,
        {
          field: 'subjectAltNames',
          subject: ca.record.name,
        },
      );
    }
  }
}
