/**
 * AWS IoT limits on what a template creates (aws-iot-spec.md 1, from the API model). Each check returns
 * the problem as a sentence, or undefined when the value is fine. They run on literals at validation and
 * on every resolved value at evaluation.
 */
export type ValueCheck = (value: string) => string | undefined;

function nameCheck(what: string, pattern: RegExp, allowed: string, max: number): ValueCheck {
  return (value) => {
    if (value.length === 0) return `${what} must not be empty`;
    if (value.length > max) return `${what} is ${value.length} characters long (at most ${max})`;
    if (!pattern.test(value)) return `${what} "${clip(value)}" may contain only ${allowed}`;
    return undefined;
  };
}

const resourceNameCharacters = 'letters, digits, ":", "_" and "-"';

export const checkThingName = nameCheck('thing name', /^[a-zA-Z0-9:_-]+$/, resourceNameCharacters, 128);
export const checkThingTypeName = nameCheck(
  'thing type name',
  /^[a-zA-Z0-9:_-]+$/,
  resourceNameCharacters,
  128,
);
export const checkThingGroupName = nameCheck(
  'thing group name',
  /^[a-zA-Z0-9:_-]+$/,
  resourceNameCharacters,
  128,
);
export const checkBillingGroupName = nameCheck(
  'billing group name',
  /^[a-zA-Z0-9:_-]+$/,
  resourceNameCharacters,
  128,
);
export const checkPolicyName = nameCheck(
  'policy name',
  /^[\w+=,.@-]+$/,
  'letters, digits and "_+=,.@-"',
  128,
);
export const checkAttributeName = nameCheck(
  'attribute name',
  /^[a-zA-Z0-9_.,@/:#-]+$/,
  'letters, digits and "_.,@/:#-"',
  128,
);

export const checkAttributeValue: ValueCheck = (value) => {
  if (value.length > 800) return `attribute value is ${value.length} characters long (at most 800)`;
  if (!/^[a-zA-Z0-9_.,@/:#=[\]-]*$/.test(value)) {
    return `attribute value "${clip(value)}" may contain only letters, digits and "_.,@/:#=[]-"`;
  }
  return undefined;
};

/** AWS certificate ids are the 64 hex digits of a SHA-256 (API model: CertificateId). */
export const checkCertificateId: ValueCheck = (value) =>
  /^[0-9a-fA-F]{64}$/.test(value) ? undefined : `certificate id "${clip(value)}" is not 64 hex digits`;

export const checkNotEmpty =
  (what: string): ValueCheck =>
  (value) =>
    value.length === 0 ? `${what} must not be empty` : undefined;

/** Thing limits: 3 attributes without a thing type, 50 with one; 10 groups per thing (aws-iot-spec.md 1). */
export const maxAttributesWithoutType = 3;
export const maxAttributesWithType = 50;
export const maxThingGroups = 10;

/** Parameter dictionary limits (API model: RegisterThing parameters). */
export const maxParameterNameLength = 2048;
export const maxParameterValueLength = 4096;

/** Largest template body AWS accepts (API model: TemplateBody). */
export const maxTemplateBodyLength = 10_240;

function clip(value: string): string {
  return value.length > 40 ? `${value.slice(0, 40)}…` : value;
}

/** Status ACTIVE or INACTIVE; AWS's own samples write "Active", so case does not matter (aws-iot-spec.md 1). */
export function normaliseCertificateStatus(value: string): 'ACTIVE' | 'INACTIVE' | undefined {
  const upper = value.toUpperCase();
  return upper === 'ACTIVE' || upper === 'INACTIVE' ? upper : undefined;
}

export const checkCertificateStatus: ValueCheck = (value) =>
  normaliseCertificateStatus(value)
    ? undefined
    : `certificate Status "${clip(value)}" is not ACTIVE or INACTIVE`;
