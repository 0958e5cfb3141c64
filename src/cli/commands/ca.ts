import { constants } from 'node:fs';
import { access, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { invalidInput } from '../../api/errors.js';
import { requireSettings } from '../../config/settings.js';
import { keyAlgorithms, type KeyAlgorithm, type KeyStore } from '../../keys/key-store.js';
import { openKeyStore } from '../../keys/open-key-store.js';
import { describePublicKey } from '../../pki/algorithms.js';
import { certificatesInPem } from '../../pki/ca-records.js';
import { subjectText } from '../../pki/certificate-reader.js';
import { formatName, parseSubject, type SubjectName } from '../../pki/names.js';
import { Pki } from '../../pki/pki.js';
import type { CaCertificateRecord } from '../../registry/certificates.js';
import type { CliContext } from '../context.js';
import { cliActor, withRegistry } from '../open-registry.js';
import { secretPrompts } from '../open-station.js';
import { collect, wholeNumber } from '../option-values.js';
import type { CommandModule, ContextFactory } from '../program.js';

/**
 * Opens the registry and, when signing is needed, the key store the data folder's settings choose (PIN from
 * STATION_HSM_PIN, soft-store passphrase from STATION_SOFT_PASSPHRASE), then runs `work` and closes both.
 */
export async function withPki<T>(
  cli: CliContext,
  needsKeys: boolean,
  work: (pki: Pki) => Promise<T>,
): Promise<T> {
  const settings = await requireSettings(cli.dataDir);
  let keyStore: KeyStore | undefined;
  if (needsKeys) {
    keyStore = await openKeyStore(settings.keyStore, { dataDir: cli.dataDir, ...secretPrompts() });
    if (!keyStore.isHardware) {
      process.stderr.write(`warning: keys are in ${keyStore.description}; use an HSM for production CAs.\n`);
    }
  }
  try {
    return await withRegistry(cli, (registry) => work(new Pki(registry, keyStore)));
  } finally {
    await keyStore?.close();
  }
}

export async function readInputFile(file: string, field = 'file'): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw invalidInput(
      field,
      `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)}).`,
    );
  }
}

export async function writeOutputFile(file: string, content: string | Uint8Array): Promise<void> {
  try {
    await writeFile(file, content);
  } catch (error) {
    throw invalidInput(
      'out',
      `cannot write ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)}).`,
    );
  }
}

/** Whether `file` can be written, without writing it: its folder exists and takes files, and it is no folder. */
async function checkWritable(file: string): Promise<void> {
  const refuse = (why: string) => invalidInput('out', `cannot write ${file} (${why}).`);
  await access(path.dirname(path.resolve(file)), constants.W_OK).catch((error: NodeJS.ErrnoException) => {
    throw refuse(error.code ?? String(error));
  });
  const existing = await stat(file).catch(() => undefined);
  if (existing?.isDirectory()) throw refuse('it is a folder');
}

const kebab = (option: string): string => option.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);

function keyAlgorithm(text: string | undefined): KeyAlgorithm | undefined {
  if (text === undefined) return undefined;
  const match = keyAlgorithms.find((algorithm) => algorithm.toLowerCase() === text.toLowerCase());
  if (!match) throw invalidInput('algorithm', `use one of ${keyAlgorithms.join(', ')}, not "${text}".`);
  return match;
}

function subjectOption(text: string | undefined): SubjectName | undefined {
  if (text === undefined) return undefined;
  try {
    return parseSubject(text);
  } catch (error) {
    throw invalidInput('subject', `${error instanceof Error ? error.message : String(error)}.`);
  }
}

/** What `ca list` and `ca describe` show; the PEM is in the JSON form only. */
function caSummary(record: CaCertificateRecord) {
  const chain = certificatesInPem(record.pem, 'ca');
  const certificate = chain[0]!;
  const key = describePublicKey(certificate.spki);
  return {
    name: record.name,
    id: record.id,
    status: record.status,
    external: record.external,
    subject: record.subject,
    issuer: formatName(certificate.issuer),
    keyAlgorithm: key.kind === 'other' ? key.algorithmOid : (key.algorithm ?? key.kind),
    ...(certificate.pathLength !== undefined && { pathLength: certificate.pathLength }),
    serialHex: record.serialHex,
    notBefore: record.notBefore,
    notAfter: record.notAfter,
    ...(record.keyLabel !== undefined && { keyLabel: record.keyLabel }),
    chain: chain.map((entry) => subjectText(entry)),
    createdAt: record.createdAt,
    pem: record.pem,
  };
}

const describeText = (ca: ReturnType<typeof caSummary>): string =>
  [
    `name:        ${ca.name}`,
    `id:          ${ca.id}`,
    `status:      ${ca.status}${ca.external ? ' (external: the station holds no key)' : ''}`,
    `subject:     ${ca.subject}`,
    `issuer:      ${ca.issuer}`,
    `key:         ${ca.keyAlgorithm}${ca.keyLabel ? ` (key store label ${ca.keyLabel})` : ''}`,
    `path length: ${ca.pathLength ?? 'no limit'}`,
    `serial:      ${ca.serialHex}`,
    `valid:       ${ca.notBefore} to ${ca.notAfter}`,
    `chain:       ${ca.chain.join(' <- ')}`,
  ].join('\n');

export const caCommands: CommandModule = {
  register(program, context) {
    const ca = program.command('ca').description('factory CAs: create, import, register, list, export, CRL');
    registerCreate(ca, context);
    registerImportChain(ca, context);
    registerRegister(ca, context);
    ca.command('list')
      .description('list the CAs (with their PEM under --json)')
      .action(async () => {
        const cli = context();
        const cas = await withPki(cli, false, async (pki) => (await pki.factoryCa.list()).map(caSummary));
        cli.print(cas, (list) =>
          list.length === 0
            ? 'no CAs yet: station ca create --name NAME'
            : list
                .map(
                  (entry) =>
                    `${entry.name}\t${entry.status}${entry.external ? ' external' : ''}\t${entry.subject}\tuntil ${entry.notAfter}`,
                )
                .join('\n'),
        );
      });
    ca.command('describe')
      .description('show one CA (with its PEM under --json)')
      .argument('<name>')
      .action(async (name: string) => {
        const cli = context();
        const summary = await withPki(cli, false, async (pki) => caSummary(await pki.factoryCa.get(name)));
        cli.print(summary, describeText);
      });
    ca.command('export')
      .description('print the CA certificate PEM (ready to register with a cloud)')
      .argument('<name>')
      .option('--chain', 'the CA certificate followed by its issuers')
      .action(async (name: string, options: { chain?: boolean }) => {
        const cli = context();
        const record = await withPki(cli, false, (pki) => pki.factoryCa.get(name));
        const blocks =
          record.pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g) ?? [];
        const pem = options.chain ? blocks.join('') : (blocks[0] ?? '');
        cli.print({ name, pem }, (result) => result.pem);
      });
    ca.command('disable')
      .description('stop a CA from signing (its certificates stay valid)')
      .argument('<name>')
      .action(async (name: string) => {
        const cli = context();
        const record = await withPki(cli, false, (pki) => pki.factoryCa.disable(name, cliActor()));
        cli.print(caSummary(record), (ca) => `CA ${ca.name} disabled`);
      });
    ca.command('discard-key')
      .description(
        'destroy the key of a CA no registry row records (an intermediate whose chain will not come, an interrupted ca create)',
      )
      .argument('<name>')
      .action(async (name: string) => {
        const cli = context();
        await withPki(cli, true, (pki) => pki.factoryCa.discardUnrecordedKey(name, cliActor()));
        cli.print({ name, discarded: true }, () => `the key of CA ${name} is destroyed; the name is free`);
      });
    registerCrl(ca, context);
  },
};

function registerCreate(ca: Command, context: ContextFactory): void {
  ca.command('create')
    .description('create a root CA, or with --intermediate the key and CSR of an intermediate')
    .requiredOption('--name <name>', 'the CA name (letters, digits, . _ -)')
    .option('--subject <dn>', 'subject, e.g. "CN=Acme Factory CA, O=Acme, C=DE" (default CN=<name>)')
    .option('--algorithm <alg>', `key algorithm: ${keyAlgorithms.join(', ')}`, 'EC-P256')
    .option('--days <n>', 'validity of a root CA in days (default 3650)')
    .option('--path-length <n>', 'BasicConstraints path length (default: no limit)')
    .option('--permitted-dns <domain>', 'name constraint: permitted DNS subtree (repeatable)', collect)
    .option('--intermediate', 'make the key and a CSR for a parent CA to sign (then: ca import-chain)')
    .option('--out <file>', 'where to write the intermediate CSR (default: print it)')
    .action(
      async (options: {
        name: string;
        subject?: string;
        algorithm: string;
        days: string;
        pathLength?: string;
        permittedDns?: string[];
        intermediate?: boolean;
        out?: string;
      }) => {
        const cli = context();
        const algorithm = keyAlgorithm(options.algorithm);
        const subject = subjectOption(options.subject);
        if (options.intermediate) {
          // The parent CA sets these when it signs the CSR; taking them here would promise what it may not do.
          const parentsChoice = (['days', 'pathLength', 'permittedDns'] as const).filter(
            (option) => options[option] !== undefined,
          );
          if (parentsChoice.length > 0) {
            throw invalidInput(
              parentsChoice[0]!,
              `--${parentsChoice.map(kebab).join(', --')}: the CA that signs the intermediate's CSR sets ${parentsChoice.length > 1 ? 'them' : 'it'}, not ca create --intermediate.`,
            );
          }
          const out = options.out;
          // Checked before the key exists: a CSR that cannot be written would leave a key no row records.
          if (out !== undefined) await checkWritable(out);
          const csr = await withPki(cli, true, async (pki) => {
            const request = await pki.factoryCa.createIntermediateCsr({
              name: options.name,
              ...(subject && { subject }),
              ...(algorithm && { algorithm }),
            });
            if (out !== undefined) {
              await writeOutputFile(out, request).catch(async (error: unknown) => {
                await pki.factoryCa.discardUnrecordedKey(options.name, cliActor()).catch(() => undefined);
                throw error;
              });
            }
            return request;
          });
          cli.print({ name: options.name, csr, ...(out && { csrFile: out }) }, (result) =>
            result.csrFile
              ? `CSR of intermediate CA ${result.name} written to ${result.csrFile}; have it signed, then: station ca import-chain --name ${result.name} FILE`
              : result.csr,
          );
          return;
        }
        if (options.out !== undefined) {
          throw invalidInput('out', 'a root CA has no CSR to write; --out goes with --intermediate.');
        }
        const pathLength = wholeNumber('path-length', options.pathLength, 0);
        const days = wholeNumber('days', options.days ?? '3650', 1);
        const record = await withPki(cli, true, (pki) =>
          pki.factoryCa.createRoot(
            {
              name: options.name,
              ...(subject && { subject }),
              ...(algorithm && { algorithm }),
              ...(days !== undefined && { days }),
              ...(pathLength !== undefined && { pathLength }),
              ...(options.permittedDns && { permittedDns: options.permittedDns }),
            },
            cliActor(),
          ),
        );
        cli.print(
          caSummary(record),
          (summary) => `created root CA ${summary.name} (${summary.subject}), id ${summary.id}`,
        );
      },
    );
}

function registerImportChain(ca: Command, context: ContextFactory): void {
  ca.command('import-chain')
    .description('install the signed certificate (and issuers) of an intermediate made with --intermediate')
    .requiredOption('--name <name>', 'the intermediate CA name')
    .argument('<file>', 'PEM: the intermediate certificate, then its issuers')
    .action(async (file: string, options: { name: string }) => {
      const cli = context();
      const pem = (await readInputFile(file)).toString('utf8');
      const record = await withPki(cli, true, (pki) =>
        pki.factoryCa.importChain(options.name, pem, cliActor()),
      );
      cli.print(
        caSummary(record),
        (summary) => `installed intermediate CA ${summary.name}: ${summary.chain.join(' <- ')}`,
      );
    });
}

function registerRegister(ca: Command, context: ContextFactory): void {
  ca.command('register')
    .description('register an external CA certificate (the station holds no key: verification only)')
    .requiredOption('--name <name>', 'a name for the CA')
    .argument('<file>', 'PEM: the CA certificate (then its issuers, optionally)')
    .action(async (file: string, options: { name: string }) => {
      const cli = context();
      const pem = (await readInputFile(file)).toString('utf8');
      const record = await withPki(cli, false, (pki) =>
        pki.factoryCa.registerExternal(options.name, pem, cliActor()),
      );
      cli.print(
        caSummary(record),
        (summary) => `registered external CA ${summary.name} (${summary.subject})`,
      );
    });
}

function registerCrl(ca: Command, context: ContextFactory): void {
  ca.command('crl')
    .description("write the CA's certificate revocation list (PEM), signed through the key store")
    .requiredOption('--name <name>', 'the CA')
    .requiredOption('--out <file>', 'where to write the CRL')
    .option('--days <n>', 'days until nextUpdate', '7')
    .action(async (options: { name: string; out: string; days: string }) => {
      const cli = context();
      const days = wholeNumber('days', options.days, 1) ?? 7;
      const crl = await withPki(cli, true, (pki) => pki.revocation.crl(options.name, days));
      await writeOutputFile(options.out, crl.pem);
      cli.print(
        {
          ca: options.name,
          file: options.out,
          number: crl.number,
          revoked: crl.revoked,
          thisUpdate: crl.thisUpdate.toISOString(),
          nextUpdate: crl.nextUpdate.toISOString(),
        },
        (result) =>
          `CRL of ${result.ca} (${result.revoked} revoked, next update ${result.nextUpdate}) written to ${result.file}`,
      );
    });
}
