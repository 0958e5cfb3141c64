import type { ParameterSource } from '../api/jobs.js';
import { StationError } from '../api/errors.js';
import type { ResourcePlan } from '../api/templates.js';
import type { Station } from '../station.js';
import { fixedCertificateStatus, namedResources, type ParsedTemplate } from '../templates/index.js';
import { suppliedParameters } from './parameters.js';

/**
 * The thing type, billing group, thing groups and policies a template names must be in the registry (provisioning makes
 * none of them, as in AWS): without one, every new device would fail its registry transaction. Checked
 * when a job is created, and for each new identity before its device makes a key (one may have gone, or
 * been deprecated, since; re-verifications make no thing and go on). Names made from parameters that
 * differ per device are checked in the registry step.
 */
export async function refuseMissingResources(
  station: Station,
  template: ParsedTemplate,
  name: string,
  source: ParameterSource,
): Promise<void> {
  const named = namedResources(template, fixedParameters(template, source));
  const missing: string[] = [];
  if (named.thingType !== undefined) {
    const type = await station.registry.thingTypes.describe(named.thingType);
    if (!type) missing.push(`thing type ${named.thingType} (station thing-type create ${named.thingType})`);
    else if (type.deprecated) {
      missing.push(
        `thing type ${named.thingType} that takes new things (it is deprecated: station thing-type deprecate ${named.thingType} --undo)`,
      );
    }
  }
  if (
    named.billingGroup !== undefined &&
    !(await station.registry.billingGroups.describe(named.billingGroup))
  )
    missing.push(`billing group ${named.billingGroup} (station billing-group create ${named.billingGroup})`);
  for (const group of new Set(named.thingGroups)) {
    if (!(await station.registry.thingGroups.describe(group)))
      missing.push(`thing group ${group} (station thing-group create ${group})`);
  }
  for (const policy of new Set(named.policies)) {
    if (!(await station.policies.exists(policy)))
      missing.push(`policy ${policy} (station policy add ${policy} FILE)`);
  }
  if (missing.length === 0) return;
  throw new StationError(
    'provisioning.template-resource-missing',
    `Template ${name} needs what the registry lacks, and provisioning creates none of it: ${missing.join('; ')}.`,
    { field: 'template', details: { missing } },
  );
}

/**
 * The station issues (and registers) ACTIVE certificates only: one live certificate per device identity,
 * which a re-plug re-verifies, so it must be usable. A template whose certificate Status is INACTIVE for
 * every device of the job is refused when the job is created ...
 */
export function refuseInactiveStatus(template: ParsedTemplate, name: string, source: ParameterSource): void {
  if (fixedCertificateStatus(template, fixedParameters(template, source)) === 'INACTIVE')
    throw inactiveCertificate(name, 'for every device of this job');
}

/** ... and one whose Status comes from a device's own values, when that device is evaluated. */
export function refuseInactiveCertificate(plan: ResourcePlan, name: string): void {
  if (plan.certificate?.status === 'INACTIVE')
    throw inactiveCertificate(name, "with this device's parameters");
}

function inactiveCertificate(name: string, when: string): StationError {
  return new StationError(
    'template.certificate-inactive',
    `Template ${name} makes the certificate INACTIVE ${when}, but this station issues ACTIVE certificates only; set the certificate's Status to ACTIVE (or leave it out), or correct the value it is taken from.`,
    { field: 'template', subject: name },
  );
}

/** Parameters whose value is the same for every device of the job: its constants, the Defaults nothing overrides. */
function fixedParameters(template: ParsedTemplate, source: ParameterSource): Map<string, string> {
  const perDevice = suppliedParameters({ ...source, constants: {} });
  const fixed = new Map<string, string>();
  for (const [parameter, declaration] of template.parameters)
    if (declaration.default !== undefined && !perDevice.has(parameter))
      fixed.set(parameter, declaration.default);
  for (const [parameter, value] of Object.entries(source.constants))
    if (!perDevice.has(parameter)) fixed.set(parameter, value);
  return fixed;
}
