/**
 * ESP-AT command arguments (protocols.md 2): strings in double quotes where `\,` `\"` `\\` escape the
 * character that follows; numbers bare. Only the command line is escaped; data after the `>` prompt is raw.
 */
export type EspAtArgument = { kind: 'string'; value: string } | { kind: 'number'; value: number };

/** Quotes a string argument, escaping what ESP-AT would otherwise take as syntax. */
export function quoteEspAtString(value: string): string {
  return `"${value.replace(/[\\",]/g, (character) => `\\${character}`)}"`;
}

/** Parses the text after `=`; undefined when it is not a well-formed argument list. */
export function parseEspAtArguments(text: string): EspAtArgument[] | undefined {
  const parsed: EspAtArgument[] = [];
  let index = 0;
  while (index <= text.length) {
    if (text[index] === '"') {
      let value = '';
      index += 1;
      while (index < text.length && text[index] !== '"') {
        if (text[index] === '\\') index += 1;
        value += text[index] ?? '';
        index += 1;
      }
      if (index >= text.length) return undefined; // unterminated string
      index += 1;
      parsed.push({ kind: 'string', value });
    } else {
      const end = text.indexOf(',', index);
      const token = text.slice(index, end === -1 ? text.length : end);
      if (!/^-?\d+$/.test(token)) return undefined;
      parsed.push({ kind: 'number', value: Number(token) });
      index += token.length;
    }
    if (index === text.length) return parsed;
    if (text[index] !== ',') return undefined;
    index += 1;
  }
  return parsed;
}
