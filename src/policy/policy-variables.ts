import type { AuthorizationContext } from '../api/policies.js';

/**
 * Values of policy variables and condition keys for one request (aws-iot-spec.md 4, Variables):
 * a string for single-valued keys, a list for multi-valued ones (`...List`, iot:ConnectAttributes,
 * iot:Certificate.AvailableKeys), undefined when the context cannot supply it.
 */
export type ContextValue = string | readonly string[] | undefined;

/** DG:cert-policy-variables: such values are not substituted, and authorization fails. */
const unsafeCertificateValue = /[*$+?#]/;
const certificateValueMaxLength = 1024;
/** DG:cert-policy-variables: multi-valued attributes are cut to five items. */
const certificateListMaxItems = 5;

/** `Subject.X`, `Issuer.X`, and the alternative names as DG:cert-policy-variables spells them. */
const certificateGroups = {
  Subject: 'subject',
  Issuer: 'issuer',
  'Subject.AlternativeName': 'subjectAlternativeName',
  'Issuer.AlternativeName': 'issuerAlternativeName',
} as const;

const thingPrefix = 'iot:connection.thing.';
const certificatePrefix = 'iot:certificate.';
const certificateVariable =
  /^(Subject|Issuer|Subject\.AlternativeName|Issuer\.AlternativeName)\.([A-Za-z0-9]+)(?:\.(List|[0-9]+))?$/i;
/** The attribute name is the thing's own, matched exactly. */
const thingAttributeVariable = /^Attributes\[(.+)\]$/i;

export function resolveContextKey(name: string, context: AuthorizationContext): ContextValue {
  // Key names are not case-sensitive (IAM: "aws:SourceIP is equivalent to AWS:SourceIp"); the attribute
  // and certificate field names inside them are matched as below.
  const key = name.toLowerCase();
  switch (key) {
    case 'iot:clientid':
      return context.clientId;
    case 'aws:sourceip':
      return context.sourceIp;
    case 'iot:domainname':
      return context.domainName;
    case 'iot:connectattributes':
      return context.connectAttributes;
    case 'iot:lastwilltopic':
      return context.lastWillTopic;
    case 'iot:certificate.serialnumber':
      return safeCertificateValues(context.certificate?.serialNumber)?.[0];
    case 'iot:certificate.availablekeys':
      return availableCertificateKeys(context);
  }
  if (key.startsWith(thingPrefix)) return resolveThingVariable(name.slice(thingPrefix.length), context);
  if (key.startsWith(certificatePrefix))
    return resolveCertificateVariable(name.slice(certificatePrefix.length), context);
  return undefined;
}

/**
 * Thing variables resolve only when the client ID names a thing attached to the certificate
 * (DG:thing-policy-variables); otherwise "the variable won't be resolved" and access is denied.
 */
function resolveThingVariable(field: string, context: AuthorizationContext): ContextValue {
  const { clientId, principalAttachedThings = [] } = context;
  const attached = clientId !== undefined && principalAttachedThings.includes(clientId);
  const fieldKey = field.toLowerCase();
  if (fieldKey === 'isattached') return attached ? 'true' : 'false';
  if (!attached) return undefined;
  if (fieldKey === 'thingname') return clientId;
  if (fieldKey === 'thingtypename') return context.thingTypeName;
  const attribute = thingAttributeVariable.exec(field)?.[1];
  const attributes = context.thingAttributes;
  if (attribute === undefined || attributes === undefined || !Object.hasOwn(attributes, attribute))
    return undefined;
  return attributes[attribute];
}

/**
 * `Subject.Organization` = the first value, `.List` = all of them, `.N` = the value after the first N:
 * DG:cert-policy-variables says "a one-based index" and gives `iot:Certificate.Subject.Country.1` as the
 * second country name; its example decides.
 */
function resolveCertificateVariable(path: string, context: AuthorizationContext): ContextValue {
  const match = certificateVariable.exec(path);
  if (match === null) return undefined;
  const [, groupName, fieldName, selector] = match as unknown as [string, string, string, string?];
  const group = (Object.keys(certificateGroups) as (keyof typeof certificateGroups)[]).find(
    (known) => known.toLowerCase() === groupName.toLowerCase(),
  )!;
  const fields = context.certificate?.[certificateGroups[group]];
  const field = Object.keys(fields ?? {}).find((known) => known.toLowerCase() === fieldName.toLowerCase());
  if (fields === undefined || field === undefined) return undefined;
  const values = safeCertificateValues(fields[field]);
  if (values === undefined) return undefined;
  if (selector?.toLowerCase() === 'list') return values;
  return values[selector === undefined ? 0 : Number(selector)];
}

/**
 * AWS IoT documents it as "the name of all certificate policy variables that contain values", named as after
 * `iot:Certificate.` (`Subject.CommonName`, `Subject.AlternativeName.DNSName`, `SerialNumber`). A value that
 * would not be substituted is not counted, so every listed name resolves.
 */
function availableCertificateKeys(context: AuthorizationContext): ContextValue {
  const certificate = context.certificate;
  if (certificate === undefined) return undefined;
  const names: string[] = [];
  for (const [group, property] of Object.entries(certificateGroups)) {
    for (const [field, raw] of Object.entries(certificate[property] ?? {})) {
      if (safeCertificateValues(raw) !== undefined) names.push(`${group}.${field}`);
    }
  }
  if (safeCertificateValues(certificate.serialNumber) !== undefined) names.push('SerialNumber');
  return names;
}

function safeCertificateValues(raw: string | readonly string[] | undefined): readonly string[] | undefined {
  if (raw === undefined) return undefined;
  const values = (typeof raw === 'string' ? [raw] : raw).slice(0, certificateListMaxItems);
  if (values.length === 0) return undefined;
  const unsafe = values.some(
    (value) => unsafeCertificateValue.test(value) || value.length > certificateValueMaxLength,
  );
  return unsafe ? undefined : values;
}
