import { z } from 'zod';

/**
 * Provisioning templates (AWS IoT format, aws-iot-spec.md 1): the faults a template can have and the
 * ResourcePlan an evaluation produces. The plan is what the pipeline applies to the registry and what a
 * later upload replays (aws-iot-spec.md 9), so it keeps logical names and OverrideSettings.
 */

/** One fault in a template or its evaluation, with the JSON path of the node at fault. */
export const templateIssueSchema = z.object({
  path: z.string(),
  message: z.string(),
});
export type TemplateIssue = z.infer<typeof templateIssueSchema>;

export const overrideActions = ['DO_NOTHING', 'REPLACE', 'FAIL', 'MERGE'] as const;
export const overrideActionSchema = z.enum(overrideActions);
export type OverrideAction = z.infer<typeof overrideActionSchema>;

export const certificateStatuses = ['ACTIVE', 'INACTIVE'] as const;
export const templateCertificateStatusSchema = z.enum(certificateStatuses);

/** The built-in parameters a certificate fills in JITP and fleet provisioning (aws-iot-spec.md 1). */
export const certificateParameterNames = [
  'AWS::IoT::Certificate::Id',
  'AWS::IoT::Certificate::CommonName',
  'AWS::IoT::Certificate::Country',
  'AWS::IoT::Certificate::Organization',
  'AWS::IoT::Certificate::OrganizationalUnit',
  'AWS::IoT::Certificate::DistinguishedNameQualifier',
  'AWS::IoT::Certificate::StateName',
  'AWS::IoT::Certificate::SerialNumber',
] as const;
export type CertificateParameterName = (typeof certificateParameterNames)[number];

/**
 * What the engine needs to know of a certificate: its id (SHA-256 of the DER, lowercase hex) and the
 * first value of each subject field. The caller parses the X.509; the engine stays free of it.
 */
export const certificateFactsSchema = z.object({
  id: z.string(),
  subject: z
    .object({
      commonName: z.string(),
      country: z.string(),
      organization: z.string(),
      organizationalUnit: z.string(),
      distinguishedNameQualifier: z.string(),
      stateName: z.string(),
      serialNumber: z.string(),
    })
    .partial(),
});
export type CertificateFacts = z.infer<typeof certificateFactsSchema>;

/** Parameter dictionary: one bulk-registration line or a RegisterThing `parameters` object. */
export const templateParametersSchema = z.record(z.string(), z.string());
export type TemplateParameters = z.infer<typeof templateParametersSchema>;

export const thingPlanSchema = z.object({
  logicalName: z.string(),
  thingName: z.string(),
  /** Absent when the template does not set AttributePayload (then nothing is changed on an existing thing). */
  attributes: z.record(z.string(), z.string()).optional(),
  thingTypeName: z.string().optional(),
  thingGroups: z.array(z.string()).optional(),
  billingGroup: z.string().optional(),
  /** Only what the template declares; what an absent key means is decided where the plan is applied. */
  overrideSettings: z
    .object({
      AttributePayload: overrideActionSchema,
      ThingTypeName: overrideActionSchema,
      ThingGroups: overrideActionSchema,
    })
    .partial(),
});
export type ThingPlan = z.infer<typeof thingPlanSchema>;

const certificateSourceSchema = z.discriminatedUnion('source', [
  z.object({ source: z.literal('csr'), certificateSigningRequest: z.string() }),
  z.object({ source: z.literal('id'), certificateId: z.string() }),
  z.object({
    source: z.literal('pem'),
    certificatePem: z.string(),
    caCertificatePem: z.string().optional(),
  }),
]);

export const certificatePlanSchema = z.intersection(
  certificateSourceSchema,
  z.object({
    logicalName: z.string(),
    status: templateCertificateStatusSchema,
    overrideSettings: z.object({ Status: overrideActionSchema }).partial(),
  }),
);
export type CertificatePlan = z.infer<typeof certificatePlanSchema>;

export const policyPlanSchema = z.discriminatedUnion('kind', [
  /** Attach a policy that must already exist. */
  z.object({ kind: z.literal('existing'), logicalName: z.string(), policyName: z.string() }),
  /** Create a policy named by the hash of its document (aws-iot-spec.md 1, Policy). */
  z.object({
    kind: z.literal('new'),
    logicalName: z.string(),
    policyName: z.string(),
    document: z.record(z.string(), z.unknown()),
  }),
]);
export type PolicyPlan = z.infer<typeof policyPlanSchema>;

export const resourcePlanSchema = z.object({
  /** Every parameter the evaluation used, resolved (dictionary, certificate or Default). */
  parameters: templateParametersSchema,
  thing: thingPlanSchema.optional(),
  certificate: certificatePlanSchema.optional(),
  policies: z.array(policyPlanSchema),
  /** Flat string map, returned to the device as RegisterThing's `deviceConfiguration`. */
  deviceConfiguration: z.record(z.string(), z.string()),
});
export type ResourcePlan = z.infer<typeof resourcePlanSchema>;

/** CreateProvisioningTemplate limits (aws-iot-spec.md 1, Limits). */
export const templateNameSchema = z
  .string()
  .regex(/^[0-9A-Za-z_-]{1,36}$/, 'a template name has 1 to 36 letters, digits, "_" or "-"');
export const templateDescriptionSchema = z
  .string()
  .max(500, 'a template description has at most 500 characters');
/** Fixed at creation; a pre-provisioning hook exists only for FLEET_PROVISIONING (aws-iot-spec.md 1, Kinds). */
export const templateTypeSchema = z.enum(['FLEET_PROVISIONING', 'JITP']);
export type TemplateType = z.infer<typeof templateTypeSchema>;
/** CreateProvisioningTemplate's default type (aws-iot-spec.md 1, Kinds). */
export const defaultTemplateType: TemplateType = 'FLEET_PROVISIONING';
/**
 * How a Ref to a name Parameters does not declare is treated. `reject` (default): a fault.
 * `from-dictionary`: resolved from the parameter dictionary, as AWS's own samples T04/T05 assume.
 */
export const undeclaredParameterPolicySchema = z.enum(['reject', 'from-dictionary']);
export type UndeclaredParameterPolicy = z.infer<typeof undeclaredParameterPolicySchema>;
