import { PassThrough } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import type { AttemptMode, ProvisioningEvent } from '../api/provisioning.js';
import { BatchTally, formatSummary, LiveDisplay } from './live-display.js';

const escape = String.fromCharCode(27);
const cursorUp = new RegExp(`${escape}\\[\\d+A`);
const eraseLine = `${escape}[2K`;

/** A device that ended PROVISIONED in the given mode, as thing SN-<port>. */
const end = (port: string, mode: AttemptMode): ProvisioningEvent => ({
  type: 'device-end',
  port,
  at: 2,
  recordId: 1,
  state: 'PROVISIONED',
  mode,
  thingName: `SN-${port}`,
});

const run: ProvisioningEvent[] = [
  { type: 'device-begin', port: 'p1', at: 0, recordId: 1, driver: 'nrf91' },
  { type: 'step-end', port: 'p1', at: 1, recordId: 1, step: 'write', outcome: 'ok', durationMs: 10 },
  { type: 'device-end', port: 'p1', at: 2, recordId: 1, state: 'PROVISIONED', thingName: 'SN-1' },
  { type: 'device-begin', port: 'p2', at: 0, recordId: 2, driver: 'jsonl' },
  { type: 'step-end', port: 'p2', at: 1, recordId: 2, step: 'write', outcome: 'ok', durationMs: 30 },
  { type: 'step-end', port: 'p2', at: 1, recordId: 2, step: 'verify', outcome: 'failed', durationMs: 5 },
  {
    type: 'device-end',
    port: 'p2',
    at: 2,
    recordId: 2,
    state: 'FAILED',
    error: { code: 'device.mismatch', message: 'read-back differs', userFault: true },
  },
];

describe('BatchTally', () => {
  it('counts outcomes and takes the median of each successful step', () => {
    const tally = new BatchTally();
    run.forEach((event) => tally.add(event));
    const summary = tally.summary();
    expect(summary).toMatchObject({ devices: 2, provisioned: 1, failed: 1, stepMedians: { write: 20 } });
    expect(summary.stepMedians.verify).toBeUndefined();
    expect(summary.failures).toEqual([{ port: 'p2', message: 'read-back differs' }]);
    expect(formatSummary(summary)).toContain('credential write');
    expect(formatSummary(summary)).not.toContain('not new');
  });

  it('says how many of the provisioned were not new', () => {
    const tally = new BatchTally();
    for (const [port, mode] of [
      ['a', 'fresh'],
      ['b', 'reverify'],
      ['c', 'reverify'],
      ['d', 'reissue'],
    ] as const)
      tally.add(end(port, mode));
    const summary = tally.summary();
    expect(summary).toMatchObject({ provisioned: 4, notNew: { reverify: 2, reissue: 1 } });
    expect(formatSummary(summary)).toContain('Of the provisioned, not new: 2 re-verified, 1 re-issued.');
  });

  it('prints no step table when no device ran (a watch stopped before any plug)', () => {
    const text = formatSummary(new BatchTally().summary());
    expect(text).toMatch(/│ 0\s+│ 0\s+│ 0\s+│/);
    expect(text).not.toContain('median');
  });
});

describe('LiveDisplay', () => {
  it('prints one line per finished device when the output is not a terminal', () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (chunk: Buffer) => (text += chunk.toString()));
    new LiveDisplay(out).update(run);
    const lines = text.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^p1 +nrf91 +PROVISIONED +SN-1$/);
    expect(lines[1]).toMatch(/FAILED +read-back differs$/);
  });

  it('draws nothing more once its output has closed (a reader that went away)', () => {
    const out = Object.assign(new PassThrough(), { isTTY: true, columns: 80 });
    const write = vi.spyOn(out, 'write');
    const display = new LiveDisplay(out as unknown as NodeJS.WriteStream);
    out.destroy();
    display.update(run);
    expect(write).not.toHaveBeenCalled();
  });

  it('shows a device the registry could not start as failed, with the reason', () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (chunk: Buffer) => (text += chunk.toString()));
    const unstarted: ProvisioningEvent = {
      type: 'device-unstarted',
      port: 'p3',
      at: 0,
      error: { code: 'registry.busy', message: 'Device on p3 could not be started: busy', userFault: false },
    };
    new LiveDisplay(out).update([unstarted]);
    expect(text.trim()).toMatch(/^p3 +FAILED +Device on p3 could not be started: busy$/);
  });

  it('says when a device was not newly provisioned: re-verified, resumed or re-issued', () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (chunk: Buffer) => (text += chunk.toString()));
    new LiveDisplay(out).update([
      end('a', 'fresh'),
      end('b', 'reverify'),
      end('c', 'resume'),
      end('d', 'reissue'),
    ]);
    expect(text.trim().split('\n')).toEqual([
      expect.stringMatching(/PROVISIONED +SN-a$/),
      expect.stringMatching(/PROVISIONED +SN-b \(provisioned before: verified, nothing issued\)$/),
      expect.stringMatching(/PROVISIONED +SN-c \(finished an interrupted attempt\)$/),
      expect.stringMatching(/PROVISIONED +SN-d \(new certificate, the old one revoked\)$/),
    ]);
  });

  it('cuts each live line to the terminal width, so redrawing in place never leaves wrapped rows behind', () => {
    const out = Object.assign(new PassThrough(), { isTTY: true, columns: 60 });
    let text = '';
    out.on('data', (chunk: Buffer) => (text += chunk.toString()));
    const display = new LiveDisplay(out as unknown as NodeJS.WriteStream);
    display.update(run.slice(0, 4));
    display.update(run.slice(4));
    // eslint-disable-next-line no-control-regex -- the display's own cursor and erase sequences
    const rows = text.split('\n').map((row) => row.replace(/\x1b\[\d*[AK]/g, ''));
    expect(rows.at(-1)).toBe('');
    for (const row of rows) expect(row.length).toBeLessThan(60);
    expect(rows.at(-2)).toMatch(/^p2 +jsonl +FAILED +read-b\S*…$/);
  });

  it('folds the ports that do not fit the terminal into one line, at-work ones shown first', () => {
    const out = Object.assign(new PassThrough(), { isTTY: true, columns: 120, rows: 5 });
    let text = '';
    out.on('data', (chunk: Buffer) => (text += chunk.toString()));
    const display = new LiveDisplay(out as unknown as NodeJS.WriteStream);
    const begin = (port: string): ProvisioningEvent => ({
      type: 'device-begin',
      port,
      at: 0,
      recordId: 1,
      driver: 'nrf91',
    });
    const step = (port: string): ProvisioningEvent => ({
      type: 'step-begin',
      port,
      at: 1,
      recordId: 1,
      step: 'write',
    });
    const finish = (port: string, state: 'PROVISIONED' | 'FAILED'): ProvisioningEvent => ({
      type: 'device-end',
      port,
      at: 2,
      recordId: 1,
      state,
      ...(state === 'FAILED' && { error: { code: 'x', message: 'no answer', userFault: true } }),
    });
    display.update(['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8'].map(begin));
    display.update([step('p2'), step('p7'), finish('p1', 'PROVISIONED'), finish('p3', 'PROVISIONED')]);
    display.update([finish('p4', 'PROVISIONED'), finish('p5', 'FAILED')]);
    // Each redraw starts by moving the cursor up; the lines after it are what that redraw shows.
    const frames = text.split(cursorUp).map((frame) => frame.replaceAll(eraseLine, '').trimEnd().split('\n'));
    for (const frame of frames) expect(frame.length).toBeLessThanOrEqual(4); // the cursor-up reaches them all
    expect(frames.at(-1)).toEqual([
      expect.stringMatching(/^p2 +nrf91 +credential write/),
      expect.stringMatching(/^p5 +nrf91 +FAILED +no answer/),
      expect.stringMatching(/^p7 +nrf91 +credential write/),
      '… 5 more ports: 2 waiting, 3 provisioned',
    ]);
  });

  it('prints log lines only when asked, above the live lines on a terminal', () => {
    const log: ProvisioningEvent = {
      type: 'log',
      port: 'p1',
      at: Date.UTC(2026, 0, 1, 12, 0, 0),
      level: 'warn',
      message: '--reprovision: certificate 0123… will be revoked and replaced',
    };
    const collect = (out: NodeJS.WritableStream, options: { log?: boolean }) => {
      let text = '';
      out.on('data', (chunk: Buffer) => (text += chunk.toString()));
      new LiveDisplay(out, options).update([run[0]!, log, run[2]!]);
      return text;
    };
    expect(collect(new PassThrough(), {})).not.toContain('reprovision');
    const piped = collect(new PassThrough(), { log: true }).trim().split('\n');
    expect(piped).toEqual([
      expect.stringMatching(
        /^\d\d:\d\d:\d\d p1: warn: --reprovision: certificate 0123… will be revoked and replaced$/,
      ),
      expect.stringMatching(/^p1 +nrf91 +PROVISIONED +SN-1$/),
    ]);
    const terminal = Object.assign(new PassThrough(), { isTTY: true, columns: 40, rows: 20 });
    const frames = collect(terminal, { log: true })
      .split(cursorUp)
      .map((frame) => frame.replaceAll(eraseLine, '').replaceAll(`${escape}[K`, ''));
    // Not cut to the width: a log line scrolls away and is never redrawn.
    expect(frames.at(-1)).toMatch(
      /p1: warn: --reprovision: certificate 0123… will be revoked and replaced\n/,
    );
  });
});

/** A small terminal: cursor up (CSI n A), erase line (CSI 2K, CSI K), erase below (CSI J), CR, LF, text. */
class Screen {
  readonly rows: string[] = [''];
  private row = 0;
  private col = 0;

  write(text: string): void {
    for (let i = 0; i < text.length; i++) {
      const sequence = /^\x1b\[(\d*)([AJK])/.exec(text.slice(i)); // eslint-disable-line no-control-regex
      if (sequence) {
        this.control(Number(sequence[1] || 0), sequence[2]!);
        i += sequence[0].length - 1;
      } else this.print(text[i]!);
    }
  }

  /** Terminal rows that start with `prefix`. */
  starting(prefix: string): string[] {
    return this.rows.filter((row) => row.startsWith(prefix));
  }

  private control(n: number, command: string): void {
    if (command === 'A') this.row = Math.max(0, this.row - (n || 1));
    else if (command === 'J') this.rows.splice(this.row + 1).length = 0;
    if (command === 'J' || command === 'K') {
      this.rows[this.row] = n === 2 ? '' : this.rows[this.row]!.slice(0, this.col);
    }
  }

  private print(char: string): void {
    if (char === '\r') this.col = 0;
    else if (char === '\n') {
      this.row++;
      this.col = 0;
      while (this.rows.length <= this.row) this.rows.push('');
    } else {
      const line = this.rows[this.row]!.padEnd(this.col);
      this.rows[this.row] = line.slice(0, this.col) + char + line.slice(this.col + 1);
      this.col++;
    }
  }
}

/** A terminal output stream of the given size, drawn on `screen`. */
function terminal(screen: Screen, columns = 120, rows = 40): NodeJS.WriteStream {
  const out = Object.assign(new PassThrough(), { isTTY: true, columns, rows });
  out.on('data', (chunk: Buffer) => screen.write(chunk.toString()));
  return out as unknown as NodeJS.WriteStream;
}

const begin = (port: string, driver = 'nrf91'): ProvisioningEvent => ({
  type: 'device-begin',
  port,
  at: 0,
  recordId: 1,
  driver,
});
const keyStep = (port: string): ProvisioningEvent => ({
  type: 'step-begin',
  port,
  at: 0,
  recordId: 1,
  step: 'key',
});

describe('LiveDisplay on a terminal', () => {
  it('keeps each port state on its line on a 40-column terminal', () => {
    const screen = new Screen();
    const display = new LiveDisplay(terminal(screen, 40));
    const longPort = '/dev/serial/by-path/pci-0000:00:14.0-usb-0:3:1.0';
    display.update([
      begin('sim:nrf91:1'),
      end('sim:nrf91:1', 'fresh'),
      begin('sim:nrf91:2', 'quectel'),
      keyStep('sim:nrf91:2'),
      begin(longPort),
      keyStep(longPort),
    ]);
    expect(screen.starting('sim:')).toEqual([
      expect.stringMatching(/^sim:nrf91:1 +nrf91 +PROVISIONED/),
      expect.stringMatching(/^sim:nrf91:2 +quectel +key gen/),
    ]);
    expect(screen.starting('…')).toEqual([expect.stringMatching(/^….*:1\.0 nrf91 +key gen/)]);
    for (const row of screen.rows) expect(row.length).toBeLessThan(40);
  });
});

describe('LiveDisplay notices', () => {
  const ports = ['/dev/pts/4', '/dev/pts/5', '/dev/pts/6', '/dev/pts/7'];
  const cancelled = (port: string): ProvisioningEvent => ({
    type: 'device-end',
    port,
    at: 1,
    recordId: 1,
    state: 'FAILED',
    error: { code: 'provisioning.cancelled', message: 'cancelled by the operator', userFault: true },
  });

  it('prints a message above the live lines on a terminal, which no redraw overwrites or leaves stale', () => {
    const screen = new Screen();
    // stdout and stderr on one terminal, as a technician runs the station
    const display = new LiveDisplay(terminal(screen), { messages: terminal(screen) });
    display.update(ports.flatMap((port) => [begin(port), keyStep(port)]));
    screen.write('^C'); // the terminal echoes Ctrl+C where the cursor is
    display.notice('\nStopping: each port records where it stopped. Ctrl+C again quits at once.');
    display.update(ports.map(cancelled));
    expect(screen.starting('Stopping:')).toHaveLength(1);
    for (const port of ports) expect(screen.starting(port)).toEqual([expect.stringMatching(/FAILED/)]);
    expect(screen.rows.join('\n')).not.toContain('^C');
  });

  it('writes a message as it is when the output is not a terminal', () => {
    let text = '';
    const messages = new PassThrough().on('data', (chunk: Buffer) => (text += chunk.toString()));
    const display = new LiveDisplay(new PassThrough(), { messages });
    display.update(ports.map((port) => begin(port)));
    display.notice('/dev/ttyS0: not a USB serial device, left alone');
    expect(text).toBe('/dev/ttyS0: not a USB serial device, left alone\n');
  });
});
