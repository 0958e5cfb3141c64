import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
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
export class AuditAnchor {
  constructor(readonly file: string) {}

  async read(): Promise<AuditHead | undefined> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new StationError(
        'audit.anchor_unreadable',
        `Cannot read the audit head file ${this.file}: ${String(error)}.`,
        {
          cause: error,
        },
      );
    }
    const parsed = auditHeadSchema.safeParse(JSON.parse(text));
    if (!parsed.success) {
      throw new StationError(
        'audit.anchor_corrupt',
        `The audit head file ${this.file} is not a valid head record; it may have been edited.`,
      );
    }
    return parsed.data;
  }

  /** Moves the anchor forward to `head`; never backwards (another process may have written a later head). */
  async advance(head: AuditHead): Promise<void> {
    const current = await this.read().catch(() => undefined);
    if (current && current.seq >= head.seq) return;
    // Write-then-rename: a crash leaves the old head or the new one, never half a file.
    const temporary = `${this.file}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(temporary, `${JSON.stringify(head)}\n`, 'utf8');
      await rename(temporary, this.file);
    } catch (error) {
      throw new StationError(
        'audit.anchor_unwritable',
        `The change was saved, but the audit head file ${this.file} could not be updated: ${String(error)}.`,
        { userFault: false, cause: error },
      );
    }
  }
}
