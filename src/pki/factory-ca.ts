import { StationError } from '../api/errors.js';
import type { KeyAlgorithm, KeyHandle, KeyStore } from '../keys/key-store.js';
import { CaCertificateTable, type CaCertificateRecord } from '../registry/certificates.js';
import type { Registry } from '../registry/registry.js';
import { describePublicKey, signatureAlgorithmFor, type SignatureAlgorithm } from './algorithms.js';
import { caKeyLabel, caRecordFrom, certificatesInPem, checkCaName } from './ca-records.js';
import { chainAbove, issuerProblem, sameKey } from './chain.js';
import {
  assembleSigned,
  DeviceCertificateProfile,
  encodeTbsCertificate,
  randomSerial,
} from './certificate-builder.js';
import { parseCertificate, subjectText, type ParsedCertificate } from './certificate-reader.js';
import type { NameConstraints } from './name-constraints.js';
import { requestForKey } from './csr-writer.js';
import {
  authorityKeyIdentifierExtension,
  checkedPermittedDns,
  basicConstraintsExtension,
  keyIdentifierOf,
  keyUsageExtension,
  nameConstraintsExtension,
  subjectKeyIdentifierExtension,
} from './extensions.js';
import { encodeName, subjectProblems, type SubjectName } from './names.js';
import { toPem } from './pem.js';
import { validityFor } from './validity.js';

export interface CreateRootCaOptions {
  name: string;
  /** Defaults to CN = the CA name. */
  subject?: SubjectName;
  algorithm?: KeyAlgorithm;
  days?: number;
  /** BasicConstraints pathLenConstraint; absent means no limit. */
  pathLength?: number;
  /** Name constraints: DNS subtrees the CA's certificates may name (SAN dNSName). */
  permittedDns?: string[];
}

export type CreateIntermediateOptions = Pick<CreateRootCaOptions, 'name' | 'subject' | 'algorithm'>;

const statusRecheckMs = 2_000;

/** A CA the station can sign with: its record, certificate, key, and device profile (compiled once). */
export interface SigningCa {
  record: CaCertificateRecord;
  certificate: ParsedCertificate;
  /** The NameConstraints of the CA and of every CA above it: a device certificate must meet them all. */
  nameConstraints: NameConstraints[];
  key: KeyHandle;
  signatureAlgorithm: SignatureAlgorithm;
  profile(ecKeyAgreement: boolean): DeviceCertificateProfile;
}

/**
 * The factory CA lifecycle (design.md 5): root CAs made here, intermediates whose CSR goes out and whose
 * signed chain comes back, external CAs registered for verification. Keys stay in the KeyStore
 * (purpose 'ca': sensitive, never extractable); the registry keeps certificates and the key's label and id.
 */
export class FactoryCa {
  readonly cas: CaCertificateTable;
  /** Compiled signing CAs; the registry row is re-read at most every statusRecheckMs (bulk paths sign a lot). */
  private readonly signing = new Map<string, { signing: SigningCa; checkedAt: number }>();

  constructor(
    private readonly registry: Registry,
    private readonly keyStoreOrUndefined: KeyStore | undefined,
  ) {
    this.cas = new CaCertificateTable(registry.reader);
  }

  private get keyStore(): KeyStore {
    if (!this.keyStoreOrUndefined) {
      throw new StationError(
        'keys.no-store',
        'This needs the key store; open the station with its key store.',
        {
          userFault: false,
        },
      );
    }
    return this.keyStoreOrUndefined;
  }

  async createRoot(options: CreateRootCaOptions, actor: string): Promise<CaCertificateRecord> {
    const subject = await this.checkNewCa(options);
    const algorithm = options.algorithm ?? 'EC-P256';
    if (
      options.pathLength !== undefined &&
      (!Number.isInteger(options.pathLength) || options.pathLength < 0)
    ) {
      throw new StationError('input.invalid', 'pathLength: a path length is a whole number from 0.', {
        field: 'pathLength',
      });
    }
    // Checked before the key exists: refused input leaves nothing on the token, not even a destroyed key.
    const { notBefore, notAfter } = validityFor(options.days ?? 3650);
    const permittedDns = checkedPermittedDns(options.permittedDns ?? []);
    const key = await this.keyStore.generateKeyPair({
      algorithm,
      label: caKeyLabel(options.name),
      purpose: 'ca',
    });
    try {
      const signatureAlgorithm = signatureAlgorithmFor(algorithm);
      const name = encodeName(subject);
      const keyIdentifier = keyIdentifierOf(key.publicKeySpki);
      const extensions = [
        basicConstraintsExtension(true, options.pathLength),
        keyUsageExtension(['digitalSignature', 'keyCertSign', 'cRLSign']),
        subjectKeyIdentifierExtension(keyIdentifier),
        authorityKeyIdentifierExtension(keyIdentifier),
      ];
      if (permittedDns.length > 0) extensions.push(nameConstraintsExtension(permittedDns));
      const tbs = encodeTbsCertificate({
        serial: randomSerial(),
        signatureAlgorithm,
        issuerName: name,
        notBefore,
        notAfter,
        subjectName: name,
        spki: key.publicKeySpki,
        extensions,
      });
      const signature = await this.keyStore.sign(key, tbs, signatureAlgorithm.hash);
      const certificate = parseCertificate(assembleSigned(tbs, signatureAlgorithm, signature));
      const record = caRecordFrom(options.name, [certificate], key);
      return await this.registry.transaction(actor, (tx) => this.cas.insert(tx, record));
    } catch (error) {
      await this.keyStore.destroyKey(key).catch(() => undefined);
      throw error;
    }
  }

  /** Makes the intermediate's key and returns its CSR (PEM) for the parent CA; no registry row until import. */
  async createIntermediateCsr(options: CreateIntermediateOptions): Promise<string> {
    const subject = await this.checkNewCa(options);
    const algorithm = options.algorithm ?? 'EC-P256';
    const key = await this.keyStore.generateKeyPair({
      algorithm,
      label: caKeyLabel(options.name),
      purpose: 'ca',
    });
    return toPem('CERTIFICATE REQUEST', await requestForKey(this.keyStore, key, subject));
  }

  /** Installs the signed certificate (and its issuers) of an intermediate whose CSR this station made. */
  async importChain(name: string, chainPem: string, actor: string): Promise<CaCertificateRecord> {
    checkCaName(name);
    if (await this.cas.byName(name)) throw caExists(name);
    const key = await this.keyStore.findKey({ label: caKeyLabel(name) });
    if (!key) {
      throw new StationError(
        'pki.no-pending-intermediate',
        `No key for CA '${name}' in the key store: run 'station ca create --name ${name} --intermediate' first.`,
        { subject: name },
      );
    }
    checkCaKey(
      name,
      key,
      this.keyStore,
      `remove that key (station ca discard-key ${name}) and start again with station ca create --name ${name} --intermediate`,
    );
    const certificates = certificatesInPem(chainPem);
    const leaf = certificates.find((certificate) => sameKey(certificate.spki, key.publicKeySpki));
    if (!leaf) {
      throw new StationError(
        'pki.chain-key-mismatch',
        `No certificate in the file carries the key of CA '${name}': was the right CSR signed?`,
        { subject: name },
      );
    }
    checkCaCertificate(leaf);
    const chain = chainAbove(
      leaf,
      certificates.filter((certificate) => certificate !== leaf),
    );
    checkCaChain(
      name,
      chain,
      'have the parent CA sign the CSR again with a certificate that allows it, then import that chain',
    );
    return this.registry.transaction(actor, (tx) => this.cas.insert(tx, caRecordFrom(name, chain, key)));
  }

  /** Registers a CA certificate whose key the station does not hold (verification, AWS JITP-style use). */
  async registerExternal(name: string, pem: string, actor: string): Promise<CaCertificateRecord> {
    checkCaName(name);
    if (await this.cas.byName(name)) throw caExists(name);
    const certificates = certificatesInPem(pem);
    const leaf = certificates[0]!;
    checkCaCertificate(leaf);
    const chain = chainAbove(leaf, certificates.slice(1));
    checkCaChain(name, chain, 'register a CA certificate whose chain allows it');
    return this.registry.transaction(actor, (tx) =>
      this.cas.insert(tx, caRecordFrom(name, chain, undefined)),
    );
  }

  async list(): Promise<CaCertificateRecord[]> {
    return this.cas.list();
  }

  async get(name: string): Promise<CaCertificateRecord> {
    const record = await this.cas.byName(name);
    if (!record) {
      throw new StationError('pki.ca-not-found', `No CA named '${name}': 'station ca list' shows the CAs.`, {
        subject: name,
      });
    }
    return record;
  }

  async disable(name: string, actor: string): Promise<CaCertificateRecord> {
    await this.get(name);
    await this.registry.transaction(actor, (tx) => this.cas.setStatus(tx, name, 'DISABLED'));
    this.signing.delete(name);
    return this.get(name);
  }

  /**
   * Destroys the key of a CA that was never recorded: an intermediate whose chain will not come, or the
   * key a `ca create` left when it died between making the key and recording the CA. Such a key blocks
   * the name for good otherwise. A recorded CA's key is refused: disable the CA instead.
   */
  async discardUnrecordedKey(name: string, actor: string): Promise<void> {
    checkCaName(name);
    if (await this.cas.byName(name)) {
      throw new StationError(
        'pki.ca-exists',
        `CA '${name}' is recorded, so its key is in use; stop it signing with station ca disable ${name}.`,
        { subject: name },
      );
    }
    const key = await this.keyStore.findKey({ label: caKeyLabel(name) });
    if (!key) {
      throw new StationError('registry.not_found', `The key store holds no key for a CA named '${name}'.`, {
        subject: name,
      });
    }
    await this.registry.transaction(actor, async (tx) => {
      await tx.audit('ca.key.discard', name, { keyId: key.id, algorithm: key.algorithm });
      await this.keyStore.destroyKey(key);
    });
  }

  /**
   * The CA ready to sign: active, within validity, and with its key in the key store. A disabled CA
   * issues nothing, but still signs its CRL (`use` 'crl'): revocations made after it was disabled must
   * reach the relying parties.
   */
  async signingCa(name: string, now: Date = new Date(), use: 'issue' | 'crl' = 'issue'): Promise<SigningCa> {
    const cached = this.signing.get(name);
    if (cached && performance.now() - cached.checkedAt < statusRecheckMs) {
      checkUsable(cached.signing.record, cached.signing.certificate, now, use);
      return cached.signing;
    }
    if (cached) {
      // Another process (the CLI beside a running station) may have disabled the CA: re-read its row.
      const current = await this.get(name);
      if (current.id === cached.signing.record.id) {
        cached.signing.record = current;
        cached.checkedAt = performance.now();
        checkUsable(current, cached.signing.certificate, now, use);
        return cached.signing;
      }
      this.signing.delete(name);
    }
    const record = await this.get(name);
    const chain = certificatesInPem(record.pem, 'ca');
    const certificate = chain[0]!;
    checkUsable(record, certificate, now, use);
    if (record.external || record.keyId === undefined) {
      throw new StationError(
        'pki.ca-external',
        `CA '${name}' is registered for verification only: the station does not hold its key.`,
        { subject: name },
      );
    }
    const key = await this.keyStore.findKey({ id: record.keyId });
    if (!key) {
      throw new StationError(
        'pki.ca-key-missing',
        `The key of CA '${name}' is not in ${this.keyStore.description}: is the right HSM token attached?`,
        { subject: name },
      );
    }
    checkCaKey(
      name,
      key,
      this.keyStore,
      `stop using this CA (station ca disable ${name}) and make a new one with station ca create`,
    );
    const signatureAlgorithm = signatureAlgorithmFor(key.algorithm);
    const issuingCa = {
      subjectName: certificate.subjectName,
      keyIdentifier: certificate.subjectKeyIdentifier,
      signatureAlgorithm,
    };
    const profiles = new Map<boolean, DeviceCertificateProfile>();
    const signing: SigningCa = {
      record,
      certificate,
      nameConstraints: chain.flatMap((member) => member.nameConstraints ?? []),
      key,
      signatureAlgorithm,
      profile(ecKeyAgreement) {
        let profile = profiles.get(ecKeyAgreement);
        if (!profile) {
          profile = new DeviceCertificateProfile(issuingCa, { ecKeyAgreement });
          profiles.set(ecKeyAgreement, profile);
        }
        return profile;
      },
    };
    this.signing.set(name, { signing, checkedAt: performance.now() });
    return signing;
  }

  private async checkNewCa(options: { name: string; subject?: SubjectName }): Promise<SubjectName> {
    checkCaName(options.name);
    const subject = options.subject ?? { commonName: options.name };
    const problems = subjectProblems(subject);
    if (problems.length > 0) {
      throw new StationError('input.invalid', `subject: ${problems.join('; ')}.`, { field: 'subject' });
    }
    if (await this.cas.byName(options.name)) throw caExists(options.name);
    if (await this.keyStore.findKey({ label: caKeyLabel(options.name) })) {
      throw new StationError(
        'pki.ca-key-exists',
        `The key store already holds a key for CA '${options.name}', which no CA records (a pending intermediate, or a ca create that was interrupted): import its chain, discard the key with station ca discard-key ${options.name}, or choose another name.`,
        { subject: options.name },
      );
    }
    return subject;
  }
}

function caExists(name: string): StationError {
  return new StationError('pki.ca-exists', `A CA named '${name}' already exists; choose another name.`, {
    subject: name,
  });
}

/**
 * A key found by label or id may have been made outside the station (another tool, a migrated key), and
 * be readable or once have been: whoever holds a copy could sign as the CA.
 */
function checkCaKey(name: string, key: KeyHandle, keyStore: KeyStore, remedy: string): void {
  if (key.neverExtractable) return;
  throw new StationError(
    'pki.ca-key-extractable',
    `The key of CA '${name}' ('${key.label}' in ${keyStore.description}) is not sensitive and never extractable, so its private value can be or could have been read out; ${remedy}.`,
    { subject: name, details: { keyId: key.id } },
  );
}

function checkCaCertificate(certificate: ParsedCertificate): void {
  if (!certificate.isCa) {
    throw new StationError(
      'pki.not-a-ca',
      'The certificate is not a CA certificate (BasicConstraints CA:true missing).',
    );
  }
  const key = describePublicKey(certificate.spki);
  if (key.kind === 'other') {
    throw new StationError(
      'pki.ca-key-unsupported',
      `The CA's key type ${key.algorithmOid} is not supported.`,
    );
  }
}

/**
 * The CA's certificate and its issuers must allow what the CA is for, signing device certificates
 * (RFC 5280 6.1.4): otherwise every certificate under it fails openssl verify and AWS IoT's checks.
 */
function checkCaChain(name: string, chain: readonly ParsedCertificate[], remedy: string): void {
  const problem = issuerProblem(chain, new Date());
  if (!problem) return;
  throw new StationError(
    'pki.chain-invalid',
    `The certificates of CA '${name}' do not allow it to sign device certificates: ${problem.text}; ${remedy}.`,
    { subject: name, details: { rule: problem.rule, certificate: subjectText(problem.certificate) } },
  );
}

function checkUsable(
  record: CaCertificateRecord,
  certificate: ParsedCertificate,
  now: Date,
  use: 'issue' | 'crl',
): void {
  if (record.status !== 'ACTIVE' && use === 'issue') {
    throw new StationError('pki.ca-disabled', `CA '${record.name}' is disabled; it signs nothing.`, {
      subject: record.name,
    });
  }
  if (now < certificate.notBefore || now > certificate.notAfter) {
    throw new StationError(
      'pki.ca-expired',
      `CA '${record.name}' is valid only from ${certificate.notBefore.toISOString()} to ${certificate.notAfter.toISOString()}.`,
      { subject: record.name },
    );
  }
}
