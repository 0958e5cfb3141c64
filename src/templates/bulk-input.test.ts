import { describe, expect, it } from 'vitest';
import { maxBulkLineLength, readBulkInput, type BulkInputLine } from './bulk-input.js';

async function* from(...chunks: (string | Uint8Array)[]): AsyncGenerator<string | Uint8Array> {
  for (const chunk of chunks) yield chunk;
}

async function collect(source: AsyncIterable<string | Uint8Array>): Promise<BulkInputLine[]> {
  const lines: BulkInputLine[] = [];
  for await (const line of readBulkInput(source)) lines.push(line);
  return lines;
}

describe('readBulkInput', () => {
  it('yields one dictionary per line, counting blank lines and reading a last line without newline', async () => {
    expect(await collect(from('{"a":"1"}\r\n\n{"a":"2"}\n{"a":', '"3"}'))).toEqual([
      { line: 1, parameters: { a: '1' } },
      { line: 3, parameters: { a: '2' } },
      { line: 4, parameters: { a: '3' } },
    ]);
  });

  it('joins UTF-8 sequences split across chunks', async () => {
    const bytes = new TextEncoder().encode('{"city":"Zürich"}\n');
    const split = bytes.indexOf(0xc3) + 1; // between the two bytes of ü
    expect(await collect(from(bytes.slice(0, split), bytes.slice(split)))).toEqual([
      { line: 1, parameters: { city: 'Zürich' } },
    ]);
  });

  it('reports a bad line by number and goes on', async () => {
    const lines = await collect(from('{"a":"1"}\nnot json\n[1]\n{"a":2}\n{"a":"5"}\n'));
    expect(
      lines.map((line) => ('errors' in line ? `${line.line}: ${line.errors[0]?.message}` : line.line)),
    ).toEqual([
      1,
      expect.stringMatching(/^2: not valid JSON/),
      '3: a line must be a JSON object of parameter name: string',
      '4: a parameter value must be a string, found number',
      5,
    ]);
  });

  it('skips a line longer than the limit without holding it in memory, then goes on', async () => {
    const big = 'x'.repeat(maxBulkLineLength / 4);
    const lines = await collect(from('{"a":"', big, big, big, big, big, '"}\n{"a":"ok"}\n'));
    expect(lines).toEqual([
      { line: 1, errors: [{ path: 'line 1', message: `longer than ${maxBulkLineLength} characters` }] },
      { line: 2, parameters: { a: 'ok' } },
    ]);
  });

  it('keeps a "__proto__" parameter as a plain entry', async () => {
    const [line] = await collect(from('{"__proto__":"x"}'));
    expect(
      line && 'parameters' in line && Object.getOwnPropertyDescriptor(line.parameters, '__proto__')?.value,
    ).toBe('x');
  });
});
