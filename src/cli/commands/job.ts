import { readFile } from 'node:fs/promises';
import { catalogueDriverNames, driverByName } from '../../../hardware/drivers/index.js';
import { invalidInput } from '../../api/errors.js';
import { identityFieldSchema, jobSpecSchema, type JobSpec } from '../../api/jobs.js';
import { BenchLock } from '../../provisioning/bench-lock.js';
import { parseParameterList } from '../../provisioning/parameters.js';
import { createJob } from '../../provisioning/job-runtime.js';
import type { Job } from '../../registry/jobs.js';
import type { ProvisioningRecord } from '../../registry/records.js';
import type { Station } from '../../station.js';
import { cliActor } from '../open-registry.js';
import { withStation } from '../open-station.js';
import { collect, parseAttributeOptions, wholeNumber } from '../option-values.js';
import type { CommandModule } from '../program.js';
import { claimCertificateId } from './claim.js';

interface CreateOptions {
  label: string;
  template: string;
  templateVersion?: string;
  ca?: string;
  keyMode: string;
  claim?: string;
  withoutCa?: boolean;
  requireProof?: boolean;
  quota: string;
  driver: string;
  days?: string;
  param?: string[];
  fromIdentity?: string[];
  sequence?: string;
  list?: string;
  listFormat?: string;
  match?: string;
  scan?: string;
}

/** Which identity fields each device family reports, from the drivers themselves. */
function identityHelp(): string {
  return catalogueDriverNames()
    .map((name) => `${' '.repeat(31)}${`${name}:`.padEnd(8)} ${driverByName(name).identityFields.join(', ')}`)
    .join('\n');
}

const parameterHelp = `
Parameters of each device's template dictionary, later sources winning:
  --param K=V                  the same value for every device
  --list FILE                  AWS bulk JSON lines (.jsonl) or CSV with a header (.csv), one row per device,
                               handed out in order, or with --match K=FIELD the row whose K equals the device's FIELD
  --from-identity K=FIELD      the device's own identity, by family (a job for one family may use only its fields):
${identityHelp()}
  --sequence K=PATTERN[@START] a counter, e.g. --sequence ThingName=SN-{000000}@1
  --scan "K=PROMPT"            a value the technician types or scans (barcode) for each device
e.g. station job create --label "line 1" --template sensor --ca factory --key-mode csr --quota 500 \\
       --sequence ThingName=SN-{000000} --from-identity SerialNumber=imei

Key modes:
  csr       the device makes its key and sends a CSR; --ca signs it (preferred)
  inject    the key store makes the key; --ca signs it; the key is written to the device, then destroyed
  existing  the device keeps the certificate it holds (e.g. from its secure element's maker): the station
            reads it back, checks it chains to --ca (a CA of the station, or one registered with
            station ca register), asks the device to sign a challenge where its driver can, and registers
            thing, certificate and policy; it writes nothing to the device.
            --without-ca instead of --ca registers certificates no CA vouches for (AWS
            RegisterCertificateWithoutCA); --require-proof refuses devices whose driver cannot sign.
  claim     every device gets the claim certificate and key of --claim (station claim create) for fleet
            provisioning by claim; no thing is made now (AWS makes it at RegisterThing).
The quota counts certificates the station signs: existing and claim jobs do not spend it.
A template whose certificate is {"CertificateSigningRequest": {"Ref": "CSR"}} (AWS bulk registration) gets the
CSR from the station: each device's own (csr), or one the injected key signs (inject). A template that names
the thing after its certificate (AWS::IoT::Certificate::CommonName, as JITP) goes with existing.`;

/** `station job`: work orders. */
export const jobCommands: CommandModule = {
  register(program, context) {
    const job = program
      .command('job')
      .description('work orders: what to provision, with which template, CA and keys');

    job
      .command('create')
      .description('open a work order')
      .requiredOption('--label <text>', 'what the line calls this order')
      .requiredOption('--template <name>', 'provisioning template (station template add)')
      .option('--template-version <n>', 'template version (default: its default version)')
      .option(
        '--ca <name>',
        'the CA that signs (csr, inject) or that device certificates chain to (existing)',
      )
      .requiredOption('--key-mode <mode>', 'csr, inject, existing or claim (see below)')
      .option('--claim <name|id>', 'claim mode: the claim every device receives (station claim list)')
      .option('--without-ca', 'existing mode: register certificates without a CA (names no --ca)')
      .option('--require-proof', 'existing mode: refuse devices that cannot prove they hold their key')
      .requiredOption('--quota <n>', 'most certificates this order may issue')
      .option('--driver <name>', 'device family, or auto (by USB ids)', 'auto')
      .option(
        '--days <n>',
        'certificate validity in days (default: 10 years, or until the day before the CA expires)',
      )
      .option('--param <K=V>', 'a fixed parameter (repeatable)', collect)
      .option('--from-identity <K=FIELD>', 'a parameter from the device identity (repeatable)', collect)
      .option('--sequence <K=PATTERN[@START]>', 'a numbered parameter')
      .option('--list <file>', 'a parameter list, one row per device')
      .option('--list-format <format>', 'jsonl or csv (default: from the file name)')
      .option('--match <K=FIELD>', "give each device the list row whose K equals the device's FIELD")
      .option('--scan <K=PROMPT>', 'a parameter the technician types or scans')
      .addHelpText('after', parameterHelp)
      .action(async (options: CreateOptions) => {
        const cli = context();
        const created = await withStation(cli, async (station) =>
          createJob(station, await jobSpecFrom(options, station), cliActor()),
        );
        cli.print(jobView(created), (view) => `job ${view.id} opened: ${view.label}`);
      });

    job
      .command('list')
      .description('work orders, newest last')
      .action(async () => {
        const cli = context();
        const jobs = await withStation(cli, (station) => station.jobs.list());
        cli.print(jobs.map(jobView), (views) =>
          views
            .map(
              (view) =>
                `${view.id}\t${view.status}\t${view.keyMode}\t${view.issuedCount}/${view.quota ?? '∞'}\t${view.label}`,
            )
            .join('\n'),
        );
      });

    job
      .command('describe <id>')
      .description('a work order and how its devices fared')
      .action(async (id: string) => {
        const cli = context();
        const result = await withStation(cli, async (station) => {
          const found = await station.jobs.require(jobId(id));
          return {
            ...jobView(found),
            records: await station.records.countByState(found.id),
            needingAttention: (await station.records.needingAttention(found.id)).map(attentionView),
            unidentifiedFailures: await station.records.unidentifiedFailures(found.id),
          };
        });
        cli.print(result, (view) =>
          [
            `job ${view.id}: ${view.label} (${view.status})`,
            `template ${view.template}, key mode ${view.keyMode}, driver ${view.driver}`,
            `certificates issued ${view.issuedCount} of ${view.quota ?? 'unlimited'}`,
            `records: ${
              Object.entries(view.records)
                .map(([state, n]) => `${state} ${n}`)
                .join(', ') || 'none'
            }`,
            ...(view.needingAttention.length > 0
              ? [
                  `devices whose last attempt did not finish (${view.needingAttention.length}):`,
                  ...view.needingAttention.map(
                    (entry) =>
                      `  record ${entry.recordId} ${entry.driver} ${entry.deviceId}: ${entry.error ?? `${entry.state} at ${entry.step ?? 'start'} on ${entry.port}`}`,
                  ),
                ]
              : []),
            ...(view.unidentifiedFailures > 0
              ? [`attempts that failed before the device identified itself: ${view.unidentifiedFailures}`]
              : []),
          ].join('\n'),
        );
      });

    job
      .command('close <id>')
      .description('close a work order: it issues nothing more')
      .action(async (id: string) => {
        const cli = context();
        const { closed, unfinished } = await withStation(cli, async (station) => {
          const job = await station.registry.transaction(cliActor(), (tx) =>
            station.jobs.close(tx, jobId(id)),
          );
          return { closed: job, unfinished: await station.records.unfinishedIdentities(job.id) };
        });
        // A bench still running may finish them any moment: looked up without taking its lock, which would
        // turn away a bench starting at that instant.
        const benchPid = unfinished.length > 0 ? await BenchLock.holder(cli.dataDir) : undefined;
        const plural = unfinished.length !== 1;
        // Identities issued before the close stay ACTIVE until their device has them: the job's bench
        // still opens to finish them (and only them), rather than strand them (job-runtime.ts).
        cli.print(
          {
            ...jobView(closed),
            unfinished: unfinished.map((record) => ({
              ...attentionView(record),
              certificateId: record.certificateId,
            })),
            benchRunning: benchPid !== undefined,
          },
          (view) =>
            [
              `job ${view.id} closed after ${view.issuedCount} certificate${view.issuedCount === 1 ? '' : 's'}`,
              ...(unfinished.length > 0
                ? [
                    benchPid !== undefined
                      ? `${unfinished.length} ${plural ? 'identities are' : 'identity is'} issued and not yet finished on ${plural ? 'their devices' : 'its device'}; a bench (pid ${benchPid}) is running on this data folder and, if it is this job's, may still finish ${plural ? 'them' : 'it'}: look again with 'station job describe ${view.id}' once it stops, before revoking any:`
                      : `${unfinished.length} ${plural ? 'identities were' : 'identity was'} issued but never finished on ${plural ? 'their devices' : 'its device'}: plug ${plural ? 'them' : 'it'} in on 'station provision --job ${view.id}', which still finishes them and issues nothing new, or revoke ${plural ? 'them' : 'it'} (station cert revoke ID --reason cessationOfOperation):`,
                    ...unfinished.map(
                      (record) =>
                        `  record ${record.id} ${record.driver ?? '?'} ${record.deviceId ?? '?'} ${record.thingName ?? ''} certificate ${record.certificateId ?? '?'}`,
                    ),
                  ]
                : []),
            ].join('\n'),
        );
      });
  },
};

export function jobId(text: string): number {
  // A number past 2^53 would be read as a neighbour: "no job 100000000000000000000" for 99999999999999999999.
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw invalidInput('job', `"${text}" is not a job number.`);
  }
  return Number(text);
}

function attentionView(record: ProvisioningRecord) {
  return {
    recordId: record.id,
    port: record.port,
    driver: record.driver,
    deviceId: record.deviceId,
    thingName: record.thingName,
    state: record.state,
    step: record.stepReached,
    error: record.errorMessage,
  };
}

function jobView(job: Job) {
  return {
    id: job.id,
    label: job.label,
    status: job.status,
    template: `${job.templateName}:${job.templateVersion}`,
    keyMode: job.keyMode,
    driver: job.driver,
    caId: job.caId,
    ...(job.claimCertificateId && { claimCertificateId: job.claimCertificateId }),
    ...(job.keyOptions.existing && { existing: job.keyOptions.existing }),
    quota: job.quota,
    issuedCount: job.issuedCount,
    validityDays: job.validityDays,
    createdBy: job.createdBy,
    createdAt: job.createdAt,
  };
}

async function jobSpecFrom(options: CreateOptions, station: Station): Promise<JobSpec> {
  const identity = parseAttributeOptions(options.fromIdentity, 'from-identity');
  const parameters: Record<string, unknown> = {
    constants: parseAttributeOptions(options.param, 'param'),
    identity,
  };
  if (options.sequence) {
    const [parameter, rest] = splitPair(options.sequence, 'sequence');
    const [pattern, start] = rest.split('@');
    parameters.sequence = { parameter, pattern, start: wholeNumber('sequence', start, 0) ?? 1 };
  }
  if (options.list) parameters.list = await listSource(options);
  if (options.scan) {
    const [parameter, prompt] = splitPair(options.scan, 'scan');
    parameters.operator = { parameter, prompt };
  }
  // Said before the claim is looked up: "no claim x" would hide that --claim does not belong here.
  if (options.claim !== undefined && options.keyMode !== 'claim') {
    throw invalidInput('claim', `--claim goes with --key-mode claim, not ${options.keyMode}.`);
  }
  const parsed = jobSpecSchema.safeParse({
    label: options.label,
    template: {
      name: options.template,
      ...(options.templateVersion !== undefined && {
        version: wholeNumber('template-version', options.templateVersion, 1),
      }),
    },
    parameters,
    driver: options.driver,
    ...(options.ca !== undefined && { ca: options.ca }),
    keyMode: options.keyMode,
    ...(options.claim !== undefined && {
      claimCertificateId: await claimCertificateId(station, options.claim),
    }),
    ...((options.withoutCa || options.requireProof) && {
      existing: {
        allowWithoutCa: options.withoutCa ?? false,
        requireProofOfPossession: options.requireProof ?? false,
      },
    }),
    quota: wholeNumber('quota', options.quota, 1),
    ...(options.days !== undefined && { validityDays: wholeNumber('days', options.days, 1) }),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw invalidInput(issue.path.join('.') || 'job', issue.message);
  }
  return parsed.data;
}

async function listSource(options: CreateOptions): Promise<Record<string, unknown>> {
  const file = options.list!;
  const format = options.listFormat ?? (file.toLowerCase().endsWith('.csv') ? 'csv' : 'jsonl');
  if (format !== 'csv' && format !== 'jsonl') throw invalidInput('list-format', 'choose jsonl or csv.');
  const text = await readFile(file, 'utf8').catch(() => {
    throw invalidInput('list', `cannot read ${file}.`);
  });
  const { rows, errors } = parseParameterList(text, format);
  if (errors.length > 0) {
    throw invalidInput(
      'list',
      `${file} line ${errors[0]!.line}: ${errors[0]!.message} (${errors.length} bad lines).`,
    );
  }
  if (!options.match) return { rows, assign: 'in-order' };
  const [matchParameter, field] = splitPair(options.match, 'match');
  const matchIdentity = identityFieldSchema.safeParse(field);
  if (!matchIdentity.success) throw invalidInput('match', `"${field}" is not a device identity field.`);
  return { rows, assign: 'match', matchParameter, matchIdentity: matchIdentity.data };
}

function splitPair(text: string, field: string): [string, string] {
  const split = text.indexOf('=');
  if (split <= 0) throw invalidInput(field, `"${text}" is not NAME=VALUE.`);
  return [text.slice(0, split), text.slice(split + 1)];
}
