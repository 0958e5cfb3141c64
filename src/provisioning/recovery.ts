import type { PipelineStep } from '../api/provisioning.js';
import type { Station } from '../station.js';

export interface InterruptedAttempt {
  recordId: number;
  jobId: number;
  port: string;
  deviceId: string | null;
  thingName: string | null;
  stepReached: PipelineStep | null;
  /** What recovery did: nothing was issued (abandoned), or the identity waits for its device. */
  resolution: 'abandoned' | 'awaiting-device';
}

/**
 * After a crash or power loss (design.md 8): every attempt no process finished is reported with the step
 * it reached and closed. One that never reached the registry transaction left nothing behind (the key
 * store's session keys died with the process) and is ABANDONED. One whose identity was issued is FAILED
 * with a reason; the next plug of that device finds the identity and finishes it (write, verify), or
 * replaces it if its injected key died with the process. Run it only when no bench runs on this data
 * folder (the bench lock guarantees that).
 */
export async function recoverInterruptedAttempts(
  station: Station,
  actor: string,
): Promise<InterruptedAttempt[]> {
  const unfinished = await station.records.unfinished();
  const report: InterruptedAttempt[] = [];
  const keyModes = new Map<number, string>();
  for (const record of unfinished) {
    const issued = record.state === 'ISSUED';
    const where = record.stepReached ? `after ${record.stepReached}` : 'before its first step';
    if (!keyModes.has(record.jobId))
      keyModes.set(record.jobId, (await station.jobs.require(record.jobId)).keyMode);
    // An injected key lives only in the station's memory until the device has it.
    const finish =
      keyModes.get(record.jobId) === 'inject'
        ? 'plug the device in again: if its write had finished it is verified, otherwise its key died with the station and a new certificate replaces this one (one more of the quota)'
        : 'plug the device in again to finish it';
    await station.registry.transaction(actor, (tx) =>
      station.records.finish(tx, record.id, {
        state: issued ? 'FAILED' : 'ABANDONED',
        step: record.stepReached,
        code: 'provisioning.interrupted',
        message: issued
          ? `The station stopped ${where}, once the identity was issued; ${finish}.`
          : `The station stopped ${where}, before anything was issued; plug the device in again to start over.`,
      }),
    );
    report.push({
      recordId: record.id,
      jobId: record.jobId,
      port: record.port,
      deviceId: record.deviceId,
      thingName: record.thingName,
      stepReached: record.stepReached,
      resolution: issued ? 'awaiting-device' : 'abandoned',
    });
  }
  return report;
}
