import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { StationError } from '../api/errors.js';
import type { PipelineStep, StepOutcome } from '../api/provisioning.js';
import { runSteps, type StepDefinition, type StepObserver } from './step-runner.js';

function recorder(): StepObserver & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    stepBegin: (step: PipelineStep) => void log.push(`begin ${step}`),
    stepEnd: (step: PipelineStep, outcome: StepOutcome, _ms: number, error?: StationError) =>
      void log.push(`end ${step} ${outcome}${error ? ` ${error.code}` : ''}`),
  };
}

const ok = (name: PipelineStep): StepDefinition<unknown> => ({ name, timeoutMs: 1000, run: async () => {} });

describe('runSteps', () => {
  it('runs steps in order and reports each begin and end', async () => {
    const observer = recorder();
    await runSteps([ok('connect'), ok('identify')], {}, { port: 'p1', observer });
    expect(observer.log).toEqual(['begin connect', 'end connect ok', 'begin identify', 'end identify ok']);
  });

  it('skips steps an earlier attempt finished', async () => {
    const observer = recorder();
    const done: StepDefinition<unknown> = { ...ok('issue'), skip: () => true };
    await runSteps([done, ok('write')], {}, { port: 'p1', observer });
    expect(observer.log).toEqual(['end issue skipped', 'begin write', 'end write ok']);
  });

  it('stops at the first failure and names the port and the step', async () => {
    const observer = recorder();
    const failing: StepDefinition<unknown> = {
      name: 'write',
      timeoutMs: 1000,
      run: () => Promise.reject(new StationError('transport.disconnected', 'the port went away')),
    };
    const run = runSteps([ok('connect'), failing, ok('verify')], {}, { port: '/dev/ttyUSB3', observer });
    await expect(run).rejects.toMatchObject({
      code: 'transport.disconnected',
      port: '/dev/ttyUSB3',
      message: 'Device on /dev/ttyUSB3 failed during credential write: the port went away',
      details: { step: 'write' },
    });
    expect(observer.log).toEqual([
      'begin connect',
      'end connect ok',
      'begin write',
      'end write failed transport.disconnected',
    ]);
  });

  it('ends a step that ignores its signal when its timeout passes', async () => {
    const observer = recorder();
    const silent: StepDefinition<unknown> = {
      name: 'identify',
      timeoutMs: 50,
      run: () => new Promise(() => {}),
    };
    await expect(runSteps([silent], {}, { port: 'p2', observer })).rejects.toMatchObject({
      code: 'provisioning.step-timeout',
      message: 'Device on p2 failed during identification: no answer within 0.1 s',
    });
  });

  it('aborts the running step when the operator cancels', async () => {
    const observer = recorder();
    const controller = new AbortController();
    let sawAbort = false;
    const slow: StepDefinition<unknown> = {
      name: 'write',
      timeoutMs: 10_000,
      run: (_c, signal) =>
        new Promise((_, reject) => {
          signal.addEventListener('abort', () => {
            sawAbort = true;
            reject(new StationError('transport.aborted', 'aborted'));
          });
        }),
    };
    const run = runSteps([slow], {}, { port: 'p3', observer, signal: controller.signal });
    setTimeout(() => controller.abort(), 10);
    await expect(run).rejects.toMatchObject({ code: 'provisioning.cancelled' });
    expect(sawAbort).toBe(true);
  });

  it('leaves no listener on the job signal once a step ends, however many steps ran', async () => {
    const job = new AbortController();
    const failing: StepDefinition<unknown> = {
      name: 'verify',
      timeoutMs: 1000,
      run: () => Promise.reject(new StationError('device.mismatch', 'differs')),
    };
    for (let device = 0; device < 50; device++) {
      await runSteps(
        [ok('connect'), ok('identify')],
        {},
        { port: 'p5', observer: recorder(), signal: job.signal },
      );
      await runSteps([failing], {}, { port: 'p5', observer: recorder(), signal: job.signal }).catch(() => {});
    }
    expect(getEventListeners(job.signal, 'abort')).toHaveLength(0);
  });

  it('does not start a step once the operator has cancelled', async () => {
    const job = new AbortController();
    job.abort();
    let ran = false;
    const step: StepDefinition<unknown> = {
      name: 'connect',
      timeoutMs: 1000,
      run: async () => void (ran = true),
    };
    const observer = recorder();
    await expect(runSteps([step], {}, { port: 'p6', observer, signal: job.signal })).rejects.toMatchObject({
      code: 'provisioning.cancelled',
      details: { step: 'connect' },
    });
    expect(ran).toBe(false);
    expect(observer.log).toEqual(['begin connect', 'end connect failed provisioning.cancelled']);
  });

  it('turns an unexpected throw into an internal error without a stack trace in the message', async () => {
    const observer = recorder();
    const buggy: StepDefinition<unknown> = {
      name: 'evaluate',
      timeoutMs: 1000,
      run: () => Promise.reject(new TypeError('x is undefined')),
    };
    await expect(runSteps([buggy], {}, { port: 'p4', observer })).rejects.toMatchObject({
      code: 'internal.unexpected',
      userFault: false,
      message: 'Device on p4 failed during template evaluation: x is undefined',
    });
  });
});
