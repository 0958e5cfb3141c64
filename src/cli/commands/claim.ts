import { invalidInput } from '../../api/errors.js';
import {
  claimCarriers,
  createClaimIdentity,
  type ClaimIdentity,
} from '../../provisioning/claim-identities.js';
import { ClaimTable } from '../../registry/claims.js';
import type { Station } from '../../station.js';
import { cliActor } from '../open-registry.js';
import { withStation } from '../open-station.js';
import { wholeNumber } from '../option-values.js';
import type { CommandModule } from '../program.js';

const claimHelp = `
A claim is one certificate and key that every device of a claim job receives, so that devices without
their own certificate can later ask AWS IoT for one (fleet provisioning by claim). The key lives in the key
store (extractable, as it is written to devices). If a claim leaks: station claim devices CLAIM lists the
devices carrying it, station cert revoke CERT_ID --reason keyCompromise retires it (claim jobs then refuse it).
e.g. station claim create --ca factory --name line-1-claim --template sensor-fleet
     station job create --label "line 1" --template sensor-fleet --key-mode claim --claim line-1-claim --quota 1`;

function identityView(identity: ClaimIdentity) {
  return {
    name: identity.claim.name,
    certificateId: identity.certificate.id,
    subject: identity.certificate.subject,
    notAfter: identity.certificate.notAfter,
    policy: identity.policyName,
    keyLabel: identity.claim.keyLabel,
    createdAt: identity.claim.createdAt,
  };
}

/** A claim by its name or its certificate id. */
export async function claimCertificateId(station: Station, nameOrId: string): Promise<string> {
  const claims = new ClaimTable(station.registry.reader);
  const claim = /^[0-9a-fA-F]{64}$/.test(nameOrId)
    ? await claims.byCertificateId(nameOrId.toLowerCase())
    : await claims.byName(nameOrId);
  if (!claim) throw invalidInput('claim', `no claim "${nameOrId}"; station claim list shows the claims.`);
  return claim.certificateId;
}

/** `station claim`: shared claim identities for fleet provisioning by claim (aws-iot-spec.md 3). */
export const claimCommands: CommandModule = {
  register(program, context) {
    const claim = program
      .command('claim')
      .description('claim certificates for fleet provisioning by claim: create, list, devices')
      .addHelpText('after', claimHelp);

    claim
      .command('create')
      .description('make a claim: key in the key store, certificate from the CA, claim policy attached')
      .requiredOption('--ca <name>', 'the CA that signs the claim certificate')
      .requiredOption('--name <name>', "the claim's name (its certificate's CN)")
      .option('--days <n>', 'validity in days', '365')
      .option('--template <name>', 'make and attach the claim policy for this fleet-provisioning template')
      .option('--policy <name>', 'attach this existing policy instead')
      .action(
        async (options: { ca: string; name: string; days: string; template?: string; policy?: string }) => {
          const cli = context();
          const days = wholeNumber('days', options.days, 1);
          const identity = await withStation(cli, (station) =>
            createClaimIdentity(
              station,
              {
                name: options.name,
                caName: options.ca,
                ...(days !== undefined && { days }),
                ...(options.template !== undefined && { templateName: options.template }),
                ...(options.policy !== undefined && { policyName: options.policy }),
              },
              cliActor(),
            ),
          );
          cli.print(
            identityView(identity),
            (view) =>
              `claim ${view.name} created: certificate ${view.certificateId}, policy ${view.policy}, until ${view.notAfter}`,
          );
        },
      );

    claim
      .command('list')
      .description('the claims and the status of their certificates')
      .action(async () => {
        const cli = context();
        const claims = await withStation(cli, async (station) => {
          const pki = station.readOnlyPki();
          const table = new ClaimTable(station.registry.reader);
          const rows = await table.list();
          return Promise.all(
            rows.map(async (row) => {
              const certificate = await pki.certificates.byId(row.certificateId);
              return {
                name: row.name,
                certificateId: row.certificateId,
                status: certificate?.status ?? 'UNKNOWN',
                notAfter: certificate?.notAfter ?? null,
                devices: (await table.carriers(row.certificateId)).length,
              };
            }),
          );
        });
        cli.print(claims, (list) =>
          list.length === 0
            ? 'no claims yet: station claim create --ca CA --name NAME --template TEMPLATE'
            : list
                .map((row) => `${row.name}\t${row.status}\t${row.devices} devices\t${row.certificateId}`)
                .join('\n'),
        );
      });

    claim
      .command('devices <claim>')
      .description('the devices carrying a claim (by claim name or certificate id), to trace a leak')
      .action(async (nameOrId: string) => {
        const cli = context();
        const carriers = await withStation(cli, async (station) =>
          claimCarriers(station, await claimCertificateId(station, nameOrId)),
        );
        cli.print(carriers, (list) =>
          list.length === 0
            ? 'no device carries this claim'
            : list
                .map(
                  (row) =>
                    `${row.driver}\t${row.deviceId}\tjob ${row.jobId}\trecord ${row.recordId} ${row.recordState}\t${row.recordedAt}`,
                )
                .join('\n'),
        );
      });
  },
};
