import { StationError } from '../api/errors.js';
import type { JobSpec } from '../api/jobs.js';
import type { PipelineStep, ProvisioningEvent } from '../api/provisioning.js';
import type { Job } from '../registry/jobs.js';
import type { Station } from '../station.js';
import { loadTemplate } from '../templates/index.js';
import { defaultStepTimeouts, type JobRuntime } from './device-pipeline.js';

/**
 * Opens a work order (`station job create`): the template version and the CA are checked now, so a job
 * that cannot issue is refused before any device is plugged in.
 */
export async function createJob(station: Station, spec: JobSpec, actor: string): Promise<Job> {
  const template = await station.templates.require(spec.template.name, spec.template.version);
  loadTemplate(template.body); // stored bodies were validated, but the engine may have grown stricter
  const ca = await station.readOnlyPki().factoryCa.get(spec.ca);
  if (ca.external || ca.status !== 'ACTIVE') {
    throw new StationError(
      'provisioning.ca-unusable',
      `CA ${spec.ca} cannot sign (${ca.external ? 'the station does not hold its key' : ca.status.toLowerCase()}).`,
      { field: 'ca' },
    );
  }
  const caDaysLeft = Math.floor((Date.parse(ca.notAfter) - Date.now()) / 86_400_000);
  const validityDays = spec.validityDays ?? Math.min(3650, caDaysLeft - 1);
  if (validityDays >= caDaysLeft) {
    throw new StationError(
      'provisioning.validity-beyond-ca',
      `CA ${spec.ca} expires on ${ca.notAfter.slice(0, 10)}; certificates of this job may last at most ${caDaysLeft - 1} days.`,
      { field: 'validityDays' },
    );
  }
  if (spec.keyMode === 'existing' || spec.keyMode === 'claim') {
    throw new StationError(
      'provisioning.key-mode-unsupported',
      `Key mode ${spec.keyMode} is not available yet; use csr or inject.`,
      { field: 'keyMode' },
    );
  }
  return station.registry.transaction(actor, (tx) =>
    station.jobs.create(tx, { spec, templateVersion: template.version, caId: ca.id, validityDays }),
  );
}

export interface RuntimeOptions {
  actor: string;
  reprovision?: boolean;
  emit: (event: ProvisioningEvent) => void;
  operatorInput?: (port: string, prompt: string) => Promise<string>;
  timeouts?: Partial<Record<PipelineStep, number>>;
}

/** Everything the pipelines of an open job share: parsed template, signing CA, its chain for devices. */
export async function openJobRuntime(
  station: Station,
  jobId: number,
  options: RuntimeOptions,
): Promise<JobRuntime> {
  const job = await station.jobs.require(jobId);
  if (job.status !== 'active') {
    throw new StationError(
      'provisioning.job-closed',
      `Job ${job.id} (${job.label}) is ${job.status}; open a new job.`,
      {
        field: 'job',
      },
    );
  }
  const template = await station.templates.require(job.templateName, job.templateVersion);
  const pki = await station.pki();
  const ca = (await pki.factoryCa.list()).find((candidate) => candidate.id === job.caId);
  if (!ca)
    throw new StationError('registry.not_found', `The CA of job ${job.id} is no longer in the registry.`);
  await pki.factoryCa.signingCa(ca.name); // fails now, not on the first device, if the key is missing
  return {
    station,
    pki,
    job,
    template: loadTemplate(template.body),
    caName: ca.name,
    caChainPem: ca.pem,
    actor: options.actor,
    reprovision: options.reprovision ?? false,
    injectedKeys: new Map(),
    ...(options.operatorInput && { operatorInput: options.operatorInput }),
    timeouts: { ...defaultStepTimeouts, ...options.timeouts },
    emit: options.emit,
  };
}
