import type { TemplateIssue, TemplateParameters } from '../api/templates.js';

/** One line of AWS bulk-registration input: its parameter dictionary, or why it has none. */
export type BulkInputLine =
  { line: number; parameters: TemplateParameters } | { line: number; errors: TemplateIssue[] };

/**
 * Far above a real line (a one-line CSR PEM is ~1 KiB, AWS caps a value at 4 KiB) yet small enough that
 * a file without newlines cannot fill memory; a longer line is reported and skipped.
 */
export const maxBulkLineLength = 1_048_576;

/**
 * Reads AWS bulk-registration input: newline-delimited JSON, one parameter dictionary per line
 * (aws-iot-spec.md 2). Streams: chunks may split lines and UTF-8 sequences anywhere. A bad line yields its
 * errors with its 1-based line number and reading goes on; blank lines are skipped but still counted.
 */
export async function* readBulkInput(
  source: AsyncIterable<string | Uint8Array>,
): AsyncGenerator<BulkInputLine> {
  const decoder = new TextDecoder('utf-8');
  let pending = '';
  let lineNumber = 0;
  let overlong = false;
  for await (const chunk of source) {
    pending += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    let newline = pending.indexOf('\n');
    while (newline >= 0) {
      lineNumber += 1;
      const text = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      const result =
        overlong || text.length > maxBulkLineLength
          ? overlongLine(lineNumber)
          : parseBulkLine(text, lineNumber);
      overlong = false;
      if (result) yield result;
      newline = pending.indexOf('\n');
    }
    if (pending.length > maxBulkLineLength) {
      overlong = true;
      pending = '';
    }
  }
  pending += decoder.decode();
  if (overlong) yield overlongLine(lineNumber + 1);
  else if (pending.length > 0) {
    const result = parseBulkLine(pending, lineNumber + 1);
    if (result) yield result;
  }
}

function overlongLine(line: number): BulkInputLine {
  return { line, errors: [{ path: `line ${line}`, message: `longer than ${maxBulkLineLength} characters` }] };
}

/** Parses one line; undefined for a blank one. */
export function parseBulkLine(text: string, line: number): BulkInputLine | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  const path = `line ${line}`;
  let value: unknown;
  try {
    value = JSON.parse(trimmed) as unknown;
  } catch (error) {
    return { line, errors: [{ path, message: `not valid JSON (${(error as Error).message})` }] };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { line, errors: [{ path, message: 'a line must be a JSON object of parameter name: string' }] };
  }
  const errors: TemplateIssue[] = [];
  const parameters: TemplateParameters = {};
  for (const [name, item] of Object.entries(value)) {
    if (typeof item === 'string')
      Object.defineProperty(parameters, name, {
        value: item,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    else
      errors.push({
        path: `${path}.${name}`,
        message: `a parameter value must be a string, found ${item === null ? 'null' : typeof item}`,
      });
  }
  return errors.length > 0 ? { line, errors } : { line, parameters };
}
