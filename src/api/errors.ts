import { z } from 'zod';

/**
 * Errors are values: a code the UI can map, one sentence a technician can act on, and where it
 * happened (field, port, thing). Hosts never show stack traces.
 */
export const errorAreas = [
  'input', // bad input of any kind (validation); the field says which
  'config',
  'registry',
  'audit',
  'keys',
  'pki',
  'template',
  'policy',
  'device',
  'transport',
  'provisioning',
  'sync',
  'internal',
] as const;
export type ErrorArea = (typeof errorAreas)[number];

/** `area.reason`, for example `input.invalid` or `transport.timeout`. */
export type ErrorCode = `${ErrorArea}.${string}`;

export const errorBodySchema = z.object({
  code: z.string(),
  message: z.string(),
  /** true when the user can fix it (CLI exit 1); false for internal faults (exit 2). */
  userFault: z.boolean(),
  field: z.string().optional(),
  port: z.string().optional(),
  subject: z.string().optional(),
  details: z.record(z.string(), z.unknown()).optional(),
});
export type ErrorBody = z.infer<typeof errorBodySchema>;

export interface StationErrorOptions {
  field?: string;
  port?: string;
  subject?: string;
  details?: Record<string, unknown>;
  userFault?: boolean;
  cause?: unknown;
}

export class StationError extends Error {
  readonly code: ErrorCode;
  readonly userFault: boolean;
  readonly field?: string;
  readonly port?: string;
  readonly subject?: string;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: StationErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StationError';
    this.code = code;
    this.userFault = options.userFault ?? !code.startsWith('internal.');
    this.field = options.field;
    this.port = options.port;
    this.subject = options.subject;
    this.details = options.details;
  }

  toBody(): ErrorBody {
    return {
      code: this.code,
      message: this.message,
      userFault: this.userFault,
      ...(this.field !== undefined && { field: this.field }),
      ...(this.port !== undefined && { port: this.port }),
      ...(this.subject !== undefined && { subject: this.subject }),
      ...(this.details !== undefined && { details: this.details }),
    };
  }
}

export function isStationError(value: unknown): value is StationError {
  return value instanceof StationError;
}

/** Bad input: names the field, changes nothing. */
export function invalidInput(
  field: string,
  message: string,
  details?: Record<string, unknown>,
): StationError {
  return new StationError('input.invalid', `${field}: ${message}`, { field, details });
}

/** Wraps anything thrown into an ErrorBody; unknown faults become `internal.unexpected`. */
export function toErrorBody(error: unknown): ErrorBody {
  if (isStationError(error)) return error.toBody();
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'internal.unexpected', message, userFault: false };
}
