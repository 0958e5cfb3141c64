/**
 * Quectel command arguments: double-quoted strings (no escapes; file names and paths never need them) and
 * bare numbers (decimal, or 0x-prefixed hex as AT+QSSLCFG="ciphersuite" takes).
 */
export type QuectelArgument =
  { kind: 'string'; value: string } | { kind: 'number'; value: number; text: string };

/** Parses the text after `=`; undefined when it is not a well-formed argument list. */
export function parseQuectelArguments(text: string): QuectelArgument[] | undefined {
  const parsed: QuectelArgument[] = [];
  for (const token of splitOutsideQuotes(text)) {
    const trimmed = token.trim();
    if (/^"[^"]*"$/.test(trimmed)) parsed.push({ kind: 'string', value: trimmed.slice(1, -1) });
    else if (/^(\d+|0[xX][0-9A-Fa-f]+)$/.test(trimmed))
      parsed.push({ kind: 'number', value: Number(trimmed), text: trimmed });
    else return undefined;
  }
  return parsed;
}

function splitOutsideQuotes(text: string): string[] {
  const tokens: string[] = [];
  let current = '';
  let quoted = false;
  for (const character of text) {
    if (character === '"') quoted = !quoted;
    if (character === ',' && !quoted) {
      tokens.push(current);
      current = '';
    } else {
      current += character;
    }
  }
  tokens.push(current);
  return tokens;
}
