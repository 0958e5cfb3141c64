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
 */
/**
 * How long the anchor may lag the log while commits keep coming (flush() writes at once). At most one
 * write per interval: a busy bench commits hundreds of times a second, and replacing the file costs far
 * more than a commit (ext4 flushes a file renamed over another: ~0.5 ms per rename measured under the
 * bench's load, on the event loop). A crash loses at most this much of the anchor's lead, which verify
 * accepts as it accepts any lag.
 */
const anchorIntervalMs = 1_000;

export class AuditAnchor {
  private latest: AuditHead | undefined;
  private written: AuditHead | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failure: unknown;

  constructor(readonly file: string) {}

  async read(): Promise<AuditHead | undefined> {
    return this.parse(await readFile(this.file, 'utf8').catch((error: unknown) => this.readFailure(error)));
  }

  private parse(text: string | undefined): AuditHead | undefined {
    if (text === undefined) return undefined;
    const parsed = auditHeadSchema.safeParse(JSON.parse(text));
    if (!parsed.success) {
      throw new StationError(
        'audit.anchor_corrupt',
        `The audit head file ${this.file} is not a valid head record; it may have been edited.`,
      );
    }
    return parsed.data;
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
    this.timer ??= setTimeout(() => this.writeLatest(), anchorIntervalMs);
    return failure === undefined ? Promise.resolve() : Promise.reject(failure);
  }

  /** Writes the newest head now (before verify, and when the registry closes). */
  flush(): Promise<void> {
    this.writeLatest();
    const failure = this.failure;
    this.failure = undefined;
    return failure === undefined ? Promise.resolve() : Promise.reject(failure);
  }

  private writeLatest(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const head = this.latest;
    if (!head || (this.written && head.seq <= this.written.seq)) return;
    try {
      this.write(head);
      this.written = head;
    } catch (error) {
      this.failure = error;
    }
  }

  /**
   * Synchronous on purpose: a hundred-byte file in the page cache takes microseconds, where each of the
   * five fs/promises calls would be a trip through the thread pool, dozens of times a second on a busy bench.
   */
  private write(head: AuditHead): void {
    let current: AuditHead | undefined;
    try {
      current = this.parse(readFileSync(this.file, 'utf8'));
    } catch {
      current = undefined; // unreadable or edited: verify() reports that; the newer head replaces it
    }
    if (current && current.seq >= head.seq) return;
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
