import { StationError } from '../../api/errors.js';
import { anchorBreaks, type AuditEntry, type AuditVerification } from '../../registry/audit.js';
import { cliActor, withRegistry } from '../open-registry.js';
import { wholeNumber } from '../option-values.js';
import type { CommandModule } from '../program.js';

interface ListOptions {
  subject?: string;
  action?: string;
  after?: string;
  limit?: string;
}

/** `station audit list|verify|re-anchor`: who did what, and whether anyone rewrote the record of it. */
export const auditCommands: CommandModule = {
  register(program, context) {
    const audit = program.command('audit').description('the hash-chained audit log');

    audit
      .command('list')
      .description('show audit rows (the newest, or those after --after)')
      .option(
        '--subject <subject>',
        'only rows about this thing, certificate, policy, ... (jobs and records are numbered apart: add --action job.* or record.*)',
      )
      .option('--action <action>', 'only this action, e.g. thing.create, or an area: record.*')
      .option('--after <seq>', 'rows after this sequence number, oldest first')
      .option('--limit <n>', 'at most this many rows (default 50)')
      .action(async (options: ListOptions) => {
        const cli = context();
        const entries = await withRegistry(cli, (registry) =>
          registry.audit.list({
            subject: options.subject,
            action: options.action,
            afterSeq: wholeNumber('after', options.after, 0),
            limit: wholeNumber('limit', options.limit, 1),
          }),
        );
        cli.print(entries, formatEntries);
      });

    audit
      .command('verify')
      .description('check the hash chain; exits 1 naming the first broken row')
      .action(async () => {
        const cli = context();
        const result = await withRegistry(cli, (registry) => registry.audit.verify());
        if (result.firstBroken) {
          const settle = anchorBreaks.has(result.firstBroken.reason)
            ? " Once the cause is known (a restored backup, a lost file), 'station audit re-anchor' records the break in the log and anchors it afresh."
            : '';
          throw new StationError(
            'audit.chain_broken',
            `audit log broken at row ${result.firstBroken.seq}: ${result.firstBroken.message}${settle}`,
            {
              subject: String(result.firstBroken.seq),
              details: { ...result },
            },
          );
        }
        cli.print(result, formatVerification);
      });

    audit
      .command('re-anchor')
      .description(
        'when only the audit head file disagrees with an intact chain: record that in the log and anchor its head afresh',
      )
      .action(async () => {
        const cli = context();
        const result = await withRegistry(cli, (registry) => registry.reanchor(cliActor()));
        cli.print(result, (verified) => `re-anchored; ${formatVerification(verified)}`);
      });
  },
};

function formatEntries(entries: AuditEntry[]): string {
  if (entries.length === 0) return 'no audit rows';
  return entries
    .map(
      (entry) =>
        `${entry.seq}  ${entry.at}  ${entry.actor}  ${entry.action}  ${entry.subject}  ${JSON.stringify(entry.details)}`,
    )
    .join('\n');
}

function formatVerification(result: AuditVerification): string {
  const anchor = result.anchor ? `; head file at row ${result.anchor.seq}` : '';
  return `audit log intact: ${result.rows} rows, head ${result.head.seq} ${result.head.hash.slice(0, 16)}${anchor}`;
}
