import { StationError } from '../api/errors.js';
import type { KeyStore } from '../keys/key-store.js';
import { CertificateTable } from '../registry/certificates.js';
import type { Registry } from '../registry/registry.js';
import { FactoryCa } from './factory-ca.js';
import { CertificateIssuer } from './issuance.js';
import { Revocation } from './revocation.js';
import { CertificateVerifier } from './verification.js';

/** The PKI services on one registry and (where signing is needed) one key store. */
export class Pki {
  readonly factoryCa: FactoryCa;
  readonly revocation: Revocation;
  readonly verifier: CertificateVerifier;
  /** Device certificate rows (reading needs no key store). */
  readonly certificates: CertificateTable;
  private issuerOrUndefined: CertificateIssuer | undefined;

  constructor(
    registry: Registry,
    private readonly keyStore: KeyStore | undefined,
  ) {
    this.factoryCa = new FactoryCa(registry, keyStore);
    this.revocation = new Revocation(registry, this.factoryCa, keyStore);
    this.verifier = new CertificateVerifier(registry);
    this.certificates = new CertificateTable(registry.reader);
    if (keyStore) this.issuerOrUndefined = new CertificateIssuer(registry, this.factoryCa, keyStore);
  }

  get issuer(): CertificateIssuer {
    if (!this.issuerOrUndefined) {
      throw new StationError('keys.no-store', 'Issuing certificates needs the key store.', {
        userFault: false,
      });
    }
    return this.issuerOrUndefined;
  }
}
