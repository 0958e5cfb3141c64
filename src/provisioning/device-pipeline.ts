import { createHash, createPublicKey, randomBytes, verify as verifySignature } from 'node:crypto';
import { isStationError, StationError, toErrorBody } from '../api/errors.js';
import type {
  AttemptMode,
  KeyMode,
  PipelineStep,
  ProvisioningEvent,
  RecordState,
} from '../api/provisioning.js';
import type { ResourcePlan } from '../api/templates.js';
import {
  certificateUpload,
  type CaCertificateRecord,
  type CertificateRecord,
} from '../registry/certificates.js';
import { ClaimTable } from '../registry/claims.js';
import type { Job } from '../registry/jobs.js';
import type { ProvisioningRecord, RecordStep } from '../registry/records.js';
import type { Transaction } from '../registry/transaction.js';
import {
  acceptExistingCertificate,
  parseDeviceCertificate,
  type DeviceCertificate,
} from '../pki/existing-certificates.js';
import type { PreparedCertificate } from '../pki/issuance.js';
import type { Pki } from '../pki/pki.js';
import { parseCertificate } from '../pki/certificate-reader.js';
import type { NameAttribute } from '../pki/names.js';
import { pemBlocks, toPem } from '../pki/pem.js';
import type { Station } from '../station.js';
import { certificateRequestParameter, planResources, type ParsedTemplate } from '../templates/index.js';
import type {
  CredentialSlot,
  DeviceDriver,
  DeviceIdentity,
  DeviceSession,
} from '../../hardware/drivers/device-driver.js';
import type { ByteLink } from '../../hardware/transport/byte-link.js';
import { applyResourcePlan } from './apply-plan.js';
import { resolveParameters, type Parameters } from './parameters.js';
import { usableClaim } from './claim-identities.js';
import { runSteps, type StepDefinition, type StepObserver } from './step-runner.js';
import { refuseInactiveCertificate, refuseMissingResources } from './template-resources.js';

/** One bench port as the pipeline sees it: a name for people, a driver, and a way to open the link. */
export interface DevicePort {
  /** What a technician reads: the device path or the bench slot (USB location). */
  readonly name: string;
  readonly driver: DeviceDriver;
  open(signal?: AbortSignal): Promise<ByteLink>;
}

/** claim mode: the identity every device of the job receives (aws-iot-spec.md 3). */
export interface ClaimCredentials {
  readonly certificateId: string;
  readonly name: string;
  readonly certificatePem: string;
  /** The claim key as PEM, exported from the key store when the job opened: memory only, never on disk. */
  readonly keyPem: Uint8Array;
}

/** Asks the technician for a value for the device on `port`; `signal` withdraws the question. */
export type OperatorInput = (port: string, prompt: string, signal?: AbortSignal) => Promise<string>;

/** Everything shared by the pipelines of one work order. */
export interface JobRuntime {
  readonly station: Station;
  readonly pki: Pki;
  readonly job: Job;
  readonly template: ParsedTemplate;
  /**
   * The job's CA: it signs (csr, inject), vouches for the devices' own certificates (existing), or issued
   * the claim (claim); its PEM (the CA and its chain) goes into the device's CA slot. Absent when existing
   * certificates are registered without a CA.
   */
  readonly ca?: CaCertificateRecord;
  readonly claim?: ClaimCredentials;
  readonly actor: string;
  /** With it, a device that already has a live identity gets a new one and the old is revoked. */
  readonly reprovision: boolean;
  /**
   * Injected keys between issue and a verified write, in memory only (never on disk): an unplugged device
   * that comes back while the station runs gets the same key. After a restart the key is gone and the
   * identity is replaced (the old certificate revoked).
   */
  readonly injectedKeys: Map<string, Uint8Array>;
  readonly operatorInput?: OperatorInput;
  readonly timeouts: Record<PipelineStep, number>;
  readonly emit: (event: ProvisioningEvent) => void;
}

export const defaultStepTimeouts: Record<PipelineStep, number> = {
  connect: 10_000,
  identify: 15_000,
  parameters: 120_000, // may wait for a technician to scan a label
  evaluate: 5_000,
  key: 30_000, // nRF91 %KEYGEN takes seconds (protocols.md 1.4)
  issue: 15_000,
  register: 15_000,
  write: 120_000,
  verify: 60_000,
  complete: 15_000,
};

interface DeviceAttempt {
  readonly port: DevicePort;
  readonly recordId: number;
  /** The port, opening since the attempt began (see provisionDevice); the connect step takes it. */
  opening: Promise<ByteLink>;
  link?: ByteLink;
  session?: DeviceSession;
  /** The session and port closing (releaseDevice); once started, every caller waits for the same. */
  releasing?: Promise<void>;
  identity?: DeviceIdentity;
  /** How this attempt relates to earlier ones of the same device (design.md 8). */
  mode: AttemptMode;
  prior?: ProvisioningRecord;
  /** The live certificate a reverify or reprovision concerns. */
  liveCertificate?: CertificateRecord;
  /** inject mode: liveCertificate was issued, never finished, and its key died with the station. */
  keyLost?: boolean;
  /**
   * The claim a device with no identity of its own carries, written by a claim job whose attempt
   * completed: re-verified, or, with --reprovision, written over. A claim is shared: never revoked here.
   */
  carriedClaim?: CertificateRecord;
  parameters?: Parameters;
  plan?: ResourcePlan;
  thingName?: string;
  csr?: Uint8Array;
  /** existing mode: the certificate the device already holds, as read in identify. */
  deviceCertificate?: DeviceCertificate;
  /** The device signed a challenge with the key of its certificate in this attempt. */
  proven?: boolean;
  prepared?: PreparedCertificate;
  certificateId?: string;
  certificatePem?: string;
  privateKeyPem?: string;
  /** The job CA's certificate on its way to the device while the identity is issued (startCaWrite). */
  caWrite?: Promise<void>;
  /** What was written, slot by slot, for verification. */
  written: Map<CredentialSlot, Uint8Array>;
  /** Finished steps not yet in the registry (see checkpoint), and how many are. */
  unsavedSteps: Omit<RecordStep, 'seq'>[];
  savedSteps: number;
  /** A record change a step left for the next checkpoint to make first (see identify). */
  unsavedRecordWork?: (tx: Transaction) => Promise<void>;
  /** The last checkpoint's transaction: a step the runner gave up on (timeout, cancel) may still be in it. */
  checkpointing?: Promise<unknown>;
  /** The last step whose checkpoint committed. */
  reached?: PipelineStep;
  /** Set once the attempt has failed: a step that outlived it starts no further checkpoint. */
  ended?: boolean;
}

export interface DeviceOutcome {
  port: string;
  recordId: number;
  state: RecordState;
  /** What the attempt set out to do, once the device was identified. */
  mode?: AttemptMode;
  deviceId?: string;
  thingName?: string;
  certificateId?: string;
  error?: StationError;
}

/**
 * Provisions the device on one port: connect -> identify -> parameters -> evaluate -> key -> issue ->
 * register -> write -> verify -> complete (design.md 8). The outcome and the record say what happened,
 * so one port's fault never touches another. It throws only when the registry cannot even make the
 * attempt's record, after a `device-unstarted` event that says why.
 */
export async function provisionDevice(
  runtime: JobRuntime,
  port: DevicePort,
  signal?: AbortSignal,
): Promise<DeviceOutcome> {
  const { station } = runtime;
  // The port opens while the record is created: each waits on another thread (the OS, SQLite's commit),
  // not on the other, and nothing reaches the device before its step runs with the record in place.
  const opening = port.open(signal);
  opening.catch(() => undefined); // the connect step reports a failed open
  let recordId: number;
  try {
    recordId = await station.registry.transaction(runtime.actor, (tx) =>
      station.records.start(tx, { jobId: runtime.job.id, port: port.name, driver: port.driver.name }),
    );
  } catch (error) {
    await opening.then((link) => link.close()).catch(() => undefined);
    const reason =
      error instanceof StationError ? error : new StationError('internal.unexpected', String(error));
    const failure = new StationError(
      reason.code,
      `Device on ${port.name} could not be started: ${reason.message}`,
      {
        port: port.name,
        userFault: reason.userFault,
        cause: error,
      },
    );
    runtime.emit({ type: 'device-unstarted', port: port.name, at: Date.now(), error: toErrorBody(failure) });
    throw failure;
  }
  const attempt: DeviceAttempt = {
    port,
    opening,
    recordId,
    mode: 'fresh',
    written: new Map(),
    unsavedSteps: [],
    savedSteps: 0,
  };
  runtime.emit({ type: 'device-begin', port: port.name, at: Date.now(), recordId, driver: port.driver.name });
  let outcome: DeviceOutcome;
  try {
    await runSteps(pipelineSteps(runtime), attempt, {
      port: port.name,
      ...(signal && { signal }),
      observer: recordObserver(runtime, attempt),
    });
    outcome = {
      port: port.name,
      recordId,
      state: 'PROVISIONED',
      ...(attempt.identity && { mode: attempt.mode, deviceId: attempt.identity.deviceId }),
      ...(attempt.thingName && { thingName: attempt.thingName }),
      ...(attempt.certificateId && { certificateId: attempt.certificateId }),
    };
  } catch (error) {
    const failure =
      error instanceof StationError ? error : new StationError('internal.unexpected', String(error));
    outcome = await recordFailure(runtime, attempt, failure);
  } finally {
    // A CA write still going (a step after identify failed) ends first: a port closed mid-upload leaves
    // the device waiting for the rest, and reading the next command as data. It fails fast when unplugged.
    await attempt.caWrite?.catch(() => undefined);
    await releaseDevice(attempt);
  }
  runtime.emit({
    type: 'device-end',
    port: port.name,
    at: Date.now(),
    recordId,
    state: outcome.state,
    ...(outcome.mode && { mode: outcome.mode }),
    ...(outcome.thingName && { thingName: outcome.thingName }),
    ...(outcome.certificateId && { certificateId: outcome.certificateId }),
    ...(outcome.error && { error: toErrorBody(outcome.error) }),
  });
  return outcome;
}

/**
 * Records why the attempt failed. A step the runner gave up on (a timeout, a cancel) may still be
 * committing its checkpoint: the failure is written after it, so the step log stays in order and the
 * record keeps what that step made (an identity issued is then finished by the next plug). A completion
 * that committed meanwhile stands: the device is provisioned.
 */
async function recordFailure(
  runtime: JobRuntime,
  attempt: DeviceAttempt,
  failure: StationError,
): Promise<DeviceOutcome> {
  attempt.ended = true;
  await attempt.checkpointing?.catch(() => undefined);
  const device = {
    port: attempt.port.name,
    recordId: attempt.recordId,
    ...(attempt.identity && { mode: attempt.mode, deviceId: attempt.identity.deviceId }),
    ...(attempt.thingName && { thingName: attempt.thingName }),
    ...(attempt.certificateId && { certificateId: attempt.certificateId }),
  };
  if (attempt.reached === 'complete') return { ...device, state: 'PROVISIONED' };
  const step = (failure.details?.step as PipelineStep | undefined) ?? null;
  const identity = attempt.identity;
  await checkpoint(runtime, attempt, null, async (tx) => {
    // A device refused as it identified itself (a revoked identity, a closed job) is named on its
    // record all the same: `job describe` lists it by its identity, not as a device that never answered.
    if (identity)
      await runtime.station.records.nameDevice(
        tx,
        attempt.recordId,
        attempt.port.driver.name,
        identity.deviceId,
      );
    await runtime.station.records.finish(tx, attempt.recordId, {
      state: 'FAILED',
      step,
      code: failure.code,
      message: failure.message,
    });
  }).catch(() => undefined); // the registry itself failing must not hide the device's error
  return { ...device, state: 'FAILED', error: failure };
}

function recordObserver(runtime: JobRuntime, attempt: DeviceAttempt): StepObserver {
  const started = new Map<PipelineStep, string>();
  const base = () => ({ port: attempt.port.name, at: Date.now(), recordId: attempt.recordId });
  return {
    stepBegin(step) {
      started.set(step, new Date().toISOString());
      runtime.emit({ type: 'step-begin', ...base(), step });
    },
    stepEnd(step, outcome, durationMs, error) {
      // Persisted with the attempt's next state change (checkpoint); 'complete' is that change itself.
      if (step !== 'complete') {
        attempt.unsavedSteps.push({
          step,
          outcome,
          startedAt: started.get(step) ?? new Date().toISOString(),
          durationMs,
          detail: error ? JSON.stringify({ code: error.code, message: error.message }) : null,
        });
      }
      runtime.emit({
        type: 'step-end',
        ...base(),
        step,
        outcome,
        durationMs,
        ...(error && { error: toErrorBody(error) }),
      });
    },
  };
}

/**
 * One registry transaction at a state change of the attempt, carrying the steps finished since the last
 * one: a crash shows the record with the last step it completed before its last checkpoint.
 */
async function checkpoint<T>(
  runtime: JobRuntime,
  attempt: DeviceAttempt,
  /** The step making the checkpoint: once it commits, the record has reached it (null: a failure). */
  reached: PipelineStep | null,
  work: (tx: Transaction) => Promise<T>,
): Promise<T> {
  if (attempt.ended && reached !== null) {
    throw new StationError(
      'provisioning.attempt-ended',
      'the attempt ended before this step could record it',
      {
        userFault: false,
      },
    );
  }
  // A copy: a step that fails while this commits adds itself to the list, for the next checkpoint.
  const steps = attempt.unsavedSteps.slice();
  const recordWork = attempt.unsavedRecordWork;
  const transaction = runtime.station.registry.transaction(runtime.actor, async (tx) => {
    await recordWork?.(tx);
    const saving = runtime.station.records.stepsEnded(tx, attempt.recordId, steps, {
      saved: attempt.savedSteps,
      reached: reached ?? undefined,
    });
    // The step log and the work touch different columns, so they go to SQLite together (fewer round
    // trips inside the transaction); a failure's finish() also sets step_reached, so it waits its turn.
    if (reached === null) await saving;
    const [, value] = await Promise.all([saving, work(tx)]);
    return value;
  });
  attempt.checkpointing = transaction;
  const result = await transaction;
  attempt.unsavedSteps = attempt.unsavedSteps.slice(steps.length);
  attempt.savedSteps += steps.length;
  if (reached) attempt.reached = reached;
  if (attempt.unsavedRecordWork === recordWork) attempt.unsavedRecordWork = undefined;
  return result;
}

/**
 * Whether the parameters step runs: not for a re-verification, nor when an earlier attempt chose them;
 * but the technician is asked again while nothing was issued, so a misread label is not reused.
 */
function needsParameters(job: Job, attempt: DeviceAttempt): boolean {
  if (attempt.mode === 'reverify') return false;
  return (
    attempt.parameters === undefined || (attempt.mode === 'fresh' && job.parameters.operator !== undefined)
  );
}

const newIdentityModes: readonly AttemptMode[] = ['fresh', 'reissue'];

/** Stands for the certificate's id while the template is evaluated before the certificate exists. */
export const pendingCertificateId = '0'.repeat(64);
/** Stands for the CSR while the template is evaluated before the key exists; never recorded. */
const pendingCertificateRequest = '(the CSR of the key this attempt makes)';

/** The template parameter the station fills with a CSR: only csr and inject jobs have one to give. */
export function stationRequestParameter(template: ParsedTemplate, keyMode: KeyMode): string | undefined {
  return keyMode === 'csr' || keyMode === 'inject' ? certificateRequestParameter(template) : undefined;
}

/**
 * The job's parameters with the one its template's certificate takes a CSR from (`{"Ref": "CSR"}`, AWS bulk
 * registration) set to the request behind this attempt's certificate: the device's own in a csr job, one
 * the new key signed in an inject job. Job create refuses a job that sets that parameter itself.
 */
function withCertificateRequest(runtime: JobRuntime, parameters: Parameters, request: string | undefined) {
  const name = stationRequestParameter(runtime.template, runtime.job.keyMode);
  return name === undefined || request === undefined ? parameters : { ...parameters, [name]: request };
}

function pipelineSteps(runtime: JobRuntime): StepDefinition<DeviceAttempt>[] {
  const { station, job } = runtime;
  const timeout = (name: PipelineStep) => runtime.timeouts[name];
  const progress = (attempt: DeviceAttempt, step: PipelineStep) => (done: number, total: number) =>
    runtime.emit({
      type: 'progress',
      port: attempt.port.name,
      at: Date.now(),
      recordId: attempt.recordId,
      step,
      done,
      total,
    });

  const log = (attempt: DeviceAttempt, message: string, level: 'info' | 'warn' = 'info') =>
    runtime.emit({ type: 'log', port: attempt.port.name, at: Date.now(), level, message });

  return [
    {
      name: 'connect',
      timeoutMs: timeout('connect'),
      async run(attempt, signal) {
        attempt.link = await attempt.opening;
        attempt.session = await attempt.port.driver.open(attempt.link, { signal });
      },
    },
    {
      name: 'identify',
      timeoutMs: timeout('identify'),
      async run(attempt, signal) {
        const identity = await attempt.session!.identify({ signal });
        attempt.identity = identity;
        await decideAttemptMode(runtime, attempt, identity);
        if (attempt.keyLost) await settleLostKey(runtime, attempt, signal);
        if (job.status !== 'active' && newIdentityModes.includes(attempt.mode))
          refuseClosedJob(runtime, attempt);
        log(attempt, describeIdentity(attempt.port.driver.name, identity));
        const plan = describeMode(runtime, attempt);
        if (plan) log(attempt, plan.message, plan.level);
        if (job.keyMode === 'existing' && newIdentityModes.includes(attempt.mode)) {
          attempt.deviceCertificate = await readDeviceCertificate(attempt, signal);
          await refuseKnownCertificate(runtime, attempt);
        }
        if (job.keyMode === 'inject' && newIdentityModes.includes(attempt.mode)) {
          startCaWrite(runtime, attempt, signal);
        }
        const recordIdentity = (tx: Transaction) =>
          station.records.identify(tx, attempt.recordId, {
            driver: attempt.port.driver.name,
            deviceId: identity.deviceId,
            ...(attempt.mode !== 'fresh' && attempt.prior && { resumes: attempt.prior }),
            ...(attempt.parameters && { parameters: attempt.parameters }),
          });
        // When the parameters come straight after without a technician, their transaction records the
        // identity too: one registry wait fewer for the device. Nothing is handed out before that commits,
        // so a crash in between leaves a record that reached connect, with nothing to clean up.
        if (needsParameters(job, attempt) && !job.parameters.operator)
          attempt.unsavedRecordWork = recordIdentity;
        else await checkpoint(runtime, attempt, 'identify', recordIdentity);
      },
    },
    {
      name: 'parameters',
      timeoutMs: timeout('parameters'),
      skip: (attempt) => !needsParameters(job, attempt),
      async run(attempt, signal) {
        const source = job.parameters;
        const operatorValue = source.operator
          ? await runtime.operatorInput?.(attempt.port.name, source.operator.prompt, signal)
          : undefined;
        const earlier = attempt.parameters;
        attempt.parameters = await checkpoint(runtime, attempt, 'parameters', async (tx) => {
          if (earlier) {
            // Asked again: only the technician's value is new; sequence number and list row stay.
            const asked = resolveParameters(
              { constants: {}, identity: {}, operator: source.operator },
              {},
              operatorValue !== undefined ? { operatorValue } : {},
            );
            const parameters = { ...earlier, ...asked };
            await station.records.setParameters(tx, attempt.recordId, parameters);
            return parameters;
          }
          // Sequence numbers and list rows are handed out in the same transaction that records them,
          // so a crash never hands one out twice and a retry of this device reuses its own.
          const sequenceNumber = source.sequence
            ? await station.jobs.allocateSequence(tx, job.id)
            : undefined;
          let listRow: Parameters | undefined;
          if (source.list?.assign === 'in-order') {
            const index = await station.jobs.allocateListRow(tx, job.id);
            listRow = source.list.rows[index];
          }
          const parameters = resolveParameters(source, identityFacts(attempt.identity!), {
            ...(sequenceNumber !== undefined && { sequenceNumber }),
            ...(listRow && { listRow }),
            ...(operatorValue !== undefined && { operatorValue }),
          });
          await station.records.setParameters(tx, attempt.recordId, parameters);
          return parameters;
        });
      },
    },
    {
      name: 'evaluate',
      timeoutMs: timeout('evaluate'),
      // A claim job creates no thing: fleet provisioning makes it when the device calls RegisterThing
      // with the template (aws-iot-spec.md 3), with parameters only the device sends then.
      skip: (attempt) => attempt.mode === 'reverify' || attempt.mode === 'resume' || job.keyMode === 'claim',
      async run(attempt) {
        // A certificate the station issues does not exist yet: evaluate for the thing name (the certificate's
        // CN) now, and again with the real certificate in the registry transaction. An existing certificate
        // gives its facts now (the AWS::IoT::Certificate::* built-ins, as JITP does).
        await refuseMissingResources(station, runtime.template, job.templateName, job.parameters);
        const existing = attempt.deviceCertificate?.certificate;
        const plan = planResources(runtime.template, {
          parameters: withCertificateRequest(runtime, attempt.parameters!, pendingCertificateRequest),
          certificate: existing
            ? { id: existing.id, subject: subjectFacts(existing.subject) }
            : { id: pendingCertificateId, subject: {} },
        });
        refuseInactiveCertificate(plan, job.templateName);
        const thingName = plan.thing?.thingName;
        if (!thingName) {
          throw new StationError(
            'template.no_thing',
            'The job template creates no thing; a device needs one.',
          );
        }
        const owner = await station.devices.byThing(thingName);
        if (
          owner &&
          (owner.driver !== attempt.port.driver.name || owner.deviceId !== attempt.identity!.deviceId)
        ) {
          throw new StationError(
            'provisioning.thing-taken',
            `Thing ${thingName} already belongs to device ${owner.deviceId}; check the job's parameters.`,
            { subject: thingName },
          );
        }
        attempt.plan = plan;
        attempt.thingName = thingName;
      },
    },
    {
      name: 'key',
      timeoutMs: timeout('key'),
      // In inject mode the key store makes the key together with its certificate (issue step); a claim's
      // key exists already. An existing certificate's key is on the device: it proves it holds it.
      skip: (attempt) =>
        !newIdentityModes.includes(attempt.mode) || (job.keyMode !== 'csr' && job.keyMode !== 'existing'),
      async run(attempt, signal) {
        if (job.keyMode === 'existing') {
          await proveExistingKey(runtime, attempt, signal);
          return;
        }
        // Before the device makes a key for a certificate the job can no longer issue.
        await station.jobs.requireQuotaLeft(job.id);
        attempt.csr = await attempt.session!.generateCsr({ commonName: attempt.thingName! }, { signal });
        log(attempt, `the device made its key and a ${attempt.csr.length}-byte CSR`);
      },
    },
    {
      name: 'issue',
      timeoutMs: timeout('issue'),
      skip: (attempt) => !newIdentityModes.includes(attempt.mode) || job.keyMode === 'claim',
      async run(attempt, signal) {
        startCaWrite(runtime, attempt, signal);
        if (job.keyMode === 'existing') {
          attempt.prepared = acceptDeviceCertificate(runtime, attempt);
          return;
        }
        const options = {
          caName: runtime.ca!.name,
          days: job.validityDays,
          commonName: attempt.thingName!,
          jobId: job.id,
        };
        if (job.keyMode === 'csr') {
          attempt.prepared = await runtime.pki.issuer.prepareFromCsr(attempt.csr!, options);
        } else {
          await station.jobs.requireQuotaLeft(job.id); // before the key store makes a key for nothing
          const injected = await runtime.pki.issuer.prepareInjected({
            ...options,
            withRequest: stationRequestParameter(runtime.template, job.keyMode) !== undefined,
          });
          attempt.prepared = injected.prepared;
          attempt.csr = injected.request;
          attempt.privateKeyPem = toPem('PRIVATE KEY', injected.privateKeyPkcs8);
        }
        log(
          attempt,
          `certificate ${attempt.prepared.record.id} for ${attempt.thingName} signed by CA ${options.caName}, valid ${options.days} days${job.keyMode === 'inject' ? ', its key made by the key store' : ''}`,
        );
      },
    },
    {
      name: 'register',
      timeoutMs: timeout('register'),
      // A claim written again (a resumed write, --reprovision) is re-checked and its carrier row moves to
      // this attempt: a claim revoked meanwhile reaches no device, and the row names the latest write.
      skip: (attempt) =>
        !newIdentityModes.includes(attempt.mode) && !(job.keyMode === 'claim' && attempt.mode === 'resume'),
      async run(attempt) {
        await checkpoint(runtime, attempt, 'register', (tx) =>
          job.keyMode === 'claim'
            ? registerClaimCarrier(runtime, attempt, tx)
            : registerIdentity(runtime, attempt, tx),
        );
        if (attempt.privateKeyPem)
          runtime.injectedKeys.set(attempt.certificateId!, Buffer.from(attempt.privateKeyPem));
      },
    },
    {
      name: 'write',
      timeoutMs: timeout('write'),
      // An existing certificate stays as the device holds it: the station writes nothing (no key, no CA).
      skip: (attempt) => attempt.mode === 'reverify' || job.keyMode === 'existing',
      async run(attempt, signal) {
        const session = attempt.session!;
        const credentials: [CredentialSlot, Uint8Array][] = [
          ['ca', Buffer.from(runtime.ca!.pem)],
          ['certificate', Buffer.from(attempt.certificatePem!)],
        ];
        if (job.keyMode === 'claim') credentials.push(['key', runtime.claim!.keyPem]);
        if (job.keyMode === 'inject') {
          const key = runtime.injectedKeys.get(attempt.certificateId!);
          if (!key) {
            throw new StationError(
              'provisioning.key-lost',
              'The injected key of this identity is gone (the station restarted); plug the device in again to replace the identity.',
            );
          }
          credentials.push(['key', key]);
        }
        const total = credentials.reduce((sum, [, bytes]) => sum + bytes.length, 0);
        let before = 0;
        const onProgress = progress(attempt, 'write');
        for (const [slot, bytes] of credentials) {
          const offset = before;
          if (slot === 'ca' && attempt.caWrite) {
            await attempt.caWrite;
            onProgress(bytes.length, total);
          } else {
            await session.writeCredential(slot, bytes, {
              signal,
              onProgress: (sent) => onProgress(offset + sent, total),
            });
          }
          attempt.written.set(slot, bytes);
          before += bytes.length;
        }
        log(attempt, `wrote ${credentials.map(([slot, bytes]) => `${slot} (${bytes.length} B)`).join(', ')}`);
      },
    },
    {
      name: 'verify',
      timeoutMs: timeout('verify'),
      async run(attempt, signal) {
        await verifyDevice(runtime, attempt, signal);
        const session = attempt.session!;
        log(
          attempt,
          `the device holds what the registry says${session.capabilities().proofOfPossession ? ' and proved it holds the key' : ` (${session.driver} devices cannot sign a challenge to prove their key)`}`,
        );
      },
    },
    {
      name: 'complete',
      timeoutMs: timeout('complete'),
      async run(attempt) {
        // The device is done with: its port closes while the record commits, ready for the next one.
        const releasing = releaseDevice(attempt);
        await checkpoint(runtime, attempt, 'complete', async (tx) => {
          await station.records.finish(tx, attempt.recordId, { state: 'PROVISIONED' });
          // What this attempt wrote (an identity of the device's own, or this job's claim) is on the
          // device now, verified: a claim it carried before is gone, and `station claim devices` lists
          // it no more. Not earlier: a write cut short may leave the old claim on the device.
          if (attempt.mode !== 'reverify') {
            await new ClaimTable(station.registry.reader).removeCarrier(tx, {
              driver: attempt.port.driver.name,
              deviceId: attempt.identity!.deviceId,
              recordId: attempt.recordId,
              ...(runtime.claim && { keep: runtime.claim.certificateId }),
            });
          }
        });
        if (attempt.certificateId) {
          // Written and verified: the station's copy of the key is wiped, not left for the collector.
          runtime.injectedKeys.get(attempt.certificateId)?.fill(0);
          runtime.injectedKeys.delete(attempt.certificateId);
        }
        await releasing;
      },
    },
  ];
}

/**
 * The bench of a closed job (see openJobRuntime) only finishes the identities issued before it closed:
 * a device that would need a new one is turned away before it makes a key.
 */
function refuseClosedJob(runtime: JobRuntime, attempt: DeviceAttempt): never {
  const { job } = runtime;
  throw new StationError(
    'provisioning.job-closed',
    `Job ${job.id} (${job.label}) is ${job.status}: its bench only finishes the identities issued before it closed; provision this device with an open job.`,
    { port: attempt.port.name },
  );
}

function describeIdentity(driver: string, identity: DeviceIdentity): string {
  const facts = (['imei', 'mac', 'serialNumber', 'model', 'firmware'] as const)
    .filter((field) => identity[field] !== undefined && identity[field] !== identity.deviceId)
    .map((field) => `${field} ${identity[field]}`);
  return `${driver} device ${identity.deviceId}${facts.length > 0 ? ` (${facts.join(', ')})` : ''}`;
}

/** What the attempt will do with an identity the registry knows already; nothing for a new device. */
function describeMode(
  runtime: JobRuntime,
  attempt: DeviceAttempt,
): { message: string; level: 'info' | 'warn' } | undefined {
  const certificate = attempt.certificateId ?? attempt.liveCertificate?.id;
  const thing = attempt.thingName ? ` as ${attempt.thingName}` : '';
  switch (attempt.mode) {
    case 'fresh':
      return undefined;
    case 'reverify':
      return {
        message: `provisioned before${thing} (certificate ${certificate}): verifying it, nothing is issued`,
        level: 'info',
      };
    case 'resume':
      return {
        message: `finishing record ${attempt.prior?.id ?? '?'}: certificate ${certificate} was issued, not yet verified on the device`,
        level: 'info',
      };
    case 'reissue':
      if (attempt.carriedClaim) {
        return {
          message: `--reprovision: the claim it carries (certificate ${attempt.carriedClaim.id}) will be written over; the claim itself stays valid`,
          level: 'warn',
        };
      }
      return {
        message: !attempt.keyLost
          ? `--reprovision: certificate ${certificate} will be revoked and replaced`
          : `the key of certificate ${certificate} was lost before it reached the device: a new certificate replaces it`,
        level: 'warn',
      };
  }
}

/** Closes the device's session and port (also one still opening); never fails, and runs once. */
function releaseDevice(attempt: DeviceAttempt): Promise<void> {
  attempt.releasing ??= (async () => {
    await attempt.session?.close().catch(() => undefined);
    // A connect step that gave up (timeout, cancel) may have left the port opening: it closes when open.
    const link = attempt.link ?? (await attempt.opening.catch(() => undefined));
    await link?.close().catch(() => undefined);
  })();
  return attempt.releasing;
}

/**
 * Starts writing the job's CA certificate while the station chooses the parameters, issues and registers
 * a new identity, so the device does not sit idle through the registry transactions and the HSM: the CA
 * is public and the same for every device, so nothing depends on the identity being recorded first (the
 * identity's certificate and key still go to the device only after the registry has them). An inject
 * job starts it once the device is identified: nothing else talks to the device until the write step. A
 * csr job starts it once the device has made its key, covering the issue and register steps instead: the
 * key step talks to the device straight after identify, and would only wait behind the CA. The write
 * step awaits it and reports its failure as its own; a device whose parameters or registration fail
 * keeps the CA, which a retry writes again.
 */
function startCaWrite(runtime: JobRuntime, attempt: DeviceAttempt, signal: AbortSignal): void {
  if (attempt.caWrite) return;
  if (runtime.job.keyMode === 'existing') return; // the station writes nothing to such a device
  const write = attempt.session!.writeCredential('ca', Buffer.from(runtime.ca!.pem), { signal });
  write.catch(() => undefined); // handled by the write step; a failure before it must not go unhandled
  attempt.caWrite = write;
}

/**
 * Looks at the device's history: a live identity is re-verified (or, with --reprovision, replaced); an
 * identity issued but not yet on the device is resumed; parameters of an unfinished attempt are reused so
 * that a retry never burns another sequence number.
 */
async function decideAttemptMode(
  runtime: JobRuntime,
  attempt: DeviceAttempt,
  identity: DeviceIdentity,
): Promise<void> {
  const { station, job } = runtime;
  const driver = attempt.port.driver.name;
  const device = await station.devices.byIdentity(driver, identity.deviceId);
  const prior = await station.records.latestForDevice(job.id, driver, identity.deviceId);
  const liveCertificate = device?.thingName ? await liveCertificateOf(runtime, device.thingName) : undefined;
  const priorCertificate =
    prior?.certificateId && prior.certificateId === liveCertificate?.id
      ? liveCertificate
      : prior?.certificateId
        ? await runtime.pki.certificates.byId(prior.certificateId)
        : undefined;
  const carriedClaim = liveCertificate ? undefined : await carriedClaimOf(runtime, driver, identity.deviceId);
  attempt.prior = prior;
  if (prior?.parameters) attempt.parameters = prior.parameters;
  // A device carrying a claim carries it since its own identity, if any: a claim written over that
  // identity leaves no carrier row behind it.
  if (!liveCertificate && !carriedClaim && !runtime.reprovision)
    await refuseRevokedIdentity(runtime, attempt, identity);

  if (job.keyMode === 'claim') {
    // A device with an identity of its own (another job's, perhaps written over the claim it had) would
    // lose its key under the claim's: that identity is re-verified, or, with --reprovision, revoked as the
    // claim replaces it.
    if (liveCertificate) {
      takeLiveIdentity(runtime, attempt, liveCertificate, device!.thingName!);
      return;
    }
    // A claim is shared, never revoked for one device: a device that has it is re-verified (or, with
    // --reprovision, written again); one whose write did not finish gets it written. One that carries
    // another claim, or this one from another claim job, is re-verified too, or written over.
    const claim = runtime.claim!;
    if (
      carriedClaim &&
      (carriedClaim.id !== claim.certificateId || prior?.certificateId !== claim.certificateId)
    ) {
      takeCarriedClaim(runtime, attempt, carriedClaim);
      return;
    }
    if (prior?.certificateId === claim.certificateId) {
      attempt.certificateId = claim.certificateId;
      attempt.certificatePem = claim.certificatePem;
      attempt.mode = prior.state === 'PROVISIONED' && !runtime.reprovision ? 'reverify' : 'resume';
    }
    return;
  }

  // An identity the device once completed is only verified (or, with --reprovision, replaced), however
  // the last attempt ended: resuming writes the certificate again, and a device that failed its
  // re-verification because it was erased holds no key for it any more (an nRF91 cannot show which key
  // it holds). One this job's latest attempt issued and never finished is resumed, --reprovision or
  // not: it is the replacement a re-provisioning unplugged mid-write was making, and issuing another
  // would spend the quota again on every plug. An existing certificate is the device's to change, not
  // the station's to write: with --reprovision the one it holds now is registered (or found unchanged).
  if (
    liveCertificate &&
    ((runtime.reprovision && job.keyMode === 'existing') ||
      prior?.state === 'PROVISIONED' ||
      !prior ||
      prior.certificateId !== liveCertificate.id ||
      (await station.records.provisionedWith(driver, identity.deviceId, liveCertificate.id)))
  ) {
    takeLiveIdentity(runtime, attempt, liveCertificate, device!.thingName!);
    return;
  }
  // A device that carries a claim is provisioned, though it has no thing: another job does not write over
  // its claim unless told --reprovision.
  if (carriedClaim) {
    takeCarriedClaim(runtime, attempt, carriedClaim);
    return;
  }
  if (prior?.certificateId && priorCertificate?.status === 'ACTIVE') {
    attempt.thingName = prior.thingName ?? undefined;
    attempt.certificateId = priorCertificate.id;
    attempt.certificatePem = priorCertificate.pem;
    const keyAvailable = job.keyMode !== 'inject' || runtime.injectedKeys.has(priorCertificate.id);
    if (keyAvailable) {
      attempt.mode = 'resume';
      return;
    }
    attempt.liveCertificate = priorCertificate;
    attempt.mode = 'reissue';
    attempt.keyLost = true;
  }
}

/**
 * inject mode: the station stopped (a crash, a power loss, Ctrl+C) after issuing the identity, and its key
 * died with the process. If the write had finished, the device holds certificate and key: where it can
 * prove the key (a signed challenge, in the verify step) it is verified, and nothing is issued. A key
 * slot that only says it is filled may hold half a key (a write torn by the crash). Otherwise the
 * certificate is dead, and a new one replaces it, which takes one more of the job's quota; with none
 * left, the dead certificate is revoked now, not left ACTIVE, and the device is sent to a new job.
 */
async function settleLostKey(
  runtime: JobRuntime,
  attempt: DeviceAttempt,
  signal: AbortSignal,
): Promise<void> {
  const session = attempt.session!;
  const dead = attempt.liveCertificate!;
  const capabilities = session.capabilities();
  if (capabilities.proofOfPossession && capabilities.readBack !== 'none') {
    const certificate = await session.readCredential('certificate', { signal });
    const found = certificate.bytes ? sha256Hex(certificate.bytes) : certificate.sha256?.toLowerCase();
    if (certificate.present && found === sha256Hex(Buffer.from(dead.pem))) {
      try {
        // Proven here, not only in the verify step: a half-written key fails every time, and the device
        // would otherwise be sent back to verification on every plug.
        await proveKey(attempt, signal);
        attempt.mode = 'reverify';
        return;
      } catch (error) {
        // Only a signature that does not verify shows the key is not the certificate's. Anything else (a
        // busy or refusing device, a lost connection) ends the attempt, and the next plug asks again.
        if (!isStationError(error) || error.code !== 'device.proof-of-possession-failed') throw error;
      }
    }
  }
  try {
    await runtime.station.jobs.requireQuotaLeft(runtime.job.id);
  } catch (refusal) {
    await runtime.station.registry.transaction(runtime.actor, (tx) =>
      runtime.pki.certificates.revoke(tx, dead.id, 'superseded: key lost before write'),
    );
    throw new StationError(
      'provisioning.key-lost',
      `The key of certificate ${dead.id} was lost when the station stopped before writing it to the device, so that certificate is now revoked. ${(refusal as Error).message}`,
      { port: attempt.port.name, cause: refusal },
    );
  }
}

/** The device's live identity is re-verified, or, with --reprovision, replaced (the old one revoked). */
function takeLiveIdentity(
  runtime: JobRuntime,
  attempt: DeviceAttempt,
  live: CertificateRecord,
  thingName: string,
): void {
  attempt.liveCertificate = live;
  attempt.thingName = thingName;
  reverifyOrReplace(runtime, attempt, live);
}

/** The device carries a claim (see DeviceAttempt.carriedClaim): re-verified, or, with --reprovision, replaced. */
function takeCarriedClaim(runtime: JobRuntime, attempt: DeviceAttempt, claim: CertificateRecord): void {
  attempt.carriedClaim = claim;
  reverifyOrReplace(runtime, attempt, claim);
}

function reverifyOrReplace(runtime: JobRuntime, attempt: DeviceAttempt, held: CertificateRecord): void {
  if (runtime.reprovision) {
    attempt.mode = 'reissue';
    return;
  }
  attempt.mode = 'reverify';
  attempt.certificateId = held.id;
  attempt.certificatePem = held.pem;
}

/**
 * The claim the device carries, if the attempt that wrote it completed and the claim is still ACTIVE. A
 * device whose claim write failed may hold half of it, and one holding a revoked claim should lose it: those
 * are provisioned as new devices (and their carrier rows go with the identity written over them).
 */
async function carriedClaimOf(
  runtime: JobRuntime,
  driver: string,
  deviceId: string,
): Promise<CertificateRecord | undefined> {
  const carried = await new ClaimTable(runtime.station.registry.reader).carriedByDevice(driver, deviceId);
  const latest = carried.filter((row) => row.recordState === 'PROVISIONED').at(-1);
  if (!latest) return undefined;
  const claim = await runtime.pki.certificates.byId(latest.certificateId);
  return claim?.status === 'ACTIVE' ? claim : undefined;
}

/**
 * A device whose last certificate someone revoked (key compromise, a retired device) does not quietly get
 * a new identity: that takes --reprovision. Certificates the station superseded (re-provisioning, a claim
 * written over) do not count: the device was meant to get another.
 */
async function refuseRevokedIdentity(runtime: JobRuntime, attempt: DeviceAttempt, identity: DeviceIdentity) {
  // From the device's records, not its thing's principals: a certificate detached from the thing, or a
  // thing deleted, after the revocation must not let the device slip through. A device moved onto a claim
  // since (with --reprovision) carries that now; a claim is shared and never stops a device here.
  const last = await runtime.station.records.lastIdentityOf(attempt.port.driver.name, identity.deviceId);
  const latest = last && (await runtime.pki.certificates.byId(last.certificateId));
  if (
    latest?.status !== 'REVOKED' ||
    latest.keyOrigin === 'claim' ||
    latest.revocationReason?.startsWith('superseded:')
  )
    return;
  const was = last!.thingName
    ? `This device is ${last!.thingName}, whose certificate`
    : "This device's certificate";
  throw new StationError(
    'provisioning.identity-revoked',
    `${was} ${latest.id} was revoked (${latest.revocationReason ?? 'no reason given'}, ${latest.revokedAt?.slice(0, 10) ?? 'date unknown'}); ${runtime.job.status === 'active' ? 'plug it in with --reprovision to give it a new one' : `job ${runtime.job.id} is ${runtime.job.status}: provision it on an open job with --reprovision to give it a new one`}.`,
    { port: attempt.port.name, subject: last!.thingName ?? undefined, details: { certificateId: latest.id } },
  );
}

async function liveCertificateOf(
  runtime: JobRuntime,
  thingName: string,
): Promise<CertificateRecord | undefined> {
  const [active] = await runtime.pki.certificates.activeForThing(thingName);
  return active;
}

/**
 * One identity never gets two live certificates, even when two devices report it at once (a cloned IMEI
 * or MAC): the attempt that finds the identity bound, since it looked, to a thing with a live certificate
 * other than the one it replaces is refused, and its transaction leaves nothing.
 */
async function refuseDuplicateIdentity(runtime: JobRuntime, attempt: DeviceAttempt, tx: Transaction) {
  const driver = attempt.port.driver.name;
  const deviceId = attempt.identity!.deviceId;
  const bound = await runtime.station.devices.byIdentity(driver, deviceId, tx);
  if (!bound?.thingName) return;
  const live = await runtime.pki.certificates.activeForThing(bound.thingName, tx);
  if (live.every((certificate) => certificate.id === attempt.liveCertificate?.id)) return;
  throw new StationError(
    'provisioning.duplicate-identity',
    `Another device with this identity (${driver} ${deviceId}) is already ${bound.thingName}, provisioned while this one was on the bench: two devices report one identity; set this one aside and check its ID.`,
    { port: attempt.port.name, details: { driver, deviceId, thingName: bound.thingName } },
  );
}

/**
 * Register step: the job's CA (if any) still enabled, as it is now in the registry, not as it was when the
 * bench opened or when the certificate was signed moments ago. A certificate signed just before
 * `ca disable` committed in another terminal goes no further: not registered, not written.
 */
async function refuseDisabledCa(runtime: JobRuntime, tx: Transaction): Promise<void> {
  if (!runtime.ca) return;
  const ca = await runtime.pki.factoryCa.cas.byId(runtime.ca.id, tx);
  if (ca?.status !== 'ACTIVE') {
    throw new StationError(
      'pki.ca-disabled',
      `CA '${runtime.ca.name}' was disabled while the bench ran; its certificates are not accepted.`,
      { subject: runtime.ca.name },
    );
  }
}

/**
 * The one transaction that makes the identity (design.md 8): quota, certificate, thing, groups, policies,
 * attachments, device binding, record ISSUED and outbox rows. All or nothing: a crash before COMMIT
 * leaves no trace but a record IN_PROGRESS; after it, the record says ISSUED and a re-plug finishes it.
 */
async function registerIdentity(runtime: JobRuntime, attempt: DeviceAttempt, tx: Transaction): Promise<void> {
  const { station, job } = runtime;
  const registry = station.registry;
  const prepared = attempt.prepared!;
  const thingName = attempt.thingName!;
  const plan = planResources(runtime.template, {
    parameters: withCertificateRequest(
      runtime,
      attempt.parameters!,
      attempt.csr && toPem('CERTIFICATE REQUEST', attempt.csr),
    ),
    certificate: { id: prepared.record.id, subject: subjectFacts(parseCertificate(prepared.der).subject) },
  });
  if (plan.thing?.thingName !== thingName) {
    throw new StationError(
      'template.thing_name_changed',
      `The template names the thing ${plan.thing?.thingName ?? '(none)'} once the certificate exists, but ${thingName} before; the thing name must not depend on the certificate.`,
    );
  }
  await refuseDuplicateIdentity(runtime, attempt, tx);
  // Statements that do not depend on each other go to SQLite together: inside the one transaction their
  // order does not matter, and the device waits for a few round trips instead of one per statement.
  // Always with a note after the reason's name: an operator's own `cert revoke --reason superseded` has
  // none, and stops the device as any revocation does (refuseRevokedIdentity).
  const reason = attempt.keyLost ? 'superseded: key lost before write' : 'superseded: re-provisioned';
  const [certificate] = await Promise.all([
    runtime.pki.certificates.insert(tx, prepared.record),
    // The quota counts certificates the station signs; an existing certificate was signed elsewhere, but
    // its job is read again here all the same: it may have been closed since the bench opened (spendQuota
    // refuses a closed job for the others).
    job.keyMode !== 'existing' ? station.jobs.spendQuota(tx, job.id) : station.jobs.requireActive(tx, job.id),
    refuseDisabledCa(runtime, tx),
    attempt.liveCertificate
      ? runtime.pki.certificates.revoke(tx, attempt.liveCertificate.id, reason)
      : undefined,
  ]);
  // Queued for upload before what attaches to it; the tables queue the thing, its groups and the
  // attachments as they make them.
  tx.queueUploads([certificateUpload(certificate)]);
  const tables = { things: registry.things, thingGroups: registry.thingGroups, policies: station.policies };
  const applied = await applyResourcePlan(tx, tables, plan, certificate.id);
  const binding = station.devices.bind(tx, attempt.port.driver.name, attempt.identity!.deviceId, thingName);
  const issued = station.records.markIssued(tx, attempt.recordId, {
    thingName,
    certificateId: certificate.id,
    resources: { plan, applied },
  });
  await Promise.all([binding, issued]);
  attempt.plan = plan;
  attempt.certificateId = certificate.id;
  attempt.certificatePem = certificate.pem;
}

/**
 * Reads back what is on the device and compares it with what the registry says; where the device can
 * sign, checks that it holds the key of its certificate (proof of possession).
 */
async function verifyDevice(runtime: JobRuntime, attempt: DeviceAttempt, signal: AbortSignal): Promise<void> {
  const session = attempt.session!;
  // Decided by the certificate verified here, not the one it may replace: a device re-provisioned from
  // an external certificate now holds what this job wrote, CA included, and is checked like any other.
  const external =
    attempt.mode === 'reverify'
      ? attempt.liveCertificate?.keyOrigin === 'external'
      : runtime.job.keyMode === 'existing';
  if (external) {
    // The station wrote nothing: the device must still hold the certificate the registry has.
    const held = await readDeviceCertificate(attempt, signal);
    if (held.certificate.id !== attempt.certificateId) {
      throw new StationError(
        'device.credential-mismatch',
        `The device now holds another certificate (${held.certificate.id.slice(0, 12)}…) than the one registered for it; plug it in with --reprovision to register the new one.`,
        { port: attempt.port.name, details: { expected: attempt.certificateId, found: held.certificate.id } },
      );
    }
    if (!attempt.proven && session.capabilities().proofOfPossession) await proveKey(attempt, signal);
    return;
  }
  const expected = attempt.written.size > 0 ? new Map(attempt.written) : await earlierWrite(runtime, attempt);
  // A device provisioned before that lost its credentials (erased, reflashed) needs them again.
  const remedy = attempt.carriedClaim
    ? runtime.claim?.certificateId === attempt.carriedClaim.id
      ? 'write the claim again'
      : `write ${runtime.claim ? "this job's claim" : 'a certificate of its own'} in place of the claim it carried`
    : !runtime.claim
      ? 'give it a new certificate (the old one is revoked)'
      : attempt.liveCertificate
        ? 'write the claim in its place (its own certificate is revoked)'
        : 'write the claim again';
  const lostEarlier = (what: string) =>
    `${what}, though it was provisioned before${attempt.thingName ? ` as ${attempt.thingName}` : ''}; plug it in with --reprovision to ${remedy}.`;
  for (const [slot, bytes] of expected) {
    const readBack = await session.readCredential(slot, { signal });
    if (!readBack.present) {
      throw new StationError(
        'device.credential-missing',
        attempt.mode === 'reverify'
          ? lostEarlier(`The device's ${slot} slot is empty`)
          : `The device's ${slot} slot is empty after writing it.`,
        { port: attempt.port.name },
      );
    }
    const wanted = sha256Hex(bytes);
    const found = readBack.bytes ? sha256Hex(readBack.bytes) : readBack.sha256?.toLowerCase();
    // A device that cannot report a key's digest only says it is there (protocols.md 1.6 step 9).
    if (found === undefined && slot === 'key') continue;
    if (found !== wanted) {
      throw new StationError(
        'device.credential-mismatch',
        attempt.mode === 'reverify'
          ? lostEarlier(`The ${slot} on the device differs from the one the station issued`)
          : `The ${slot} on the device differs from the one the station wrote; write it again.`,
        { port: attempt.port.name, details: { slot, expected: wanted, found: found ?? null } },
      );
    }
  }
  if (session.capabilities().proofOfPossession) await proveKey(attempt, signal);
}

/**
 * What the station wrote for the identity a re-verification concerns: the certificate, the CA that issued
 * it (another job's, maybe: the device's identity is not the job's), and a claim's key.
 */
async function earlierWrite(
  runtime: JobRuntime,
  attempt: DeviceAttempt,
): Promise<Map<CredentialSlot, Uint8Array>> {
  const issued = attempt.liveCertificate ?? attempt.carriedClaim; // absent: this claim job's claim
  const caId = issued ? issued.caId : runtime.ca!.id;
  const ca =
    caId === runtime.ca?.id ? runtime.ca : caId ? await runtime.pki.factoryCa.cas.byId(caId) : undefined;
  const written = new Map<CredentialSlot, Uint8Array>();
  if (ca) written.set('ca', Buffer.from(ca.pem));
  written.set('certificate', Buffer.from(attempt.certificatePem!));
  // Only this job's claim key is in memory; another claim's is proven by a signed challenge, where it can be.
  if (runtime.claim && (!issued || issued.id === runtime.claim.certificateId))
    written.set('key', runtime.claim.keyPem);
  return written;
}

/** Has the device sign a random challenge and checks it with the key of attempt.certificatePem. */
async function proveKey(attempt: DeviceAttempt, signal: AbortSignal): Promise<void> {
  const challenge = randomBytes(32);
  const signature = await attempt.session!.signChallenge(challenge, { signal });
  const [block] = pemBlocks(attempt.certificatePem!);
  const publicKey = createPublicKey({
    key: Buffer.from(parseCertificate(block!.der).spki),
    format: 'der',
    type: 'spki',
  });
  if (!verifySignature('sha256', challenge, { key: publicKey, dsaEncoding: 'der' }, signature)) {
    throw new StationError('device.proof-of-possession-failed', possessionFailure(attempt), {
      port: attempt.port.name,
    });
  }
  attempt.proven = true;
}

function possessionFailure(attempt: DeviceAttempt): string {
  return attempt.deviceCertificate
    ? 'The device could not prove it holds the key of its certificate (its signature does not verify); the certificate may be copied from another device: do not register it.'
    : "The device could not prove it holds its certificate's key; provision it again.";
}

/**
 * existing mode: the certificate slot, read back in full. A driver that reports only a digest cannot give
 * the station the certificate to register.
 */
async function readDeviceCertificate(
  attempt: DeviceAttempt,
  signal: AbortSignal,
): Promise<DeviceCertificate> {
  const session = attempt.session!;
  const readBack = await session.readCredential('certificate', { signal });
  if (!readBack.present) {
    throw new StationError(
      'device.no-certificate',
      'The device holds no certificate to register; provision it with a csr or inject job instead.',
      { port: attempt.port.name },
    );
  }
  if (!readBack.bytes) {
    throw new StationError(
      'device.certificate-not-readable',
      `A ${session.driver} device reports only a digest of its certificate, so the station cannot register the certificate it holds; use a csr or inject job.`,
      { port: attempt.port.name },
    );
  }
  return parseDeviceCertificate(readBack.bytes);
}

/**
 * existing mode, key step: the device signs a challenge with the key of the certificate it holds. Where
 * the driver cannot sign, a job that requires the proof refuses the device; others go on without it (the
 * chain to the CA is then what vouches for the certificate).
 */
async function proveExistingKey(
  runtime: JobRuntime,
  attempt: DeviceAttempt,
  signal: AbortSignal,
): Promise<void> {
  const session = attempt.session!;
  attempt.certificatePem = toPem('CERTIFICATE', attempt.deviceCertificate!.certificate.der);
  if (session.capabilities().proofOfPossession) {
    await proveKey(attempt, signal);
    return;
  }
  if (runtime.job.keyOptions.existing?.requireProofOfPossession) {
    throw new StationError(
      'provisioning.proof-unavailable',
      `Job ${runtime.job.id} requires proof of possession, but a ${session.driver} device cannot sign a challenge; register these devices with a job that does not require it.`,
      { port: attempt.port.name },
    );
  }
}

/**
 * existing mode, identify step: a certificate already in the registry (registered for another device, so
 * copied, or revoked) is refused before anything else is decided from it.
 */
async function refuseKnownCertificate(runtime: JobRuntime, attempt: DeviceAttempt): Promise<void> {
  const id = attempt.deviceCertificate!.certificate.id;
  if (attempt.liveCertificate?.id === id) {
    throw new StationError(
      'provisioning.certificate-unchanged',
      'The device still holds the certificate registered for it: there is nothing to re-provision; plug it in without --reprovision to re-verify it.',
      { port: attempt.port.name, subject: id },
    );
  }
  const known = await runtime.pki.certificates.byId(id);
  if (!known) return;
  throw new StationError(
    known.status === 'REVOKED' ? 'provisioning.certificate-revoked' : 'provisioning.certificate-taken',
    known.status === 'REVOKED'
      ? `The device's certificate was revoked on ${known.revokedAt ?? '?'} (${known.revocationReason ?? 'no reason'}); it cannot be registered again.`
      : `The device's certificate is already registered (station cert describe ${known.id}); two devices cannot share one certificate.`,
    { port: attempt.port.name, subject: known.id },
  );
}

/** existing mode, issue step: the certificate is checked against the job's CA, or taken without one. */
function acceptDeviceCertificate(runtime: JobRuntime, attempt: DeviceAttempt): PreparedCertificate {
  const held = attempt.deviceCertificate!;
  const accepted = acceptExistingCertificate(held, {
    ...(runtime.ca && { ca: runtime.ca }),
    jobId: runtime.job.id,
  });
  return { record: accepted.record, der: held.certificate.der };
}

/**
 * claim mode, register step: records that this device carries the claim, before the claim is written, in
 * one transaction with the record ISSUED. The claim and the job are re-checked here, so a claim revoked or
 * a job closed while the bench runs reaches no further device.
 */
async function registerClaimCarrier(
  runtime: JobRuntime,
  attempt: DeviceAttempt,
  tx: Transaction,
): Promise<void> {
  const { station, job } = runtime;
  const claim = runtime.claim!;
  // The job too: one closed while its bench runs hands its claim to no further device.
  await Promise.all([
    usableClaim(station, runtime.pki, claim.certificateId, tx),
    station.jobs.requireActive(tx, job.id),
  ]);
  // The claim's key replaces the key of the device's own identity: that certificate can serve no more.
  if (attempt.liveCertificate)
    await runtime.pki.certificates.revoke(tx, attempt.liveCertificate.id, `superseded: claim ${claim.name}`);
  const claims = new ClaimTable(station.registry.reader);
  await claims.recordCarrier(tx, {
    certificateId: claim.certificateId,
    driver: attempt.port.driver.name,
    deviceId: attempt.identity!.deviceId,
    jobId: job.id,
    recordId: attempt.recordId,
  });
  await station.records.markIssued(tx, attempt.recordId, {
    thingName: null,
    certificateId: claim.certificateId,
    resources: { claim: claim.name },
  });
  attempt.certificateId = claim.certificateId;
  attempt.certificatePem = claim.certificatePem;
}

function identityFacts(identity: DeviceIdentity): Record<string, string> {
  const facts: Record<string, string> = {};
  for (const [field, value] of Object.entries(identity)) if (typeof value === 'string') facts[field] = value;
  return facts;
}

/** The template built-ins' names (aws-iot-spec.md 1) of the subject attributes, by OID. */
const subjectFactNames: Record<string, string> = {
  '2.5.4.3': 'commonName',
  '2.5.4.6': 'country',
  '2.5.4.10': 'organization',
  '2.5.4.11': 'organizationalUnit',
  '2.5.4.46': 'distinguishedNameQualifier',
  '2.5.4.8': 'stateName',
  '2.5.4.5': 'serialNumber',
};

/** The first value of each subject field the template built-ins use. */
function subjectFacts(subject: readonly NameAttribute[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const attribute of subject) {
    const field = subjectFactNames[attribute.oid];
    if (field && !(field in fields)) fields[field] = attribute.value;
  }
  return fields;
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
