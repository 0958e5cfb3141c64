/**
 * Cuts a byte stream into `\n`-terminated lines with a hard length cap, so neither end ever buffers an
 * unbounded line from a peer it does not trust. A trailing `\r` is dropped (terminals and some UART
 * bridges send CRLF). After an overlong line the rest of it, up to its `\n`, is discarded.
 */
export class LineSplitter {
  private readonly parts: Buffer[] = [];
  private length = 0;
  private discarding = false;

  constructor(
    private readonly maxLineBytes: number,
    private readonly onLine: (line: Buffer) => void,
    private readonly onOverflow: () => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(0x0a, start);
      const end = newline === -1 ? chunk.length : newline;
      this.append(chunk.subarray(start, end));
      if (newline === -1) return;
      this.finishLine();
      start = newline + 1;
    }
  }

  /** Forgets a partial line (after a reconnect or a cancelled exchange). */
  reset(): void {
    this.parts.length = 0;
    this.length = 0;
    this.discarding = false;
  }

  private append(bytes: Buffer): void {
    if (this.discarding || bytes.length === 0) return;
    // The cap counts the `\n` too, so a line of maxLineBytes - 1 bytes is the longest accepted.
    if (this.length + bytes.length >= this.maxLineBytes) {
      this.reset();
      this.discarding = true;
      this.onOverflow();
      return;
    }
    this.parts.push(bytes);
    this.length += bytes.length;
  }

  private finishLine(): void {
    if (this.discarding) {
      this.discarding = false;
      return;
    }
    let line = Buffer.concat(this.parts, this.length);
    this.reset();
    if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
    this.onLine(line);
  }
}
