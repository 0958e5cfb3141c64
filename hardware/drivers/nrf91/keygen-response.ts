import { decode, Tagged, type TagDecoder } from 'cborg';
import { ECDSA_WITH_SHA256_OID, SEQUENCE, readTlv, tlv } from './der.js';

/** What `%KEYGEN: "<b64url CSR>.<b64url COSE_Sign1>"` carries (protocols.md 1.4). */
export interface KeygenResult {
  /** The CSR, DER, with the signature algorithm in canonical form (no NULL parameter). */
  csr: Buffer;
  /** The modem sent ecdsa-with-SHA256 with a NULL parameter (older firmware, protocols.md 6.6). */
  hadNullParameter: boolean;
  /** The COSE_Sign1 attestation, where present and well formed. */
  attestation?: KeygenAttestation;
}

export interface KeygenAttestation {
  /** 9 = CSR message v1, 8 = public key message v2. */
  messageType: number;
  deviceUuid: string;
  secTag: number;
  /** SHA-256 the modem put in the payload, lowercase hex. */
  digest: string;
}

/** COSE_Sign1 (18) and self-described CBOR (55799) come back as Tagged; maps keep their integer keys. */
const tags: TagDecoder[] = [];
tags[18] = (content) => new Tagged(18, content());
tags[55799] = (content) => new Tagged(55799, content());
const decodeCbor = (bytes: Uint8Array): unknown => decode(bytes, { tags, useMaps: true });

/** Parses the %KEYGEN line; undefined when it is not one (the caller reports that). */
export function parseKeygenLine(line: string): KeygenResult | undefined {
  const match = /^%KEYGEN:\s*"([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_-]+))?"$/.exec(line);
  if (!match?.[1]) return undefined;
  const raw = Buffer.from(match[1], 'base64url');
  const { der, hadNullParameter } = withoutEcdsaNullParameter(raw);
  const attestation = match[2] ? parseAttestation(Buffer.from(match[2], 'base64url')) : undefined;
  return { csr: der, hadNullParameter, ...(attestation && { attestation }) };
}

/**
 * Older modem firmware writes ecdsa-with-SHA256 with a NULL parameter, which strict parsers refuse
 * (protocols.md 1.4, 6.6; nrfcloud-utils `_normalize_ecdsa_csr_der`). The signature covers only the
 * CertificationRequestInfo, so replacing the algorithm identifier keeps it valid; the CRI bytes are kept as
 * sent.
 */
export function withoutEcdsaNullParameter(der: Buffer): { der: Buffer; hadNullParameter: boolean } {
  const outer = readTlv(der, 0);
  const info = readTlv(der, outer.start);
  const algorithm = readTlv(der, info.end);
  const signature = readTlv(der, algorithm.end);
  const oid = readTlv(der, algorithm.start);
  const oidBytes = der.subarray(oid.offset, oid.end);
  const hasNull =
    oid.end < algorithm.end &&
    der[oid.end] === 0x05 &&
    der[oid.end + 1] === 0x00 &&
    oid.end + 2 === algorithm.end;
  if (!hasNull || !oidBytes.equals(ECDSA_WITH_SHA256_OID)) return { der, hadNullParameter: false };
  const canonical = tlv(
    SEQUENCE,
    der.subarray(info.offset, info.end),
    tlv(SEQUENCE, ECDSA_WITH_SHA256_OID),
    der.subarray(signature.offset, signature.end),
  );
  return { der: canonical, hadNullParameter: true };
}

/** COSE_Sign1 (tag 18): payload = [type, uuid, cbor(sec_tag), sha256, nonce]; lenient, optional. */
function parseAttestation(bytes: Buffer): KeygenAttestation | undefined {
  try {
    const sign1: unknown = decodeCbor(bytes);
    if (!(sign1 instanceof Tagged) || sign1.tag !== 18 || !Array.isArray(sign1.value)) return undefined;
    const payloadBytes: unknown = sign1.value[2];
    if (!(payloadBytes instanceof Uint8Array)) return undefined;
    let payload: unknown = decodeCbor(payloadBytes);
    if (payload instanceof Tagged) payload = payload.value; // 55799 self-described CBOR
    if (!Array.isArray(payload) || payload.length < 4) return undefined;
    const [messageType, uuid, secTagCbor, digest] = payload as unknown[];
    if (typeof messageType !== 'number' || !(uuid instanceof Uint8Array) || uuid.length !== 16)
      return undefined;
    if (!(secTagCbor instanceof Uint8Array) || !(digest instanceof Uint8Array)) return undefined;
    const secTag: unknown = decodeCbor(secTagCbor);
    if (typeof secTag !== 'number') return undefined;
    return {
      messageType,
      deviceUuid: formatUuid(Buffer.from(uuid)),
      // A negative CBOR sec_tag is the same 32-bit value (protocols.md 1.4).
      secTag: secTag < 0 ? secTag >>> 0 : secTag,
      digest: Buffer.from(digest).toString('hex'),
    };
  } catch {
    return undefined;
  }
}

export function formatUuid(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
