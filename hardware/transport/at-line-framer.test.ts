import { describe, expect, it } from 'vitest';
import { AtLineFramer, type FramerEvent } from './at-line-framer.js';

const framer = (maxLineBytes = 64, quoteAwareLines = false, stripAnsiEscapes = false) =>
  new AtLineFramer({ maxLineBytes, quoteAwareLines, stripAnsiEscapes });
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

  it('strips ANSI colour sequences from a Zephyr log line when asked to, and only then', () => {
    const log = '\x1b[1;33m[00:00:05.120,000] <wrn> lte_lc: LTE link down\x1b[0m\r\nOK\r\n';
    expect(framer(128, true, true).push(Buffer.from(log))).toEqual([
      { kind: 'line', text: '[00:00:05.120,000] <wrn> lte_lc: LTE link down' },
      { kind: 'line', text: 'OK' },
    ]);
    // A sequence split across reads, and a line that was nothing but colour codes.
    const subject = framer(128, true, true);
    const events = [
      ...subject.push(Buffer.from('\x1b[0')),
      ...subject.push(Buffer.from('m\x1b[K\r\nOK\r\n')),
    ];
    expect(events).toEqual([{ kind: 'line', text: 'OK' }]);
    expect(framer(128).push(Buffer.from(log))[0]).toEqual({ kind: 'garbled' });
  });

  it('still reports an escape that starts no complete CSI sequence as garbled when stripping', () => {
    expect(framer(64, false, true).push(Buffer.from('a\x1bb\r\n'))).toEqual([{ kind: 'garbled' }]);
    expect(framer(64, false, true).push(Buffer.from('a\x1b[12\r\n'))).toEqual([{ kind: 'garbled' }]);
    expect(framer(64, false, true).push(Buffer.from([0x1b, 0x5b, 0x6d, 0xff, 0x0d, 0x0a]))).toEqual([
      { kind: 'garbled' },
    ]);
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
