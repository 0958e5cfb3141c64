import Table from 'cli-table3';
import {
  attemptModePhrases,
  pipelineSteps,
  type AttemptMode,
  stepPhrases,
  type PipelineStep,
  type ProvisioningEvent,
  type RecordState,
} from '../api/provisioning.js';

interface PortLine {
  port: string;
  driver: string;
  step?: PipelineStep;
  done?: number;
  total?: number;
  state?: RecordState;
  mode?: AttemptMode;
  thingName?: string;
  error?: string;
}

/**
 * One live line per port, redrawn in place on a terminal (a progress display, not a scroll of logs).
 * Without a terminal (CI, a pipe) it prints one line per finished device instead. With `log`, the devices'
 * log lines (what was identified, issued, written, verified) scroll above the live lines, or are printed
 * as they come without a terminal.
 */
export class LiveDisplay {
  private readonly lines = new Map<string, PortLine>();
  private readonly logLines: string[] = [];
  private drawn = 0;
  private paused = false;

  constructor(
    private readonly out: NodeJS.WriteStream | NodeJS.WritableStream = process.stdout,
    private readonly options: { log?: boolean; messages?: NodeJS.WritableStream } = {},
  ) {}

  private get interactive(): boolean {
    return 'isTTY' in this.out && this.out.isTTY === true;
  }

  update(events: readonly ProvisioningEvent[]): void {
    // Its output closed (a reader that went away, see closed-output.ts): nothing more to draw.
    if (!this.out.writable) return;
    for (const event of events) this.apply(event);
    if (this.interactive && !this.paused) this.redraw();
  }

  /** Holds the lines still while the technician is asked something below them. */
  pause(): void {
    this.paused = true;
  }

  /** Draws the lines afresh below the question and its answer. */
  resume(): void {
    this.paused = false;
    this.drawn = 0;
    if (this.interactive) this.redraw();
  }

  /**
   * A message for the technician during the run (Ctrl+C's "Stopping", a port left alone), written to
   * `messages` (stderr by default). On a terminal the live lines make way for it and are drawn again below
   * it: written over them, it would be overwritten by the next redraw, whose move up would then fall
   * short of the first lines and leave them stale.
   */
  notice(text: string): void {
    const drawing = this.interactive && !this.paused;
    // From the start of the row (a ^C echoed there), up to the first live line; erase all below.
    if (drawing && this.drawn > 0) {
      this.out.write(`\r\x1b[${this.drawn}A\x1b[J`);
      this.drawn = 0;
    }
    (this.options.messages ?? process.stderr).write(`${text}\n`);
    if (drawing) this.redraw();
  }

  private apply(event: ProvisioningEvent): void {
    if (event.type === 'log') {
      if (!this.options.log) return;
      const time = new Date(event.at).toTimeString().slice(0, 8);
      const text = `${time} ${event.port}: ${event.level === 'info' ? '' : `${event.level}: `}${event.message}`;
      if (this.interactive) this.logLines.push(text);
      else this.out.write(`${text}\n`);
      return;
    }
    const line = this.lines.get(event.port) ?? { port: event.port, driver: '' };
    this.lines.set(event.port, line);
    switch (event.type) {
      case 'device-begin':
        Object.assign(line, {
          driver: event.driver,
          step: undefined,
          state: undefined,
          error: undefined,
          done: undefined,
        });
        break;
      case 'step-begin':
        Object.assign(line, { step: event.step, done: undefined, total: undefined });
        break;
      case 'progress':
        Object.assign(line, { done: event.done, total: event.total });
        break;
      case 'device-unstarted':
        Object.assign(line, { state: 'FAILED', step: undefined, error: event.error.message });
        if (!this.interactive) this.out.write(`${formatLine(line)}\n`);
        break;
      case 'device-end':
        Object.assign(line, {
          state: event.state,
          mode: event.mode,
          thingName: event.thingName,
          error: event.error?.message,
        });
        if (!this.interactive) this.out.write(`${formatLine(line)}\n`);
        break;
      default:
        break;
    }
  }

  private redraw(): void {
    const height = 'rows' in this.out ? this.out.rows : 0;
    const width = 'columns' in this.out ? this.out.columns : 0;
    const rows = visibleLines(
      [...this.lines.values()],
      height > 1 ? height - 1 : Infinity,
      columnWidths(width),
    );
    // Move up over what was drawn before and rewrite each line in place. A line wider than the terminal
    // would wrap onto a second row that the move up does not cover, so each is cut to fit (the summary
    // at the end prints every failure in full); more lines than the terminal has rows could not be
    // reached by the move up either, so visibleLines folds the rest into one.
    const fit = (row: string) => (width > 1 && row.length >= width ? `${row.slice(0, width - 2)}…` : row);
    let text = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    // Log lines take the place of the live lines, which are drawn again below them. They are never
    // redrawn, so they may wrap; erasing after the text clears what a wrapped row lands on.
    for (const row of this.logLines.splice(0)) text += `\x1b[2K${row}\x1b[K\n`;
    for (const row of rows) text += `\x1b[2K${fit(row)}\n`;
    this.drawn = rows.length;
    this.out.write(text);
  }
}

/** What goes first when not every port fits: ports at work, then failures, then idle ones, then done. */
function urgency(line: PortLine): number {
  if (line.state === undefined) return line.step ? 0 : 2;
  return line.state === 'PROVISIONED' ? 3 : 1;
}

/**
 * The port lines in port order, at most `room` of them: when more ports than that are on the bench, the
 * most urgent fill all but the last row, which counts the others.
 */
function visibleLines(lines: PortLine[], room: number, columns: Columns): string[] {
  const byPort = (a: PortLine, b: PortLine) => a.port.localeCompare(b.port);
  const format = (line: PortLine) => formatLine(line, columns);
  if (lines.length <= room) return lines.sort(byPort).map(format);
  const ranked = [...lines].sort((a, b) => urgency(a) - urgency(b) || byPort(a, b));
  const shown = ranked.slice(0, Math.max(0, room - 1));
  const hidden = ranked.slice(shown.length);
  // Counted in the order of urgency() (at work 0 ... provisioned 3).
  const parts = ['at work', 'failed', 'waiting', 'provisioned'].flatMap((what, rank) => {
    const n = hidden.filter((line) => urgency(line) === rank).length;
    return n > 0 ? [`${n} ${what}`] : [];
  });
  return [...shown.sort(byPort).map(format), `… ${hidden.length} more ports: ${parts.join(', ')}`];
}

/** Widths of the port and driver columns. */
interface Columns {
  port: number;
  driver: number;
}

const fullColumns: Columns = { port: 28, driver: 8 };

/**
 * On a terminal narrower than the full columns and the longest state (PROVISIONED) need, the port and
 * driver columns give way, so the state stays on the line redraw() cuts to the width. The port keeps at
 * least 8 characters (its end names it), the driver at least 3.
 */
function columnWidths(width: number): Columns {
  if (width <= 1) return fullColumns;
  // What fit() keeps, less the state and the space before the driver and before the state.
  const room = width - 2 - 'PROVISIONED'.length - 2;
  const port = Math.min(fullColumns.port, Math.max(8, room - fullColumns.driver));
  return { port, driver: Math.min(fullColumns.driver, Math.max(3, room - port)) };
}

function formatLine(line: PortLine, columns: Columns = fullColumns): string {
  // The end of a path names the port (ttyUSB3, .../host); keep it when the name is long.
  const port = (line.port.length > columns.port ? `…${line.port.slice(1 - columns.port)}` : line.port).padEnd(
    columns.port,
  );
  const driver = line.driver.slice(0, columns.driver).padEnd(columns.driver);
  if (line.state) {
    const done = line.mode && attemptModePhrases[line.mode];
    const detail =
      line.state === 'PROVISIONED'
        ? `${line.thingName ?? ''}${done ? ` (${done})` : ''}`
        : (line.error ?? '');
    return `${port} ${driver} ${line.state.padEnd(12)} ${detail}`;
  }
  const step = line.step ? stepPhrases[line.step] : 'waiting';
  return `${port} ${driver} ${step.padEnd(22)} ${progressBar(line.done, line.total)}`;
}

function progressBar(done?: number, total?: number): string {
  if (done === undefined || !total) return '';
  const width = 20;
  const filled = Math.min(width, Math.round((done / total) * width));
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.round((done / total) * 100)}%`;
}

export interface BatchSummary {
  devices: number;
  provisioned: number;
  failed: number;
  /** Of the provisioned, those that were not new: verified again, finished, or re-issued. */
  notNew: Partial<Record<Exclude<AttemptMode, 'fresh'>, number>>;
  /** Median duration of each step that ran, in ms. */
  stepMedians: Partial<Record<PipelineStep, number>>;
  failures: { port: string; message: string }[];
}

/**
 * Folds a run's events into the end-of-batch summary as they come: a bench watching its ports for a whole
 * shift keeps the step durations and the failures, not every event (progress alone is dozens per device).
 */
export class BatchTally {
  private readonly durations = new Map<PipelineStep, number[]>();
  private devices = 0;
  private provisioned = 0;
  private readonly notNew: BatchSummary['notNew'] = {};
  private readonly failures: BatchSummary['failures'] = [];

  add(event: ProvisioningEvent): void {
    if (event.type === 'step-end' && event.outcome === 'ok') {
      const list = this.durations.get(event.step) ?? [];
      list.push(event.durationMs);
      this.durations.set(event.step, list);
    }
    if (event.type === 'device-unstarted') {
      this.devices++;
      this.failures.push({ port: event.port, message: event.error.message });
    }
    if (event.type !== 'device-end') return;
    this.devices++;
    if (event.state === 'PROVISIONED') {
      this.provisioned++;
      if (event.mode && event.mode !== 'fresh') this.notNew[event.mode] = (this.notNew[event.mode] ?? 0) + 1;
    } else this.failures.push({ port: event.port, message: event.error?.message ?? event.state });
  }

  summary(): BatchSummary {
    const stepMedians: BatchSummary['stepMedians'] = {};
    for (const step of pipelineSteps) {
      const list = this.durations.get(step);
      if (list?.length) stepMedians[step] = median(list);
    }
    return {
      devices: this.devices,
      provisioned: this.provisioned,
      failed: this.failures.length,
      notNew: { ...this.notNew },
      stepMedians,
      failures: [...this.failures],
    };
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const notNewWords: Record<keyof BatchSummary['notNew'], string> = {
  reverify: 're-verified',
  resume: 'finished',
  reissue: 're-issued',
};

export function formatSummary(summary: BatchSummary): string {
  const totals = new Table({ head: ['devices', 'provisioned', 'failed'], style: { head: [], border: [] } });
  totals.push([summary.devices, summary.provisioned, summary.failed]);
  const steps = new Table({ head: ['step', 'median'], style: { head: [], border: [] } });
  for (const [step, ms] of Object.entries(summary.stepMedians)) {
    steps.push([stepPhrases[step as PipelineStep], `${ms.toFixed(1)} ms`]);
  }
  const parts = [totals.toString()];
  const notNew = (Object.keys(notNewWords) as (keyof typeof notNewWords)[])
    .filter((mode) => summary.notNew[mode])
    .map((mode) => `${summary.notNew[mode]} ${notNewWords[mode]}`);
  // A batch of re-plugged devices must not read as newly provisioned ones.
  if (notNew.length > 0) parts.push(`Of the provisioned, not new: ${notNew.join(', ')}.`);
  if (steps.length > 0) parts.push(steps.toString());
  if (summary.failures.length > 0) {
    parts.push(['Failures:', ...summary.failures.map((f) => `  ${f.port}: ${f.message}`)].join('\n'));
  }
  return parts.join('\n');
}
