import { createHash, randomBytes } from 'node:crypto';
import { formatUuid } from './keygen-response.js';

/** The Luhn check digit that completes a 14-digit IMEI body (3GPP TS 23.003). */
export function luhnCheckDigit(body: string): number {
  let sum = 0;
  for (let index = 0; index < body.length; index++) {
    let digit = Number(body[body.length - 1 - index]);
    if (index % 2 === 0) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return (10 - (sum % 10)) % 10;
}

export function isValidImei(imei: string): boolean {
  return /^\d{15}$/.test(imei) && luhnCheckDigit(imei.slice(0, 14)) === Number(imei[14]);
}

/** IMEI (valid Luhn digit, TAC 35xxxxxx as Nordic modules use) and device UUID, fixed by the seed. */
export function simulatedModemIdentity(seed: number | undefined): { imei: string; uuid: string } {
  const material =
    seed === undefined ? randomBytes(32) : createHash('sha256').update(`nrf91:${seed}`).digest();
  const digits = [...material.subarray(0, 12)].map((byte) => String(byte % 10)).join('');
  const body = `35${digits}`;
  const uuidBytes = Buffer.from(material.subarray(16, 32));
  uuidBytes[6] = (uuidBytes[6]! & 0x0f) | 0x40;
  uuidBytes[8] = (uuidBytes[8]! & 0x3f) | 0x80;
  return { imei: `${body}${luhnCheckDigit(body)}`, uuid: formatUuid(uuidBytes) };
}
