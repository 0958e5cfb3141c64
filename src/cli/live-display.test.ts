import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
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
