import { describe, expect, it } from 'vitest';
import { AtLineFramer, type FramerEvent } from './at-line-framer.js';

const framer = (maxLineBytes = 64, quoteAwareLines = false) =>
  new AtLineFramer({ maxLineBytes, quoteAwareLines });
const lines = (events: FramerEvent[]) =>
  events.filter((event) => event.kind === 'line').map((event) => event.text);

describe('AtLineFramer', () => {
  it('joins a line delivered one byte at a time', () => {
    const subject = framer();
    const events = [...Buffer.from('+CGSN: 1\r\nOK\r\n')].flatMap((byte) =>
      subject.push(Buffer.from([byte])),
    );
    expect(lines(events)).toEqual(['+CGSN: 1', 'OK']);
  });

  it('accepts CR, LF and CRLF line ends and skips blank lines', () => {
    expect(lines(framer().push(Buffer.from('a\rb\nc\r\n\r\n\nOK\r\n')))).toEqual(['a', 'b', 'c', 'OK']);
  });

  it('keeps CR and LF inside double quotes when quote-aware', () => {
    const text = '%CMNG: 1,0,"AB","-----BEGIN\r\nX\n-----END\n"\r\nOK\r\n';
    expect(lines(framer(256, true).push(Buffer.from(text)))).toEqual([
      '%CMNG: 1,0,"AB","-----BEGIN\r\nX\n-----END\n"',
      'OK',
    ]);
    expect(lines(framer(256, false).push(Buffer.from(text)))).toContain('X');
  });

  it('reports an oversized line once, discards it and resynchronises on the next line end', () => {
    const subject = framer(8);
    const events = subject.push(Buffer.from(`${'x'.repeat(40)}\r\nOK\r\n`));
    expect(events).toEqual([{ kind: 'too-long' }, { kind: 'line', text: 'OK' }]);
  });

  it('reports binary noise and invalid UTF-8 as garbled, not as text', () => {
    expect(framer().push(Buffer.from([0x4f, 0x00, 0x4b, 0x0d, 0x0a]))).toEqual([{ kind: 'garbled' }]);
    expect(framer().push(Buffer.from([0xff, 0x4b, 0x0d, 0x0a]))).toEqual([{ kind: 'garbled' }]);
    expect(lines(framer().push(Buffer.from('café\r\n')))).toEqual(['café']);
  });

  it('sees the > prompt only while armed and only at the start of a line', () => {
    const subject = framer();
    expect(subject.push(Buffer.from('>'))).toEqual([]);
    subject.reset();
    subject.armPrompt(true);
    expect(subject.push(Buffer.from('a>b\r\n>'))).toEqual([
      { kind: 'line', text: 'a>b' },
      { kind: 'prompt' },
    ]);
  });

  it('reads a length-prefixed raw value with line ends inside it', () => {
    const subject = framer();
    subject.expectRawData(/^\+SYSMFG:"[^"]*","[^"]*",\d+,(\d+),$/, 1024);
    const events = subject.push(Buffer.from('+SYSMFG:"ns","k",8,5,a\r\nb\n\r\nOK\r\n'));
    expect(events).toEqual([
      { kind: 'raw-data', header: '+SYSMFG:"ns","k",8,5,', bytes: Buffer.from('a\r\nb\n') },
      { kind: 'line', text: 'OK' },
    ]);
  });

  it('treats an announced raw value larger than allowed as an oversized line', () => {
    const subject = framer();
    subject.expectRawData(/^\+V:(\d+),$/, 4);
    expect(subject.push(Buffer.from('+V:99,xxxx\r\nOK\r\n'))).toEqual([
      { kind: 'too-long' },
      { kind: 'line', text: 'OK' },
    ]);
  });
});
