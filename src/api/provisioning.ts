import { z } from 'zod';
import { errorBodySchema } from './errors.js';

/** The per-device pipeline, in order (design.md 8). Each step's outcome and duration land in the record. */
export const pipelineSteps = [
  'connect',
  'identify',
  'parameters',
  'evaluate',
  'key',
  'issue',
  'register',
  'write',
  'verify',
  'complete',
] as const;
export const pipelineStepSchema = z.enum(pipelineSteps);
export type PipelineStep = z.infer<typeof pipelineStepSchema>;

/** What a technician reads for a step: "... during certificate write". */
export const stepPhrases: Record<PipelineStep, string> = {
  connect: 'connecting',
  identify: 'identification',
  parameters: 'parameter lookup',
  evaluate: 'template evaluation',
  key: 'key generation',
  issue: 'certificate issuance',
  register: 'registry update',
  write: 'credential write',
  verify: 'verification',
  complete: 'completion',
};

export const keyModes = ['csr', 'inject', 'existing', 'claim'] as const;
export const keyModeSchema = z.enum(keyModes);
export type KeyMode = z.infer<typeof keyModeSchema>;

export const recordStates = ['IN_PROGRESS', 'ISSUED', 'PROVISIONED', 'FAILED', 'ABANDONED'] as const;
export const recordStateSchema = z.enum(recordStates);
export type RecordState = z.infer<typeof recordStateSchema>;

/**
 * What an attempt set out to do once the device was identified: provision a new identity, finish an
 * interrupted one, replace one whose injected key was lost or that --reprovision replaces (the old
 * certificate revoked), or only check a device provisioned before.
 */
export const attemptModes = ['fresh', 'resume', 'reissue', 'reverify'] as const;
export const attemptModeSchema = z.enum(attemptModes);
export type AttemptMode = z.infer<typeof attemptModeSchema>;

/** What a technician reads after the thing name: a re-plugged device must not look newly provisioned. */
export const attemptModePhrases: Record<AttemptMode, string> = {
  fresh: '',
  resume: 'finished an interrupted attempt',
  reissue: 'new certificate, the old one revoked',
  reverify: 'provisioned before: verified, nothing issued',
};

export const stepOutcomeSchema = z.enum(['ok', 'failed', 'skipped']);
export type StepOutcome = z.infer<typeof stepOutcomeSchema>;

const eventBase = { port: z.string(), at: z.number() };

export const provisioningEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('port-plugged'), ...eventBase, location: z.string().optional() }),
  z.object({ type: z.literal('port-unplugged'), ...eventBase }),
  z.object({ type: z.literal('device-begin'), ...eventBase, recordId: z.number(), driver: z.string() }),
  z.object({ type: z.literal('step-begin'), ...eventBase, recordId: z.number(), step: pipelineStepSchema }),
  z.object({
    type: z.literal('step-end'),
    ...eventBase,
    recordId: z.number(),
    step: pipelineStepSchema,
    outcome: stepOutcomeSchema,
    durationMs: z.number(),
    error: errorBodySchema.optional(),
  }),
  z.object({
    type: z.literal('progress'),
    ...eventBase,
    recordId: z.number(),
    step: pipelineStepSchema,
    done: z.number(),
    total: z.number(),
  }),
  z.object({
    type: z.literal('log'),
    ...eventBase,
    level: z.enum(['info', 'warn', 'error']),
    message: z.string(),
  }),
  /** The attempt could not even begin: the registry refused its record (busy, disk full). */
  z.object({ type: z.literal('device-unstarted'), ...eventBase, error: errorBodySchema }),
  z.object({
    type: z.literal('device-end'),
    ...eventBase,
    recordId: z.number(),
    state: recordStateSchema,
    /** Absent when the device was never identified. */
    mode: attemptModeSchema.optional(),
    thingName: z.string().optional(),
    certificateId: z.string().optional(),
    error: errorBodySchema.optional(),
  }),
]);
export type ProvisioningEvent = z.infer<typeof provisioningEventSchema>;
