import { invalidInput } from '../api/errors.js';

/** commander accumulator for repeatable options (`--attr a=1 --attr b=2`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `key=value` pairs from repeated --attr options; the value may itself contain `=`. */
export function parseAttributeOptions(pairs: readonly string[] = [], field = 'attr'): Record<string, string> {
  const entries = pairs.map((pair) => {
    const split = pair.indexOf('=');
    if (split <= 0) throw invalidInput(field, `"${pair}" is not key=value.`);
    return [pair.slice(0, split), pair.slice(split + 1)] as const;
  });
  return Object.fromEntries(entries);
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
