import path from 'node:path';
import { StationError } from '../api/errors.js';
import { lockHolder, ProcessLock } from '../config/process-lock.js';
import type { KeyHandle } from '../keys/key-store.js';
import { claimKeyLabel } from '../pki/issuance.js';
import { evaluateAuthorization, validatePolicyDocument, type NamedPolicy } from '../policy/index.js';
import type { Pki } from '../pki/pki.js';
import {
  certificateUpload,
  type CaCertificateRecord,
  type CertificateRecord,
} from '../registry/certificates.js';
import { ClaimTable, type Claim, type ClaimCarrier } from '../registry/claims.js';
import type { SqlReader } from '../registry/database.js';
import type { StoredPolicy } from '../registry/policies.js';
import type { TemplateDescription } from '../registry/templates.js';
import type { Station } from '../station.js';
import { loadTemplate, templateTypeIssues } from '../templates/index.js';

export interface CreateClaimOptions {
  /** The claim's name: its certificate's CN and its key's label (claim:NAME). */
  name: string;
  caName: string;
  days?: number;
  /** Attach this existing policy to the claim certificate ... */
  policyName?: string;
  /** ... or the standard claim policy for this fleet-provisioning template (aws-iot-spec.md 3). */
  templateName?: string;
}

export interface ClaimIdentity {
  claim: Claim;
  certificate: CertificateRecord;
  policyName: string;
}

const claimNamePattern = /^[A-Za-z0-9._-]{1,64}$/;
/** A create takes a moment; one that waits longer than this for another is told to retry. */
const claimLockWaitMs = 10_000;

/**
 * The claim policy of aws-iot-spec.md 3 (P15) for one template: connect, then only the certificate and
 * RegisterThing topics. `create/*` does not cover `create-from-csr/*` (derived), so both are allowed:
 * devices may ask AWS for a key or send a CSR. Region and account are wildcards: the station does not know
 * which account the claim will be registered in.
 */
export function claimPolicyDocument(templateName: string): Record<string, unknown> {
  const topics = (kind: 'topic' | 'topicfilter') => [
    `arn:aws:iot:*:*:${kind}/$aws/certificates/create/*`,
    `arn:aws:iot:*:*:${kind}/$aws/certificates/create-from-csr/*`,
    `arn:aws:iot:*:*:${kind}/$aws/provisioning-templates/${templateName}/provision/*`,
  ];
  return {
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: ['iot:Connect'], Resource: '*' },
      { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: topics('topic') },
      { Effect: 'Allow', Action: 'iot:Subscribe', Resource: topics('topicfilter') },
    ],
  };
}

export const claimPolicyName = (templateName: string): string => `claim-${templateName}`;

/**
 * `station claim create`: a claim key in the key store (purpose 'claim'), its certificate signed by the
 * CA (key_origin 'claim'), and its policy attached, recorded in one transaction with the outbox rows a
 * later upload needs. If the transaction fails the key is destroyed, so no orphan key stays behind.
 */
export async function createClaimIdentity(
  station: Station,
  options: CreateClaimOptions,
  actor: string,
): Promise<ClaimIdentity> {
  if (!claimNamePattern.test(options.name)) {
    throw new StationError(
      'input.invalid',
      'name: a claim name is 1-64 letters, digits, dots, dashes or underscores.',
      {
        field: 'name',
      },
    );
  }
  if ((options.policyName === undefined) === (options.templateName === undefined)) {
    throw new StationError(
      'input.invalid',
      'policy: name either the policy to attach (--policy) or the fleet template whose claim policy to make (--template).',
      { field: 'policy' },
    );
  }
  const claims = new ClaimTable(station.registry.reader);
  const taken = async (): Promise<void> => {
    if (!(await claims.byName(options.name))) return;
    throw new StationError(
      'registry.conflict',
      `A claim named '${options.name}' exists; choose another name.`,
      {
        field: 'name',
        subject: options.name,
      },
    );
  };
  await taken();
  if (options.templateName !== undefined)
    refuseNonFleetTemplate(await station.templates.require(options.templateName));
  else await station.policies.require(options.policyName!);

  // Opened first: a PIN prompt or a key store that fails must not keep the lock below.
  const pki = await station.pki();
  const keyStore = await station.keyStore();
  // Creates take turns through a lock of their own, not the registry's write lock: a slow token must not
  // hold up a bench in another process, which waits for that one. While this lock is held, a key under the
  // claim's label that no claim records can only be one a create left when it died between making the key
  // and recording the claim (a crash, a power loss), never one another create is making now.
  const lockFile = path.join(station.dataDir, 'claim-create.lock');
  const lock = await ProcessLock.take(lockFile, claimLockWaitMs);
  if (lock === 'busy') {
    const owner = await lockHolder(lockFile);
    throw new StationError(
      'registry.busy',
      `Another claim create${owner === undefined ? '' : ` (pid ${owner})`} is running on this data folder; retry once it is done.`,
    );
  }
  let key: KeyHandle | undefined;
  try {
    await taken(); // again, now that creates of this name have taken their turns
    // It belongs to nothing, and would block the name for good.
    const orphan = await keyStore.findKey({ label: claimKeyLabel(options.name) });
    if (orphan) await keyStore.destroyKey(orphan);
    const made = await pki.issuer.prepareClaim({
      caName: options.caName,
      commonName: options.name,
      ...(options.days !== undefined && { days: options.days }),
    });
    key = made.key;
    return await station.registry.transaction(actor, async (tx) => {
      const certificate = await pki.certificates.insert(tx, made.prepared.record);
      // Queued for upload before the policy attached to it (PolicyRegistry queues the attachment).
      tx.queueUploads([certificateUpload(certificate)]);
      const claim = await claims.insert(tx, {
        certificateId: certificate.id,
        name: options.name,
        keyLabel: claimKeyLabel(options.name),
        keyId: made.key.id,
      });
      let policyName = options.policyName;
      if (options.templateName !== undefined) {
        policyName = claimPolicyName(options.templateName);
        if (!(await station.policies.describe(policyName, tx))) {
          const document = JSON.stringify(claimPolicyDocument(options.templateName));
          await station.policies.create(tx, policyName, document);
        }
      }
      await station.policies.attach(tx, policyName!, certificate.id);
      return { claim, certificate, policyName: policyName! };
    });
  } catch (error) {
    if (key) await keyStore.destroyKey(key).catch(() => undefined);
    throw error;
  } finally {
    lock.release();
  }
}

/** `station claim devices`: the devices that carry (or may carry, if their write failed) the claim. */
export async function claimCarriers(station: Station, certificateId: string): Promise<ClaimCarrier[]> {
  const claims = new ClaimTable(station.registry.reader);
  if (!(await claims.byCertificateId(certificateId))) {
    throw new StationError('registry.not_found', `Certificate ${certificateId} is not a claim certificate.`, {
      subject: certificateId,
    });
  }
  return claims.carriers(certificateId);
}

/**
 * A claim a job may write: a claim certificate, ACTIVE (a revoked claim is refused: it leaked or was
 * retired), within its validity, with a policy attached and its CA in the registry.
 */
export async function usableClaim(
  station: Station,
  pki: Pki,
  certificateId: string,
  reader: SqlReader,
): Promise<{ claim: Claim; certificate: CertificateRecord; ca: CaCertificateRecord }> {
  const claim = await new ClaimTable(station.registry.reader).byCertificateId(certificateId, reader);
  const certificate = await pki.certificates.byId(certificateId, reader);
  if (!claim || !certificate || certificate.keyOrigin !== 'claim') {
    throw new StationError(
      'provisioning.claim-not-found',
      `Certificate ${certificateId} is not a claim certificate; 'station claim list' shows the claims.`,
      { field: 'claimCertificateId', subject: certificateId },
    );
  }
  if (certificate.status !== 'ACTIVE') {
    throw new StationError(
      'provisioning.claim-revoked',
      `Claim ${claim.name} is ${certificate.status.toLowerCase()}${certificate.revocationReason ? ` (${certificate.revocationReason})` : ''}; devices get no revoked claim: make a new one (station claim create).`,
      { field: 'claimCertificateId', subject: certificateId },
    );
  }
  if (Date.parse(certificate.notAfter) <= Date.now()) {
    throw new StationError(
      'provisioning.claim-expired',
      `Claim ${claim.name} expired on ${certificate.notAfter.slice(0, 10)}; make a new one (station claim create).`,
      { field: 'claimCertificateId', subject: certificateId },
    );
  }
  if ((await station.policies.forCertificate(certificateId, reader)).length === 0) {
    throw new StationError(
      'provisioning.claim-without-policy',
      `Claim ${claim.name} has no policy attached, so a device could not use it; attach its claim policy (station policy attach).`,
      { field: 'claimCertificateId', subject: certificateId },
    );
  }
  const ca = certificate.caId ? await pki.factoryCa.cas.byId(certificate.caId, reader) : undefined;
  if (!ca) {
    throw new StationError(
      'registry.not_found',
      `The CA of claim ${claim.name} is no longer in the registry.`,
    );
  }
  return { claim, certificate, ca };
}

/**
 * A device holding a claim registers with RegisterThing, which only a FLEET_PROVISIONING template serves,
 * and which registers the certificate AWS (or the device's CSR) gave it by id: "only certificate IDs can
 * be used with a fleet provisioning template" (aws-iot-spec.md 1, 3): neither to make the certificate nor
 * to read its other fields. A JITP or bulk-registration template would leave every device of a claim job
 * unable to register.
 */
export function refuseNonFleetTemplate(template: TemplateDescription): void {
  const refuse = (why: string) => {
    throw new StationError(
      'provisioning.template-not-fleet',
      `Template ${template.name} ${why}; devices holding a claim register through RegisterThing with a FLEET_PROVISIONING template whose certificate is {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}}.`,
      { field: 'template', subject: template.name },
    );
  };
  if (template.templateType !== 'FLEET_PROVISIONING') refuse(`is a ${template.templateType} template`);
  const parsed = loadTemplate(template.body, { undeclaredParameters: template.undeclaredParameters });
  const certificates = parsed.resources.filter((resource) => resource.type === 'AWS::IoT::Certificate');
  if (certificates.length === 0) refuse('has no certificate resource');
  for (const { source } of certificates) {
    if (source.kind === 'csr') refuse('makes its certificate from a CSR (bulk registration)');
    if (source.kind === 'pem') refuse('registers a certificate given as PEM');
  }
  const [fault, ...more] = templateTypeIssues(parsed, 'FLEET_PROVISIONING');
  if (fault) {
    refuse(`${fault.message} (${fault.path}${more.length > 0 ? `, and ${more.length} more` : ''})`);
  }
}

/** Where no policy names a region and account, the request is made for these (any matches `*`). */
const placeholderAccount = { partition: 'aws', region: 'us-east-1', account: '123456789012' };

/**
 * The claim's policies must let a device publish RegisterThing for the job's template
 * ($aws/provisioning-templates/NAME/provision/json or cbor), or it can never register. Checked with the
 * policy engine for each partition, region and account the policies name (the station does not know
 * which account the claim goes to); a policy that needs values only a connection has is given the
 * benefit of the doubt.
 */
export function refuseClaimPolicyMismatch(
  claim: Claim,
  policies: readonly StoredPolicy[],
  templateName: string,
): void {
  const named: NamedPolicy[] = [];
  for (const policy of policies) {
    const validated = validatePolicyDocument(policy.document);
    if (validated.ok) named.push({ name: policy.name, document: validated.document });
  }
  const accounts = new Map([[JSON.stringify(placeholderAccount), placeholderAccount]]);
  for (const policy of policies) {
    // A region or account left open (`*`, a variable) takes the placeholder's.
    for (const match of policy.document.matchAll(/arn:(aws[a-z-]*):iot:([^:"]*):([^:"]*):/g)) {
      const account = {
        partition: match[1]!,
        region: /^[a-z0-9-]+$/.test(match[2]!) ? match[2]! : placeholderAccount.region,
        account: /^\d{12}$/.test(match[3]!) ? match[3]! : placeholderAccount.account,
      };
      accounts.set(JSON.stringify(account), account);
    }
  }
  for (const { partition, region, account } of accounts.values()) {
    for (const format of ['json', 'cbor']) {
      const result = evaluateAuthorization(
        {
          action: 'iot:Publish',
          resource: `arn:${partition}:iot:${region}:${account}:topic/$aws/provisioning-templates/${templateName}/provision/${format}`,
        },
        {},
        named,
      );
      if (result.decision === 'ALLOWED' || result.missingContextValues.length > 0) return;
    }
  }
  throw new StationError(
    'provisioning.claim-template-mismatch',
    `Claim ${claim.name}'s ${policies.length === 1 ? `policy ${policies[0]!.name} does` : `policies (${policies.map((policy) => policy.name).join(', ')}) do`} not let a device publish to $aws/provisioning-templates/${templateName}/provision/json, so no device of this job could register with template ${templateName}; make a claim for it (station claim create --template ${templateName}).`,
    { field: 'claimCertificateId', subject: claim.name },
  );
}
