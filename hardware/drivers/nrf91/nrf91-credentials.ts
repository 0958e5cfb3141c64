import type { CredentialSlot } from '../device-driver.js';

/** nRF Cloud's default sec_tag, the nrfcloud-utils `-S` default (protocols.md 1.3). */
export const defaultSecTag = 16_842_753;

/** %CMNG types: 0 root CA, 1 client certificate, 2 client private key (protocols.md 1.3). */
export const credentialTypes: Record<CredentialSlot, 0 | 1 | 2> = { ca: 0, certificate: 1, key: 2 };
