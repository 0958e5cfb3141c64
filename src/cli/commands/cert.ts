import { invalidInput, StationError } from '../../api/errors.js';
import { parseRevocationReason } from '../../pki/revocation.js';
import type { VerificationResult } from '../../pki/verification.js';
import {
  certificateStatuses,
  type CertificateRecord,
  type CertificateStatus,
} from '../../registry/certificates.js';
import { cliActor } from '../open-registry.js';
import { certificateIdArgument, collect, wholeNumber } from '../option-values.js';
import type { CommandModule } from '../program.js';
import { readInputFile, withPki, writeOutputFile } from './ca.js';

/** What `cert list` prints under --json: a page, and where the next one starts when there is one. */
interface CertificatePage {
  readonly certificates: CertificateRecord[];
  readonly nextAfter?: string;
}

const describeText = (certificate: CertificateRecord): string =>
  [
    `id:         ${certificate.id}`,
    `subject:    ${certificate.subject}`,
    `status:     ${certificate.status}${certificate.revocationReason ? ` (${certificate.revocationReason}, ${certificate.revokedAt})` : ''}`,
    `key origin: ${certificate.keyOrigin}`,
    `serial:     ${certificate.serialHex}`,
    `valid:      ${certificate.notBefore} to ${certificate.notAfter}`,
    `ca id:      ${certificate.caId ?? '-'}`,
    `created:    ${certificate.createdAt}`,
  ].join('\n');

const verifyText = (result: VerificationResult): string =>
  [
    `${result.valid ? 'VALID' : 'NOT VALID'}: ${result.subject} (${result.certificateId})`,
    ...result.checks.map((check) => `  ${check.ok ? 'ok  ' : 'FAIL'} ${check.check}: ${check.detail}`),
  ].join('\n');

export const certCommands: CommandModule = {
  register(program, context) {
    const cert = program
      .command('cert')
      .description('device certificates: issue, list, describe, revoke, verify');

    cert
      .command('issue')
      .description('issue a certificate for a device CSR; prints the certificate id')
      .requiredOption('--csr <file>', 'the CSR (PEM or DER)')
      .requiredOption('--ca <name>', 'the signing CA')
      .option('--days <n>', 'validity in days', '365')
      .option('--cn <thing>', 'the thing name the CSR must carry as CN (default: take the CSR CN)')
      .option('--dns <name>', 'subjectAltName dNSName (repeatable)', collect)
      .option('--out <file>', 'write the certificate PEM here')
      .action(
        async (options: {
          csr: string;
          ca: string;
          days: string;
          cn?: string;
          dns?: string[];
          out?: string;
        }) => {
          const cli = context();
          const csr = await readInputFile(options.csr, 'csr');
          const days = wholeNumber('days', options.days, 1);
          const issued = await withPki(cli, true, (pki) =>
            pki.issuer.issueFromCsr(
              csr,
              {
                caName: options.ca,
                ...(days !== undefined && { days }),
                ...(options.cn !== undefined && { commonName: options.cn }),
                ...(options.dns && { subjectAltNames: { dns: options.dns } }),
              },
              cliActor(),
            ),
          );
          if (options.out) await writeOutputFile(options.out, issued.certificate.pem);
          cli.print(issued.certificate, (certificate) => certificate.id);
        },
      );

    cert
      .command('describe')
      .description('show one certificate (with its PEM under --json)')
      .argument('<id>')
      .action(async (id: string) => {
        const cli = context();
        const certificateId = certificateIdArgument(id);
        const record = await withPki(cli, false, (pki) => pki.certificates.byId(certificateId));
        if (!record) {
          throw new StationError(
            'pki.certificate-not-found',
            `No certificate with id ${certificateId} in the registry.`,
            {
              subject: certificateId,
            },
          );
        }
        cli.print(record, describeText);
      });

    cert
      .command('list')
      .description('list certificates (with their PEM under --json)')
      .option('--ca <name>', 'only those of this CA')
      .option('--status <status>', `only this status: ${certificateStatuses.join(', ')}`)
      .option('--limit <n>', 'at most this many', '100')
      .option('--after <id>', 'the page after this certificate id')
      .action(async (options: { ca?: string; status?: string; limit: string; after?: string }) => {
        const cli = context();
        const status = options.status?.toUpperCase();
        if (status !== undefined && !certificateStatuses.includes(status as CertificateStatus)) {
          throw invalidInput('status', `use one of ${certificateStatuses.join(', ')}.`);
        }
        const limit = wholeNumber('limit', options.limit, 1) ?? 100;
        const records = await withPki(cli, false, async (pki) => {
          const caId = options.ca === undefined ? undefined : (await pki.factoryCa.get(options.ca)).id;
          // One more than asked: whether another page exists, for the hint below.
          return pki.certificates.list({
            limit: limit + 1,
            ...(caId !== undefined && { caId }),
            ...(status !== undefined && { status: status as CertificateStatus }),
            ...(options.after !== undefined && { afterId: certificateIdArgument(options.after, 'after') }),
          });
        });
        const certificates = records.slice(0, limit);
        // nextAfter only when another page exists, as thing list gives nextToken: a script loops while it is there.
        const page: CertificatePage = {
          certificates,
          ...(records.length > limit && { nextAfter: certificates.at(-1)!.id }),
        };
        cli.print(page, ({ certificates: list, nextAfter }) =>
          list.length === 0
            ? 'no certificates'
            : [
                ...list.map((entry) => `${entry.id}\t${entry.status}\t${entry.keyOrigin}\t${entry.subject}`),
                ...(nextAfter !== undefined ? [`more: --after ${nextAfter}`] : []),
              ].join('\n'),
        );
      });

    cert
      .command('revoke')
      .description('mark a certificate REVOKED (then publish: station ca crl)')
      .argument('<id>')
      .requiredOption('--reason <reason>', 'keyCompromise, superseded, cessationOfOperation, ...')
      .action(async (id: string, options: { reason: string }) => {
        const cli = context();
        const reason = parseRevocationReason(options.reason);
        const certificateId = certificateIdArgument(id);
        const record = await withPki(cli, false, (pki) =>
          pki.revocation.revoke(certificateId, reason, cliActor()),
        );
        cli.print(record, (certificate) => `revoked ${certificate.id} (${certificate.revocationReason})`);
      });

    cert
      .command('verify')
      .description('check a certificate: chain to a station CA, validity, registry status')
      .argument(
        '<file>',
        'the certificate (PEM or DER), in PEM optionally followed by the intermediates above it',
      )
      .action(async (file: string) => {
        const cli = context();
        const content = await readInputFile(file);
        const result = await withPki(cli, false, (pki) => pki.verifier.verify(content));
        if (!result.valid) {
          if (!cli.json) process.stdout.write(`${verifyText(result)}\n`);
          const failed = result.checks.find((check) => !check.ok)!;
          throw new StationError(
            'pki.verification-failed',
            `The certificate is not valid: ${failed.check}: ${failed.detail}.`,
            {
              subject: result.certificateId,
              details: { result },
            },
          );
        }
        cli.print(result, verifyText);
      });
  },
};
