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
      .optional(),
    /** A value the technician types or scans (barcode wedge) for each device. */
    operator: z.object({ parameter: parameterName, prompt: z.string().min(1).max(200) }).optional(),
  })
  .strict();
export type ParameterSource = z.infer<typeof parameterSourceSchema>;

export const jobSpecSchema = z
  .object({
    label: z.string().min(1).max(128),
    template: z.object({ name: z.string().min(1), version: z.number().int().positive().optional() }),
    parameters: parameterSourceSchema,
    driver: z.enum(['auto', 'nrf91', 'esp-at', 'quectel', 'jsonl']),
    ca: z.string().min(1),
    keyMode: keyModeSchema,
    quota: z.number().int().positive().max(10_000_000),
    /** Certificate validity; by default 10 years, or until the day before the CA expires if sooner. */
    validityDays: z.number().int().positive().max(36_500).optional(),
    /** claim mode: the shared claim certificate every device of the job receives. */
    claimCertificateId: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional(),
  })
  .strict()
  .refine((job) => job.keyMode !== 'claim' || job.claimCertificateId, {
    message: 'a claim job names the claim certificate',
    path: ['claimCertificateId'],
  });
export type JobSpec = z.infer<typeof jobSpecSchema>;
