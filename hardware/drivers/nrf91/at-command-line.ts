/**
 * Splits the arguments of an nRF91 AT command the way the modem reads them: commas separate, double quotes
 * enclose strings that may hold commas and raw CR/LF (protocols.md 1.1, 1.3). There is no escape character.
 */
export interface AtArgument {
  text: string;
  quoted: boolean;
}

/** Undefined for unbalanced quotes or text outside quotes next to a quoted string. */
export function splitAtArguments(text: string): AtArgument[] | undefined {
  if (text.length === 0) return [];
  const args: AtArgument[] = [];
  let index = 0;
  for (;;) {
    while (text[index] === ' ') index++;
    if (text[index] === '"') {
      const close = text.indexOf('"', index + 1);
      if (close < 0) return undefined;
      args.push({ text: text.slice(index + 1, close), quoted: true });
      index = close + 1;
      while (text[index] === ' ') index++;
    } else {
      const comma = text.indexOf(',', index);
      const end = comma < 0 ? text.length : comma;
      const token = text.slice(index, end).trim();
      if (token.includes('"')) return undefined;
      args.push({ text: token, quoted: false });
      index = end;
    }
    if (index >= text.length) return args;
    if (text[index] !== ',') return undefined;
    index++;
  }
}

/** A plain decimal argument in range, else undefined. */
export function integerArgument(arg: AtArgument | undefined, min: number, max: number): number | undefined {
  if (!arg || arg.quoted || !/^\d+$/.test(arg.text)) return undefined;
  const value = Number(arg.text);
  return value >= min && value <= max ? value : undefined;
}
