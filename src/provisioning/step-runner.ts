import { isStationError, StationError } from '../api/errors.js';
import { stepPhrases, type PipelineStep, type StepOutcome } from '../api/provisioning.js';

/**
 * A pipeline step owns only its work; the runner owns timing, timeouts, cancellation, events and the
 * record (style.md: Nordic's batch, Etcher's writer).
 */
export interface StepDefinition<C> {
  readonly name: PipelineStep;
  readonly timeoutMs: number;
  /** Steps already done in an earlier attempt (a resumed record) are skipped. */
  skip?(context: C): boolean;
  run(context: C, signal: AbortSignal): Promise<void>;
}

export interface StepObserver {
  stepBegin(step: PipelineStep): void | Promise<void>;
  stepEnd(
    step: PipelineStep,
    outcome: StepOutcome,
    durationMs: number,
    error?: StationError,
  ): void | Promise<void>;
}

export interface RunOptions {
  /** The port, as a technician names it; every error says it. */
  port: string;
  signal?: AbortSignal;
  observer: StepObserver;
}

/** Runs the steps in order; the first failure ends the run and is rethrown as a StationError naming port and step. */
export async function runSteps<C>(
  steps: readonly StepDefinition<C>[],
  context: C,
  options: RunOptions,
): Promise<void> {
  for (const step of steps) {
    if (step.skip?.(context)) {
      await options.observer.stepEnd(step.name, 'skipped', 0);
      continue;
    }
    await options.observer.stepBegin(step.name);
    const started = performance.now();
    try {
      await runWithTimeout(step, context, options);
    } catch (error) {
      const failure = describeStepFailure(error, step.name, options.port);
      await options.observer.stepEnd(step.name, 'failed', performance.now() - started, failure);
      throw failure;
    }
    await options.observer.stepEnd(step.name, 'ok', performance.now() - started);
  }
}

async function runWithTimeout<C>(step: StepDefinition<C>, context: C, options: RunOptions): Promise<void> {
  const { port, signal: jobSignal } = options;
  if (jobSignal?.aborted) throw cancelled(port, step.name);
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let onCancel: (() => void) | undefined;
  // A step that ignores its signal must still never hang the port: the race ends it. Each ending rejects
  // before it aborts the step, so the race reports the timeout or the cancel, not the step's reaction.
  const ended = new Promise<never>((_, reject) => {
    const end = (error: StationError) => {
      reject(error);
      controller.abort(error);
    };
    timer = setTimeout(
      () =>
        end(
          new StationError('provisioning.step-timeout', `no answer within ${formatSeconds(step.timeoutMs)}`, {
            port,
            details: { step: step.name, timeoutMs: step.timeoutMs },
          }),
        ),
      step.timeoutMs,
    );
    // The job's signal lives as long as the bench watches its ports: the listener goes when the step
    // ends (a listener per step would pile up over a shift; so would AbortSignal.any's composites in Node 20).
    onCancel = () => end(cancelled(port, step.name));
    jobSignal?.addEventListener('abort', onCancel, { once: true });
  });
  try {
    await Promise.race([step.run(context, controller.signal), ended]);
  } finally {
    clearTimeout(timer);
    if (onCancel) jobSignal?.removeEventListener('abort', onCancel);
  }
}

function cancelled(port: string, step: PipelineStep): StationError {
  return new StationError('provisioning.cancelled', 'cancelled by the operator', { port, details: { step } });
}

/** "Device on /dev/ttyUSB3 failed during credential write: no answer within 10 s" (code kept for the UI). */
export function describeStepFailure(error: unknown, step: PipelineStep, port: string): StationError {
  const phrase = stepPhrases[step];
  if (isStationError(error)) {
    if (error.details?.step === step && error.message.startsWith('Device on')) return error;
    return new StationError(error.code, `Device on ${port} failed during ${phrase}: ${error.message}`, {
      port,
      field: error.field,
      subject: error.subject,
      userFault: error.userFault,
      details: { ...error.details, step },
      cause: error,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new StationError('internal.unexpected', `Device on ${port} failed during ${phrase}: ${message}`, {
    port,
    userFault: false,
    details: { step },
    cause: error,
  });
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
