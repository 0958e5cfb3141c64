import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { StationError } from '../api/errors.js';

const auditHeadSchema = z.object({
  seq: z.number().int().nonnegative(),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
});
export type AuditHead = z.infer<typeof auditHeadSchema>;

/**
 * The audit log's head (last seq + hash) kept in a file beside the registry. The hash chain alone
 * cannot show that the newest rows were deleted: what remains is still a valid chain. The file
 * remembers how far the chain reached, so verify() notices a truncated tail. It is written after
 * each commit, so it may lag the database after a crash (accepted by verify) but never leads it
 * unless rows were removed. Someone who can edit both the database and this file defeats it;
 * shipping the head off the machine (the outbox) is the stronger anchor.
 *
 * The file only moves forward along the chain it remembers: from the row it names, if the log still
 * holds that row unchanged. Otherwise (rows deleted or rewritten, the file removed or garbled) later
 * commits leave it as it is, so verify() keeps reporting the break until someone re-anchors the log
 * on purpose (`station audit re-anchor`, which says so in the log itself). The file is created only
 * with the registry, while its log is empty.
 */
/**
 * How long the anchor may lag the log while commits keep coming (flush() writes at once). At most one
 * write per interval: a busy bench commits hundreds of times a second, and replacing the file costs far
 * more than a commit (ext4 flushes a file renamed over another: ~0.5 ms per rename measured under the
 * bench's load, on the event loop). A crash loses at most this much of the anchor's lead, which verify
 * accepts as it accepts any lag.
 */
const anchorIntervalMs = 1_000;

/** What the head file holds: a head, nothing (no file), or something that is not a head record. */
export type AnchorState = AuditHead | 'missing' | 'corrupt';

/** The hash of the log's row `seq` (seq 0: the empty log's), or undefined when there is no such row. */
export type HashAt = (seq: number) => Promise<string | undefined>;

export class AuditAnchor {
  private latest: AuditHead | undefined;
  private written: AuditHead | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failure: unknown;
  /** The write under way: the timer and flush() never write at once. */
  private writing: Promise<void> = Promise.resolve();

  constructor(
    readonly file: string,
    private readonly hashAt: HashAt,
  ) {}

  async read(): Promise<AnchorState> {
    return this.parse(await readFile(this.file, 'utf8').catch((error: unknown) => this.readFailure(error)));
  }

  private parse(text: string | undefined): AnchorState {
    if (text === undefined) return 'missing';
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return 'corrupt';
    }
    const parsed = auditHeadSchema.safeParse(json);
    return parsed.success ? parsed.data : 'corrupt';
  }

  /** What the file holds, as text, at most `limit` characters: a garbled file's only evidence. */
  async text(limit: number): Promise<string | undefined> {
    const text = await readFile(this.file, 'utf8').catch((error: unknown) => this.readFailure(error));
    return text?.slice(0, limit);
  }

  /** The head of a new, empty log, written at once: from here on the file only moves along the chain. */
  async create(head: AuditHead): Promise<void> {
    if ((await this.read()) !== 'missing') return;
    this.replace(head);
    this.written = head;
  }

  /**
   * Writes `head` whatever the file holds now: `station audit re-anchor`, once the log's own chain
   * verified and the reason went into the log.
   */
  reanchor(head: AuditHead): void {
    this.replace(head);
    this.written = head;
    if (this.latest && this.latest.seq <= head.seq) this.latest = undefined;
  }

  /** A missing file has no head yet (undefined); any other failure is reported. */
  private readFailure(error: unknown): undefined {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StationError(
      'audit.anchor_unreadable',
      `Cannot read the audit head file ${this.file}: ${String(error)}.`,
      { cause: error },
    );
  }

  /**
   * Moves the anchor forward to `head`; never backwards (another process may have written a later head).
   * Writes are coalesced: a commit only records the newest head and one writer keeps the file up to date,
   * so a burst of transactions costs a few file writes, not one each. The file may lag by the commits of
   * that burst after a crash, which verify() accepts. A failed write is reported by the next advance() or
   * flush().
   */
  advance(head: AuditHead): Promise<void> {
    const failure = this.failure;
    this.failure = undefined;
    if (!this.latest || head.seq > this.latest.seq) this.latest = head;
    this.timer ??= setTimeout(() => void this.writeLatest(), anchorIntervalMs);
    return failure === undefined ? Promise.resolve() : Promise.reject(failure);
  }

  /** Writes the newest head now (before verify, and when the registry closes). */
  async flush(): Promise<void> {
    await this.writeLatest();
    const failure = this.failure;
    this.failure = undefined;
    if (failure !== undefined) throw failure;
  }

  private writeLatest(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.writing = this.writing.then(async () => {
      const head = this.latest;
      if (!head || (this.written && head.seq <= this.written.seq)) return;
      try {
        await this.write(head);
        this.written = head;
      } catch (error) {
        this.failure = error;
      }
    });
    return this.writing;
  }

  /**
   * The file is read and written synchronously on purpose: a hundred-byte file in the page cache takes
   * microseconds, where each of the five fs/promises calls would be a trip through the thread pool, dozens
   * of times a second on a busy bench.
   */
  private async write(head: AuditHead): Promise<void> {
    let text: string | undefined;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (error) {
      text = this.readFailure(error);
    }
    const current = this.parse(text);
    // Gone or garbled: verify() reports it, and a commit must not make that good again.
    if (current === 'missing' || current === 'corrupt') return;
    if (current.seq >= head.seq) return;
    // The log no longer holds the row the file remembers: rows were deleted or rewritten since. The file
    // keeps what it knew, the evidence verify() reports.
    if ((await this.hashAt(current.seq)) !== current.hash) return;
    this.replace(head);
  }

  private replace(head: AuditHead): void {
    // Write-then-rename: a crash leaves the old head or the new one, never half a file.
    const temporary = `${this.file}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      writeFileSync(temporary, `${JSON.stringify(head)}\n`, 'utf8');
      renameSync(temporary, this.file);
    } catch (error) {
      throw new StationError(
        'audit.anchor_unwritable',
        `The change was saved, but the audit head file ${this.file} could not be updated: ${String(error)}.`,
        { userFault: false, cause: error },
      );
    }
  }
}
