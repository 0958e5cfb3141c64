import { StationError, isStationError } from '../../src/api/errors.js';
import type { AtChannel } from './at-channel.js';
import { untilLineQuiet } from './leftover-output.js';

export interface ResynchroniseOptions {
  /** What the technician is told is stuck, e.g. `ESP-AT module`. */
  module: string;
  /** How long a module in command mode takes to answer the first plain AT: short, for the happy path. */
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

type ProbeOutcome = 'in-step' | 'out-of-step' | 'silent';

/**
 * Makes sure the module is in command mode and in step before a session's first real command. A station
 * killed while it sent a credential's raw bytes leaves the module in data mode, waiting for the rest: the
 * next station's commands would be stored as file data and never answered. A plain AT answered by a bare
 * OK means all is well (one probe on the happy path). Silence means data mode: the driver's recovery
 * ends the transfer the way its protocol allows. Any other answer (ERROR after a half-sent command line,
 * a late final result) means command mode but out of step: wait for quiet and probe again. Bounded: after
 * `maxProbes` the technician is told to power-cycle the module.
 */
export async function resynchronise(channel: AtChannel, options: ResynchroniseOptions): Promise<void> {
  const { signal } = options;
  let recoveries = 0;
  for (let probe = 1; probe <= options.maxProbes; probe++) {
    const timeoutMs = probe === 1 ? options.probeTimeoutMs : options.recoveredProbeTimeoutMs;
    const outcome = await probeCommandMode(channel, timeoutMs, signal);
    if (outcome === 'in-step') return;
    if (probe === options.maxProbes) break;
    if (outcome === 'silent') await options.recover(++recoveries);
    await untilLineQuiet(channel.link, { quietMs: QUIET_MS, maxWaitMs: MAX_QUIET_WAIT_MS, signal });
  }
  const port = channel.link.port;
  throw new StationError(
    'device.out-of-step',
    `The ${options.module} on ${port} does not answer AT with OK, even after ending any unfinished transfer; power-cycle the module (unplug it and plug it in again), then retry.`,
    { port, details: { probes: options.maxProbes, recoveries } },
  );
}

async function probeCommandMode(
  channel: AtChannel,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<ProbeOutcome> {
  try {
    const answer = await channel.send('AT', { timeoutMs, signal });
    // Lines before the OK were not for AT: the end of a transfer the probe completed (+QFUPL:), or more.
    return answer.info.length === 0 ? 'in-step' : 'out-of-step';
  } catch (error) {
    if (!isStationError(error)) throw error;
    if (error.code === 'transport.timeout') return 'silent';
    if (error.code.startsWith('device.')) return 'out-of-step';
    if (error.code === 'transport.garbled' || error.code === 'transport.line-too-long') return 'out-of-step';
    throw error;
  }
}
