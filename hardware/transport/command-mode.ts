import { StationError, isStationError } from '../../src/api/errors.js';
import type { AtChannel } from './at-channel.js';
import { untilLineQuiet } from './leftover-output.js';

/**
 * The command that finds out whether the module listens and is in step. Its answer has content of its own,
 * checked by `accepts`, so a final result left over from before (a killed station's read-back still
 * streaming, a late OK) is never taken for the probe's: a bare AT answered by a leftover OK would put every
 * later answer one command behind.
 */
export interface ProbeCommand {
  command: string;
  /** Whether the lines before the OK are this command's own answer, and nothing else. */
  accepts(info: readonly string[]): boolean;
}

export interface ResynchroniseOptions {
  /** What the technician is told is stuck, e.g. `ESP-AT module`. */
  module: string;
  probe: ProbeCommand;
  /** How long a module in command mode takes to answer the first probe: short, for the happy path. */
  probeTimeoutMs: number;
  /**
   * How long the probes after a recovery wait: the command timeout, since a module that was slow to answer
   * the first probe (rather than in data mode) must get the time any command gets.
   */
  recoveredProbeTimeoutMs: number;
  /** Probes in all, the first included; a recovery runs between two probes. */
  maxProbes: number;
  /**
   * Brings back to command mode a module that did not answer AT: one waiting for the rest of a raw
   * transfer swallows commands as data. `recovery` counts from 1, so a driver can escalate.
   */
  recover(recovery: number): Promise<void>;
  signal?: AbortSignal;
}

/** Silence that tells a module's late answers (to a probe, to filler) are over. */
const QUIET_MS = 100;
const MAX_QUIET_WAIT_MS = 2_000;

type ProbeOutcome = { kind: 'in-step'; info: readonly string[] } | { kind: 'out-of-step' | 'silent' };

/**
 * Makes sure the module is in command mode and in step before a session's first real command. A station
 * killed while it sent a credential's raw bytes leaves the module in data mode, waiting for the rest: the
 * next station's commands would be stored as file data and never answered. The probe answered with its
 * own content means all is well (one probe on the happy path, at once: no wait for the line to go quiet
 * first); its answer is returned for the driver to use. Silence means data mode: the driver's recovery
 * ends the transfer the way its protocol allows. Any other answer (ERROR after a half-sent command line,
 * leftover lines, a late final result) means command mode but out of step: wait for quiet and probe again.
 * Bounded: after `maxProbes` the technician is told to power-cycle the module.
 */
export async function resynchronise(
  channel: AtChannel,
  options: ResynchroniseOptions,
): Promise<readonly string[]> {
  const { signal } = options;
  let recoveries = 0;
  for (let probe = 1; probe <= options.maxProbes; probe++) {
    const timeoutMs = probe === 1 ? options.probeTimeoutMs : options.recoveredProbeTimeoutMs;
    const outcome = await probeCommandMode(channel, options.probe, timeoutMs, signal);
    if (outcome.kind === 'in-step') return outcome.info;
    if (probe === options.maxProbes) break;
    if (outcome.kind === 'silent') await options.recover(++recoveries);
    await untilLineQuiet(channel.link, { quietMs: QUIET_MS, maxWaitMs: MAX_QUIET_WAIT_MS, signal });
  }
  const port = channel.link.port;
  throw new StationError(
    'device.out-of-step',
    `The ${options.module} on ${port} does not answer ${options.probe.command} as expected, even after ending any unfinished transfer; power-cycle the module (unplug it and plug it in again), then retry.`,
    { port, details: { probes: options.maxProbes, recoveries } },
  );
}

async function probeCommandMode(
  channel: AtChannel,
  probe: ProbeCommand,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<ProbeOutcome> {
  const outOfStep = { kind: 'out-of-step' } as const;
  try {
    const answer = await channel.send(probe.command, { timeoutMs, signal });
    // Other lines before the OK: the end of a transfer the probe completed (+QFUPL:), a read-back, more.
    return probe.accepts(answer.info) ? { kind: 'in-step', info: answer.info } : outOfStep;
  } catch (error) {
    if (!isStationError(error)) throw error;
    if (error.code === 'transport.timeout') return { kind: 'silent' };
    if (error.code.startsWith('device.')) return outOfStep;
    if (error.code === 'transport.garbled' || error.code === 'transport.line-too-long') return outOfStep;
    throw error;
  }
}
