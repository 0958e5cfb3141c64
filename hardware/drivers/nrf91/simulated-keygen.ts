import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { encode, Tagged } from 'cborg';
import { ECDSA_WITH_SHA256_OID, NULL_DER, SEQUENCE, SET, tlv } from './der.js';

/** Subject attribute names the simulated modem accepts in `AT%KEYGEN=...,"<attributes>"`. */
const attributeOids: Record<string, string> = {
  C: '550406',
  O: '55040a',
  OU: '55040b',
  CN: '550403',
};

export interface SimulatedKeygen {
  privateKey: KeyObject;
  /** `<b64url CSR>.<b64url COSE_Sign1>` as the modem prints it inside the quotes. */
  response: string;
}

export interface KeygenRequest {
  deviceUuid: string;
  secTag: number;
  /** `CN=...,O=...`; CN defaults to the device UUID (protocols.md 1.4). */
  attributes?: string;
  /** 0 = CSR, 1 = public key. */
  content: 0 | 1;
  /** Emit ecdsa-with-SHA256 with a NULL parameter, as older modem firmware does. */
  nullParameter: boolean;
}

/** Undefined when the attribute string is not one the modem would take. */
export function simulateKeygen(request: KeygenRequest): SimulatedKeygen | undefined {
  const subject = subjectName(request.attributes ?? `CN=${request.deviceUuid}`);
  if (!subject) return undefined;
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const body = request.content === 0 ? csrDer(subject, spki, privateKey, request.nullParameter) : spki;
  const cose = coseSign1(request, body);
  return { privateKey, response: `${body.toString('base64url')}.${cose.toString('base64url')}` };
}

function subjectName(attributes: string): Buffer | undefined {
  const rdns: Buffer[] = [];
  for (const part of attributes.split(',')) {
    const [name, ...rest] = part.split('=');
    const oid = attributeOids[(name ?? '').trim().toUpperCase()];
    const value = rest.join('=').trim();
    if (!oid || value.length === 0) return undefined;
    const typed = tlv(0x06, Buffer.from(oid, 'hex'));
    rdns.push(tlv(SET, tlv(SEQUENCE, typed, tlv(0x0c, Buffer.from(value, 'utf8')))));
  }
  return tlv(SEQUENCE, ...rdns);
}

/**
 * PKCS#10 as the modem makes it: subject, P-256 key, extensionRequest keyUsage `03 02 03 E8`
 * (digitalSignature, nonRepudiation, keyEncipherment, keyAgreement), ecdsa-with-SHA256 (protocols.md 1.4).
 */
function csrDer(subject: Buffer, spki: Buffer, privateKey: KeyObject, nullParameter: boolean): Buffer {
  const keyUsage = tlv(
    SEQUENCE,
    tlv(0x06, Buffer.from('551d0f', 'hex')),
    tlv(0x04, Buffer.from('030203e8', 'hex')),
  );
  const extensionRequest = tlv(
    SEQUENCE,
    tlv(0x06, Buffer.from('2a864886f70d01090e', 'hex')),
    tlv(SET, tlv(SEQUENCE, keyUsage)),
  );
  const info = tlv(SEQUENCE, Buffer.from([0x02, 0x01, 0x00]), subject, spki, tlv(0xa0, extensionRequest));
  const signature = sign('sha256', info, { key: privateKey, dsaEncoding: 'der' });
  const algorithm = nullParameter
    ? tlv(SEQUENCE, ECDSA_WITH_SHA256_OID, NULL_DER)
    : tlv(SEQUENCE, ECDSA_WITH_SHA256_OID);
  return tlv(SEQUENCE, info, algorithm, tlv(0x03, Buffer.from([0]), signature));
}

/**
 * COSE_Sign1 over `[9 or 8, uuid, cbor(sec_tag), sha256(body), nonce]`; no host tool verifies the
 * signature (protocols.md 1.7), so random bytes stand in for the identity key's.
 */
function coseSign1(request: KeygenRequest, body: Buffer): Buffer {
  const uuid = Buffer.from(request.deviceUuid.replaceAll('-', ''), 'hex');
  const digest = createHash('sha256').update(body).digest();
  const messageType = request.content === 0 ? 9 : 8;
  const payload = encode(
    new Tagged(55799, [messageType, uuid, encode(request.secTag), digest, randomBytes(16)]),
  );
  const sign1 = new Tagged(18, [
    Buffer.from('a10126', 'hex'),
    new Map([[4, Buffer.from([0x21])]]),
    payload,
    randomBytes(64),
  ]);
  return Buffer.from(encode(sign1));
}
