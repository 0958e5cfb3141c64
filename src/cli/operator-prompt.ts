import { createInterface, type Interface } from 'node:readline';
import { StationError } from '../api/errors.js';

interface Question {
  port: string;
  prompt: string;
  resolve(value: string): void;
  reject(error: unknown): void;
  signal?: AbortSignal;
  onAbort(): void;
}

export interface PromptHooks {
  /** A question is about to be written: the live display holds still. */
  asking?(): void;
  /** The question is answered or withdrawn. */
  answered?(): void;
}

/**
 * Asks the technician for a job's typed or scanned value (`station job create --scan`), one port at a
 * time: the question names the port, and a barcode scanner's keystrokes and Enter answer it. An empty line
 * asks again. On a terminal, a line typed while no question is open is ignored; from a pipe or a file,
 * lines wait for the next questions in order. Once the input has ended, questions fail with the reason.
 */
export class OperatorPrompt {
  private readonly queue: Question[] = [];
  private readonly typedAhead: string[] = [];
  private current: Question | undefined;
  private reader: Interface | undefined;
  private ended = false;

  constructor(
    private readonly input: NodeJS.ReadableStream & { isTTY?: boolean } = process.stdin,
    private readonly output: NodeJS.WritableStream = process.stderr,
    private readonly hooks: PromptHooks = {},
  ) {}

  readonly ask = (port: string, prompt: string, signal?: AbortSignal): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const question: Question = { port, prompt, resolve, reject, onAbort: () => this.withdraw(question) };
      if (signal) {
        question.signal = signal;
        signal.addEventListener('abort', question.onAbort, { once: true });
      }
      this.queue.push(question);
      this.next();
    });

  /** Stops reading (the bench is done); questions still open fail. */
  close(): void {
    this.reader?.close();
    this.reader = undefined;
    this.end();
  }

  private next(): void {
    if (this.current) return;
    const question = this.queue.shift();
    if (!question) return;
    const early = this.typedAhead.shift();
    if (early !== undefined) {
      this.output.write(`${question.port}: ${question.prompt}: ${early}\n`);
      return this.settle(question, early);
    }
    if (this.ended) return this.fail(question, noTechnician());
    this.current = question;
    this.hooks.asking?.();
    this.output.write(`${question.port}: ${question.prompt}: `);
    this.startReading();
  }

  private startReading(): void {
    if (this.reader) return;
    this.reader = createInterface({ input: this.input, terminal: false });
    this.reader.on('line', (line) => this.onLine(line.trim()));
    this.reader.on('close', () => this.end());
  }

  private onLine(line: string): void {
    const question = this.current;
    if (!question) {
      if (!this.input.isTTY && line !== '') this.typedAhead.push(line);
      return;
    }
    if (line === '') {
      this.output.write(`${question.port}: ${question.prompt}: `);
      return;
    }
    this.current = undefined;
    // A terminal echoes what is typed; from a pipe the answer is written, so the log reads as a dialogue.
    if (!this.input.isTTY) this.output.write(`${line}\n`);
    this.hooks.answered?.();
    this.settle(question, line);
  }

  private settle(question: Question, value: string): void {
    question.signal?.removeEventListener('abort', question.onAbort);
    question.resolve(value);
    this.next();
  }

  private fail(question: Question, error: unknown): void {
    question.signal?.removeEventListener('abort', question.onAbort);
    question.reject(error);
  }

  private withdraw(question: Question): void {
    if (this.current === question) {
      this.current = undefined;
      this.output.write('(withdrawn)\n');
      this.hooks.answered?.();
    } else {
      const index = this.queue.indexOf(question);
      if (index < 0) return;
      this.queue.splice(index, 1);
    }
    this.fail(question, question.signal?.reason);
    this.next();
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    const open = this.current;
    this.current = undefined;
    if (open) {
      this.output.write('\n');
      this.hooks.answered?.();
      this.queue.unshift(open);
    }
    // Lines read before the end still answer questions in order; the rest fail.
    while (this.queue.length > 0) this.next();
  }
}

function noTechnician(): StationError {
  return new StationError(
    'provisioning.operator-input-missing',
    'nobody can answer: the input of this station ended (start station provision at a terminal)',
  );
}
