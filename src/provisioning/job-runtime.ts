import { X509Certificate } from 'node:crypto';
import { driverByName } from '../../hardware/drivers/index.js';
import { StationError } from '../api/errors.js';
import type { JobSpec } from '../api/jobs.js';
import { keyModes, type KeyMode, type PipelineStep, type ProvisioningEvent } from '../api/provisioning.js';
import { toPem } from '../pki/pem.js';
import type { CaCertificateRecord } from '../registry/certificates.js';
import type { Job } from '../registry/jobs.js';
import type { Station } from '../station.js';
import {
  certificateRequestParameter,
  evaluateTemplate,
  formatIssue,
  isBuiltInParameter,
  loadTemplate,
  referencedParameters,
} from '../templates/index.js';
import type { ParsedTemplate } from '../templates/template-model.js';
import { refuseClaimPolicyMismatch, refuseNonFleetTemplate, usableClaim } from './claim-identities.js';
import {
  defaultStepTimeouts,
  pendingCertificateId,
  stationRequestParameter,
  type ClaimCredentials,
  type JobRuntime,
  type OperatorInput,
} from './device-pipeline.js';
import { suppliedParameters } from './parameters.js';
import { refuseInactiveStatus, refuseMissingResources } from './template-resources.js';

/**
 * Opens a work order (`station job create`): the template version and the CA (or claim) are checked now,
 * so a job that cannot provision is refused before any device is plugged in.
 */
export async function createJob(station: Station, spec: JobSpec, actor: string): Promise<Job> {
  const template = await station.templates.require(spec.template.name, spec.template.version);
  // Stored bodies were validated, but the engine may have grown stricter.
  const parsed = loadTemplate(template.body, { undeclaredParameters: template.undeclaredParameters });
  // A claim job's devices send their own parameters when they register (fleet provisioning).
  refuseUnservedKeyMode(spec);
  if (spec.keyMode !== 'claim') {
    refuseUnknownParameters(parsed, template.name, spec);
    refuseUnsuppliedParameters(parsed, template.name, spec);
    refuseUnusableRows(parsed, template.name, spec);
    refuseUnreportedIdentity(spec);
    await refuseMissingResources(station, parsed, template.name, spec.parameters);
    refuseInactiveStatus(parsed, template.name, spec.parameters);
  }
  const pki = station.readOnlyPki();
  let ca: CaCertificateRecord | undefined;
  let validityDays = spec.validityDays ?? 3650;
  if (spec.keyMode === 'csr' || spec.keyMode === 'inject') {
    ca = await pki.factoryCa.get(spec.ca!);
    validityDays = signingValidity(ca, spec);
  } else if (spec.keyMode === 'existing') {
    if (spec.ca !== undefined) {
      ca = await pki.factoryCa.get(spec.ca);
      if (ca.status !== 'ACTIVE') {
        throw new StationError(
          'provisioning.ca-unusable',
          `CA ${ca.name} is disabled; certificates it issued are not accepted.`,
          { field: 'ca' },
        );
      }
    }
  } else {
    refuseNonFleetTemplate(template);
    const claim = await usableClaim(station, pki, spec.claimCertificateId!, station.registry.reader);
    refuseClaimPolicyMismatch(
      claim.claim,
      await station.policies.forCertificate(claim.certificate.id),
      template.name,
    );
    ca = claim.ca;
    if (spec.ca !== undefined && spec.ca !== ca.name) {
      throw new StationError(
        'provisioning.claim-ca-mismatch',
        `The claim certificate was issued by CA ${ca.name}, not ${spec.ca}; leave --ca out or name ${ca.name}.`,
        { field: 'ca' },
      );
    }
    validityDays = daysLeft(claim.certificate.notAfter);
  }
  return station.registry.transaction(actor, (tx) =>
    station.jobs.create(tx, {
      spec,
      templateVersion: template.version,
      caId: ca?.id ?? null,
      validityDays,
    }),
  );
}

/**
 * A value the job gives for a parameter the template does not take is a misspelt name (SerialNumer): the
 * template would quietly use its Default, or fail every device. Refused, naming where the value comes
 * from and the parameters there are. A template validated with undeclared Refs allowed
 * (--undeclared-from-params) also takes the names it reads undeclared. The list column a job matches
 * devices on may be there for matching alone.
 */
function refuseUnknownParameters(template: ParsedTemplate, name: string, spec: JobSpec): void {
  const { constants, identity, sequence, operator, list } = spec.parameters;
  const sources: [string, string][] = [
    ...Object.keys(constants).map((parameter): [string, string] => [parameter, 'a --param value']),
    ...Object.keys(identity).map((parameter): [string, string] => [parameter, 'a --from-identity mapping']),
    ...(sequence ? [[sequence.parameter, 'the --sequence'] as [string, string]] : []),
    ...(operator ? [[operator.parameter, 'the --scan value'] as [string, string]] : []),
    ...[...new Set((list?.rows ?? []).flatMap((row) => Object.keys(row)))]
      .filter((column) => column !== list?.matchParameter)
      .map((column): [string, string] => [column, 'a --list column']),
  ];
  const taken = new Set([...template.parameters.keys(), ...referencedParameters(template)]);
  const unknown = sources.filter(([parameter]) => !taken.has(parameter) && !isBuiltInParameter(parameter));
  if (unknown.length === 0) return;
  const known = [...taken].filter((parameter) => !isBuiltInParameter(parameter));
  throw new StationError(
    'provisioning.parameter-unknown',
    `Template ${name} takes no ${unknown.map(([parameter, source]) => `parameter ${parameter} (${source})`).join(', ')}; ${known.length > 0 ? `its parameters are ${known.join(', ')}` : 'it takes no parameters'}. Correct the name, or leave it out.`,
    { field: 'parameters', details: { parameters: unknown.map(([parameter]) => parameter) } },
  );
}

/**
 * A parameter the template needs (declared without a Default) that no source of the job supplies would
 * fail every device at template evaluation, so the job is refused. Found by evaluating with a placeholder
 * for every parameter, then leaving out one unsupplied parameter at a time: a template may declare one it
 * does not use. When the placeholders themselves do not satisfy the template, the devices' values decide.
 * The parameter a certificate takes its CSR from is the station's to fill in csr and inject jobs.
 */
function refuseUnsuppliedParameters(template: ParsedTemplate, name: string, spec: JobSpec): void {
  const supplied = suppliedParameters(spec.parameters);
  const stationFilled = stationRequestParameter(template, spec.keyMode);
  if (stationFilled !== undefined) {
    if (supplied.has(stationFilled)) {
      throw new StationError(
        'provisioning.parameter-station-filled',
        `Template ${name} takes the certificate's CSR from parameter ${stationFilled}, which a ${spec.keyMode} job fills with ${spec.keyMode === 'csr' ? "each device's own CSR" : 'a CSR of the key the station makes'}; leave ${stationFilled} out of the job's parameters.`,
        { field: 'parameters', details: { parameter: stationFilled } },
      );
    }
    supplied.add(stationFilled);
  }
  const unsupplied = [...template.parameters]
    .filter(([parameter, declaration]) => declaration.default === undefined && !supplied.has(parameter))
    .map(([parameter]) => parameter);
  if (unsupplied.length === 0) return;
  const evaluates = (names: string[]) =>
    evaluateTemplate(template, {
      parameters: Object.fromEntries(names.map((parameter) => [parameter, 'job-check'])),
      certificate: { id: pendingCertificateId, subject: {} },
    }).ok;
  const all = [...supplied, ...unsupplied];
  if (!evaluates(all)) {
    refuseCertificateFacts(template, name, spec, all);
    return;
  }
  const needed = unsupplied.filter((parameter) => !evaluates(all.filter((other) => other !== parameter)));
  if (needed.length === 0) return;
  const request = certificateRequestParameter(template);
  if (request !== undefined && needed.includes(request)) {
    throw new StationError(
      'provisioning.parameter-unsupplied',
      `Template ${name} makes the certificate from a CSR (parameter ${request}), but a job with --key-mode existing registers the certificate each device already holds, with no CSR; use a template whose certificate is {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}}, as JITP templates have it.`,
      { field: 'parameters', details: { parameters: [request] } },
    );
  }
  const list = needed.join(', ');
  throw new StationError(
    'provisioning.parameter-unsupplied',
    `Template ${name} needs ${needed.length === 1 ? 'parameter' : 'parameters'} ${list} (no Default), and this job gives no value: add --param, --from-identity, --sequence, a --list column or --scan for ${needed.length === 1 ? 'it' : 'each'}.`,
    { field: 'parameters', details: { parameters: needed } },
  );
}

/** How many unusable list rows a refusal names; the rest are counted. */
const rowsNamed = 5;

/**
 * A list row the template cannot be evaluated with (a column missing or empty, a value AWS refuses), or a
 * second row naming the same thing, would fail its device on every plug: the row goes with the device.
 * Each row is evaluated with its own values and placeholders for the other sources, once the placeholders
 * alone satisfy the template (otherwise the devices' values decide, as for missing parameters).
 */
function refuseUnusableRows(template: ParsedTemplate, name: string, spec: JobSpec): void {
  const rows = spec.parameters.list?.rows;
  if (!rows?.length) return;
  // The sources after the list (identity, sequence, technician) and the station's CSR win over a row's
  // values; they stand in as placeholders. The rest of a device's values come from its row alone.
  const { identity, sequence, operator } = spec.parameters;
  const request = stationRequestParameter(template, spec.keyMode);
  const later = [
    ...Object.keys(identity),
    ...(sequence ? [sequence.parameter] : []),
    ...(operator ? [operator.parameter] : []),
    ...(request !== undefined ? [request] : []),
  ];
  const placeholders = Object.fromEntries(later.map((parameter) => [parameter, 'job-check']));
  const evaluate = (row: Record<string, string>) =>
    evaluateTemplate(template, {
      parameters: { ...spec.parameters.constants, ...row, ...placeholders },
      certificate: { id: pendingCertificateId, subject: {} },
    });
  const columns = new Set(rows.flatMap((row) => Object.keys(row)));
  if (!evaluate(Object.fromEntries([...columns].map((column) => [column, 'job-check']))).ok) return;
  const problems: string[] = [];
  const thingRows = new Map<string, number>();
  rows.forEach((row, index) => {
    const outcome = evaluate(row);
    if (!outcome.ok) {
      problems.push(`row ${index + 1}: ${formatIssue(outcome.errors[0]!)}`);
      return;
    }
    const thing = outcome.value.thing?.thingName;
    if (thing === undefined || thing.includes('job-check')) return;
    const first = thingRows.get(thing);
    if (first === undefined) thingRows.set(thing, index + 1);
    else problems.push(`rows ${first} and ${index + 1} both make thing ${thing}`);
  });
  if (problems.length === 0) return;
  const more = problems.length > rowsNamed ? `; and ${problems.length - rowsNamed} more` : '';
  throw new StationError(
    'provisioning.list-rows-unusable',
    `The parameter list has rows template ${name} cannot provision a device with: ${problems.slice(0, rowsNamed).join('; ')}${more}. Fix them and create the job again.`,
    { field: 'parameters.list', details: { problems } },
  );
}

/**
 * A csr or inject job evaluates the template before it issues the certificate, which it then names after
 * the thing: a template that takes the thing's name or other values from the certificate (JITP's
 * AWS::IoT::Certificate::CommonName) can never be evaluated there, and every device would fail. Such a
 * template belongs to a job whose devices bring their certificate (--key-mode existing).
 */
function refuseCertificateFacts(template: ParsedTemplate, name: string, spec: JobSpec, parameters: string[]) {
  if (spec.keyMode !== 'csr' && spec.keyMode !== 'inject') return;
  const dictionary = Object.fromEntries(parameters.map((parameter) => [parameter, 'job-check']));
  const before = evaluateTemplate(template, {
    parameters: dictionary,
    certificate: { id: pendingCertificateId, subject: {} },
  });
  const subject = Object.fromEntries(subjectFields.map((field) => [field, 'job-check']));
  const after = evaluateTemplate(template, {
    parameters: dictionary,
    certificate: { id: pendingCertificateId, subject },
  });
  if (before.ok || !after.ok) return; // other faults: the devices' values decide
  const facts = new Set(
    before.errors.flatMap((issue) => /AWS::IoT::Certificate::\w+/.exec(issue.message)?.[0] ?? []),
  );
  throw new StationError(
    'provisioning.template-needs-certificate',
    `Template ${name} takes ${[...facts].join(', ')} from the device's certificate, as JITP templates do, but a ${spec.keyMode} job issues the certificate after the template has named the thing; use it with --key-mode existing (devices that bring their certificate), or take these values from parameters instead.`,
    { field: 'template', details: { facts: [...facts] } },
  );
}

const subjectFields = [
  'commonName',
  'country',
  'organization',
  'organizationalUnit',
  'distinguishedNameQualifier',
  'stateName',
  'serialNumber',
] as const;

/**
 * A job for a device family that cannot serve its key mode would fail every device (a Quectel module
 * asked for a CSR cannot make a key), so it is refused, saying which mode the family can serve. Families
 * whose devices each state their capabilities (jsonl) and driver auto are checked per device.
 */
function refuseUnservedKeyMode(spec: JobSpec): void {
  if (spec.driver === 'auto') return;
  const can = driverByName(spec.driver).familyCapabilities;
  if (!can) return;
  // Why the family cannot serve each key mode; nothing where it can.
  const unserved: Record<KeyMode, string | undefined> = {
    csr: can.keyGeneration ? undefined : 'cannot make their own key',
    inject: can.keyInjection ? undefined : 'accept no private key',
    existing:
      can.readBack === 'full'
        ? undefined
        : 'return only a digest of a stored certificate, so the one they hold cannot be registered',
    claim: can.keyInjection ? undefined : 'accept no private key',
  };
  const refusal = (why: string, instead: string) =>
    new StationError('provisioning.key-mode-unserved', `${spec.driver} devices ${why}; ${instead}.`, {
      field: 'keyMode',
      details: { driver: spec.driver, keyMode: spec.keyMode },
    });
  const why = unserved[spec.keyMode];
  if (why) {
    const served = keyModes.filter((mode) => unserved[mode] === undefined);
    throw refusal(
      why,
      spec.keyMode === 'csr' && served.includes('inject')
        ? 'use --key-mode inject (the station makes the key and writes it)'
        : `this family serves --key-mode ${served.join(', ')}`,
    );
  }
  if (spec.keyMode === 'existing' && spec.existing?.requireProofOfPossession && !can.proofOfPossession)
    throw refusal('cannot sign a challenge', 'leave out --require-proof');
}

/**
 * A job for one device family that takes a parameter from an identity field the family never reports
 * (an ESP32's IMEI) would fail every device at parameter lookup, so it is refused. With driver auto the
 * family is only known per device; the lookup says then which field the device lacked.
 */
function refuseUnreportedIdentity(spec: JobSpec): void {
  if (spec.driver === 'auto') return;
  const { identityFields } = driverByName(spec.driver);
  const { identity, list } = spec.parameters;
  const uses = Object.entries(identity).map(([parameter, field]) => ({
    option: `--from-identity ${parameter}=${field}`,
    field,
  }));
  if (list?.matchIdentity !== undefined)
    uses.push({ option: `--match ${list.matchParameter}=${list.matchIdentity}`, field: list.matchIdentity });
  const unreported = uses.filter(({ field }) => !identityFields.includes(field));
  if (unreported.length === 0) return;
  const fields = [...new Set(unreported.map(({ field }) => field))].join(', ');
  throw new StationError(
    'provisioning.identity-field-unreported',
    `${spec.driver} devices report no ${fields} (${unreported.map(({ option }) => option).join(', ')}); they report ${identityFields.join(', ')}.`,
    { field: 'parameters', details: { driver: spec.driver, fields: unreported.map(({ field }) => field) } },
  );
}

const daysLeft = (notAfter: string): number =>
  Math.max(1, Math.floor((Date.parse(notAfter) - Date.now()) / 86_400_000));

/** Validity of the certificates a signing job issues: bounded by its CA's. */
function signingValidity(ca: CaCertificateRecord, spec: JobSpec): number {
  if (ca.external || ca.status !== 'ACTIVE') {
    throw new StationError(
      'provisioning.ca-unusable',
      `CA ${ca.name} cannot sign (${ca.external ? 'the station does not hold its key' : ca.status.toLowerCase()}).`,
      { field: 'ca' },
    );
  }
  const caDaysLeft = Math.floor((Date.parse(ca.notAfter) - Date.now()) / 86_400_000);
  const validityDays = spec.validityDays ?? Math.min(3650, caDaysLeft - 1);
  if (validityDays >= caDaysLeft) {
    throw new StationError(
      'provisioning.validity-beyond-ca',
      `CA ${ca.name} expires on ${ca.notAfter.slice(0, 10)}; certificates of this job may last at most ${caDaysLeft - 1} days.`,
      { field: 'validityDays' },
    );
  }
  return validityDays;
}

export interface RuntimeOptions {
  actor: string;
  reprovision?: boolean;
  emit: (event: ProvisioningEvent) => void;
  operatorInput?: OperatorInput;
  timeouts?: Partial<Record<PipelineStep, number>>;
}

/**
 * Everything the pipelines of an open job share: parsed template, the CA (signing for csr and inject, a
 * trust anchor for existing), and for a claim job the claim's certificate and key (exported from the key
 * store once, held in memory only).
 */
export async function openJobRuntime(
  station: Station,
  jobId: number,
  options: RuntimeOptions,
): Promise<JobRuntime> {
  const job = await station.jobs.require(jobId);
  // A closed job issues nothing more, but the identities it issued before it closed (a device unplugged
  // mid-write, a station that stopped) would otherwise stay ACTIVE on no device: its bench still opens
  // while it has some, and only finishes them (the pipeline refuses new identities at identify; an
  // injected key lost meanwhile gets its certificate revoked, not replaced).
  if (job.status !== 'active' && (await station.records.unfinishedIdentities(job.id)).length === 0) {
    throw new StationError(
      'provisioning.job-closed',
      `Job ${job.id} (${job.label}) is ${job.status}; open a new job.`,
      {
        field: 'job',
      },
    );
  }
  const template = await station.templates.require(job.templateName, job.templateVersion);
  const parsed = loadTemplate(template.body, { undeclaredParameters: template.undeclaredParameters });
  const pki = await station.pki();
  const ca = job.caId ? await pki.factoryCa.cas.byId(job.caId) : undefined;
  if (job.caId && !ca)
    throw new StationError('registry.not_found', `The CA of job ${job.id} is no longer in the registry.`);
  if (job.keyMode === 'csr' || job.keyMode === 'inject') {
    await pki.factoryCa.signingCa(ca!.name); // fails now, not on the first device, if the key is missing
  }
  let claim: ClaimCredentials | undefined;
  if (job.keyMode === 'claim') {
    const usable = await usableClaim(station, pki, job.claimCertificateId!, station.registry.reader);
    const publicKey = new X509Certificate(usable.certificate.pem).publicKey;
    const keyPkcs8 = await pki.issuer.exportClaimKey(
      usable.claim.keyId,
      publicKey.export({ format: 'der', type: 'spki' }),
    );
    claim = {
      certificateId: usable.certificate.id,
      name: usable.claim.name,
      certificatePem: usable.certificate.pem,
      keyPem: Buffer.from(toPem('PRIVATE KEY', keyPkcs8)),
    };
    Buffer.from(keyPkcs8.buffer, keyPkcs8.byteOffset, keyPkcs8.byteLength).fill(0);
  }
  return {
    station,
    pki,
    job,
    template: parsed,
    ...(ca && { ca }),
    ...(claim && { claim }),
    actor: options.actor,
    reprovision: options.reprovision ?? false,
    injectedKeys: new Map(),
    ...(options.operatorInput && { operatorInput: options.operatorInput }),
    timeouts: { ...defaultStepTimeouts, ...options.timeouts },
    emit: options.emit,
  };
}
