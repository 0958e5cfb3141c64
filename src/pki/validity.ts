import { invalidInput } from '../api/errors.js';

const dayMs = 86_400_000;
/** Devices without a battery-backed clock start a little behind; backdating avoids "not yet valid". */
export const backdateMs = 5 * 60_000;

export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

/** Validity of `days` days starting now (backdated a few minutes for device clock skew), whole seconds. */
export function validityFor(days: number, now: Date = new Date()): Validity {
  if (!Number.isInteger(days) || days < 1 || days > 36_500) {
    throw invalidInput('days', 'validity must be a whole number of days from 1 to 36500');
  }
  const start = Math.floor((now.getTime() - backdateMs) / 1000) * 1000;
  return { notBefore: new Date(start), notAfter: new Date(start + days * dayMs) };
}
