import { invalidInput } from '../api/errors.js';

/** commander accumulator for repeatable options (`--attr a=1 --attr b=2`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * `key=value` pairs from repeated --attr options; the value may itself contain `=`. A key given twice is
 * refused: keeping one of them would drop a value the technician typed without saying so.
 */
export function parseAttributeOptions(pairs: readonly string[] = [], field = 'attr'): Record<string, string> {
  // A Map, not an object: "__proto__" is a valid attribute name.
  const values = new Map<string, string>();
  for (const pair of pairs) {
    const split = pair.indexOf('=');
    if (split <= 0) throw invalidInput(field, `"${pair}" is not key=value.`);
    const key = pair.slice(0, split);
    const value = pair.slice(split + 1);
    const earlier = values.get(key);
    if (earlier !== undefined) {
      throw invalidInput(
        field,
        `${key} is given twice (${key}=${earlier} and ${key}=${value}); give each key once.`,
      );
    }
    values.set(key, value);
  }
  return Object.fromEntries(values);
}

export function wholeNumber(field: string, text: string, min: number): number;
export function wholeNumber(field: string, text: string | undefined, min: number): number | undefined;
export function wholeNumber(field: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < min)
    throw invalidInput(field, `give a whole number of at least ${min}, not "${text}".`);
  return value;
}

/** A certificate id as the registry keys it: 64 hex digits, lowercase (any case accepted). */
export function certificateIdArgument(id: string, field = 'id'): string {
  const normalised = id.toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(normalised)) {
    throw invalidInput(field, 'a certificate id is 64 hex digits (the SHA-256 of the certificate).');
  }
  return normalised;
}

/** A file's text without the UTF-8 byte order mark some Windows editors write first: JSON.parse refuses it. */
export function withoutByteOrderMark(text: string): string {
  return text.replace(/^\uFEFF/, '');
}
