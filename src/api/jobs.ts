import { z } from 'zod';
import { keyModeSchema } from './provisioning.js';

/** Identity fields a driver reports (hardware DeviceIdentity) that can feed template parameters. */
export const identityFields = [
  'deviceId',
  'serialNumber',
  'imei',
  'uuid',
  'mac',
  'model',
  'firmware',
] as const;
export const identityFieldSchema = z.enum(identityFields);
export type IdentityField = z.infer<typeof identityFieldSchema>;

const parameterName = z.string().min(1).max(2048);

/**
 * Where a device's template parameters come from. Later sources override earlier ones:
 * constants < list row < device identity < sequence < technician input.
 */
/**
 * A matched list must give each device at most one row: a row without the match value could never be
 * used, and two rows with the same value would leave it to chance which one a device gets.
 */
function refuseAmbiguousMatches(
  list: { rows: Record<string, string>[]; assign: string; matchParameter?: string | undefined },
  context: z.RefinementCtx,
): void {
  const column = list.matchParameter;
  if (list.assign !== 'match' || column === undefined) return;
  const firstRow = new Map<string, number>();
  for (const [index, row] of list.rows.entries()) {
    const value = row[column];
    if (!value) {
      context.addIssue({
        code: 'custom',
        path: ['rows', index],
        message: `row ${index + 1} has no ${column} to match a device on`,
      });
      return;
    }
    const earlier = firstRow.get(value);
    if (earlier !== undefined) {
      context.addIssue({
        code: 'custom',
        path: ['rows', index],
        message: `rows ${earlier + 1} and ${index + 1} both have ${column} = ${value}; a device must match one row`,
      });
      return;
    }
    firstRow.set(value, index);
  }
}

export const parameterSourceSchema = z
  .object({
    constants: z.record(parameterName, z.string().max(4096)).default({}),
    /** e.g. { SerialNumber: 'imei' }: the device's own identity mapped to parameters. */
    identity: z.record(parameterName, identityFieldSchema).default({}),
    /** e.g. { parameter: 'ThingName', pattern: 'SN-{000000}', start: 1 }. */
    sequence: z
      .object({
        parameter: parameterName,
        pattern: z.string().regex(/\{0+\}/, 'needs a {000} placeholder for the number'),
        start: z.number().int().nonnegative().default(1),
      })
      .optional(),
    /** A JSON-lines (AWS bulk format) or CSV list: rows handed out in order, or matched on a device field. */
    list: z
      .object({
        rows: z.array(z.record(z.string(), z.string())).min(1),
        assign: z.enum(['in-order', 'match']),
        matchParameter: parameterName.optional(),
        matchIdentity: identityFieldSchema.optional(),
      })
      .refine((list) => list.assign === 'in-order' || (list.matchParameter && list.matchIdentity), {
        message: 'matching needs matchParameter and matchIdentity',
      })
      .superRefine(refuseAmbiguousMatches)
      .optional(),
    /** A value the technician types or scans (barcode wedge) for each device. */
    operator: z.object({ parameter: parameterName, prompt: z.string().min(1).max(200) }).optional(),
  })
  .strict();
export type ParameterSource = z.infer<typeof parameterSourceSchema>;

/**
 * How a job of key mode `existing` accepts the certificate a device already holds (aws-iot-spec.md 5:
 * RegisterCertificate with its CA, or RegisterCertificateWithoutCA).
 */
export const existingCertificateOptionsSchema = z
  .object({
    /** Accept a certificate no registered CA vouches for (AWS RegisterCertificateWithoutCA); the job names no CA. */
    allowWithoutCa: z.boolean().default(false),
    /** Refuse a device whose driver cannot sign a challenge (without it, proof is asked only where possible). */
    requireProofOfPossession: z.boolean().default(false),
  })
  .strict();
export type ExistingCertificateOptions = z.output<typeof existingCertificateOptionsSchema>;

/** Options of a job's key mode, stored with the job (jobs.key_options). */
export const jobKeyOptionsSchema = z
  .object({ existing: existingCertificateOptionsSchema.optional() })
  .strict();
export type JobKeyOptions = z.output<typeof jobKeyOptionsSchema>;

export const jobSpecSchema = z
  .object({
    label: z.string().min(1).max(128),
    template: z.object({ name: z.string().min(1), version: z.number().int().positive().optional() }),
    parameters: parameterSourceSchema,
    driver: z.enum(['auto', 'nrf91', 'esp-at', 'quectel', 'jsonl']),
    /**
     * csr and inject: the CA that signs. existing: the registered CA (external or the station's own) the
     * devices' certificates must chain to. claim: optional, and then the claim certificate's CA.
     */
    ca: z.string().min(1).optional(),
    keyMode: keyModeSchema,
    /**
     * Most certificates the job may issue. Only certificates the station signs spend it: csr and inject
     * devices do; existing certificates (signed elsewhere) and claim devices (the claim certificate was
     * issued once, by `station claim create`) do not.
     */
    quota: z.number().int().positive().max(10_000_000),
    /** Certificate validity; by default 10 years, or until the day before the CA expires if sooner. */
    validityDays: z.number().int().positive().max(36_500).optional(),
    /** claim mode: the shared claim certificate every device of the job receives. */
    claimCertificateId: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional(),
    /** existing mode: how the device's certificate is accepted. */
    existing: existingCertificateOptionsSchema.optional(),
  })
  .strict()
  .refine((job) => job.keyMode !== 'claim' || job.claimCertificateId, {
    message: 'a claim job names the claim certificate',
    path: ['claimCertificateId'],
  })
  .refine((job) => job.keyMode === 'claim' || !job.claimCertificateId, {
    message: 'only a claim job names a claim certificate',
    path: ['claimCertificateId'],
  })
  .refine((job) => job.validityDays === undefined || job.keyMode === 'csr' || job.keyMode === 'inject', {
    message: 'validity applies to certificates the job signs (key modes csr and inject)',
    path: ['validityDays'],
  })
  .refine((job) => job.keyMode === 'existing' || !job.existing, {
    message: 'existing-certificate options belong to key mode existing',
    path: ['existing'],
  })
  .refine((job) => (job.keyMode === 'existing' && job.existing?.allowWithoutCa ? !job.ca : true), {
    message: 'a job that registers certificates without a CA names no CA',
    path: ['ca'],
  })
  .refine(
    (job) =>
      job.keyMode === 'claim' || job.ca || (job.keyMode === 'existing' && job.existing?.allowWithoutCa),
    { message: 'the job needs a CA', path: ['ca'] },
  );
export type JobSpec = z.infer<typeof jobSpecSchema>;
