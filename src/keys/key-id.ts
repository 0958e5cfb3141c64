import { randomUUID } from 'node:crypto';

/**
 * A new key id: 32 hex digits (122 random bits). Ids name keys, they protect nothing; randomUUID draws
 * from node's cached entropy pool, where randomBytes costs a call into OpenSSL once per device key.
 */
export function newKeyId(): string {
  return randomUUID().replaceAll('-', '');
}
