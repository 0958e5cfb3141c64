import { describe, expect, it } from 'vitest';
import { LineSplitter } from './line-splitter.js';

function collect(maxLineBytes: number) {
  const lines: string[] = [];
  let overflows = 0;
  const splitter = new LineSplitter(
    maxLineBytes,
    (line) => lines.push(line.toString('utf8')),
    () => (overflows += 1),
  );
  return { splitter, lines, overflows: () => overflows };
}

describe('LineSplitter', () => {
  it('joins lines split across chunks and drops a trailing CR', () => {
    const { splitter, lines } = collect(64);
    splitter.push(Buffer.from('{"id":1,'));
    splitter.push(Buffer.from('"ok":true}\r\n{"id":2}\n{"id"'));
    expect(lines).toEqual(['{"id":1,"ok":true}', '{"id":2}']);
    splitter.push(Buffer.from(':3}\n'));
    expect(lines).toEqual(['{"id":1,"ok":true}', '{"id":2}', '{"id":3}']);
  });

  it('refuses a line that reaches the cap, drops the rest of it and resumes at the next line', () => {
    const { splitter, lines, overflows } = collect(8);
    splitter.push(Buffer.from('1234567\n')); // 7 bytes + newline = the cap exactly
    splitter.push(Buffer.from('12345678'));
    splitter.push(Buffer.from('9abc\nok\n'));
    expect(lines).toEqual(['1234567', 'ok']);
    expect(overflows()).toBe(1);
  });

  it('never buffers more than the cap however long the noise runs', () => {
    const { splitter, lines, overflows } = collect(16);
    for (let i = 0; i < 1000; i += 1) splitter.push(Buffer.alloc(1024, 0xff));
    splitter.push(Buffer.from('\nafter\n'));
    expect(lines).toEqual(['after']);
    expect(overflows()).toBe(1);
  });
});
