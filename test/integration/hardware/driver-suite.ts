import 'reflect-metadata';
import { createHash, createPublicKey, verify } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isStationError, type StationError } from '../../../src/api/errors.js';
import type {
  CredentialSlot,
  DeviceDriver,
  DeviceSession,
  DeviceSimulator,
  SimulatorFault,
  SimulatorOptions,
} from '../../../hardware/drivers/device-driver.js';
import { makeSampleCredentials, type SampleCredentials } from './sample-credentials.js';
import {
  connectSimulatedDevice,
  isProcessAlive,
  type SimulatedDevice,
  type SimulatedTransport,
} from './simulated-device.js';

/** What a fault case does on the faulty device, after opening a session on it. */
export type FaultedOperation = 'identify' | 'write-certificate' | 'read-certificate' | 'generate-csr';

export interface FaultCase {
  fault: SimulatorFault;
  operation: FaultedOperation;
  /** The StationError code the driver must give, e.g. transport.timeout or device.storage-full. */
  expectedCode: string;
  /** Timeout passed to the operation; the error must come within it. */
  timeoutMs: number;
}

export interface DriverSuiteOptions {
  driver: DeviceDriver;
  createSimulator: (options: SimulatorOptions) => DeviceSimulator;
  transport: SimulatedTransport;
  /** Every SimulatorFaultKind should appear at least once. */
  faultCases: FaultCase[];
  /** Options every simulated device gets (e.g. a small latency over ptys). */
  simulatorOptions?: SimulatorOptions;
}

/** Slack for the error to surface after its timeout (event loop, pty, socat). */
const deliverySlackMs = 2_000;

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/**
 * The one suite every driver passes against its simulator, in memory and over a real pty pair:
 * identify, capabilities, device CSR, write and read back, delete, challenge signing where capable,
 * cancellation, and every fault giving its typed error on its own port while another device completes.
 */
export function describeDriverSuite(options: DriverSuiteOptions): void {
  const { driver, transport } = options;
  const devices: SimulatedDevice[] = [];
  const socatPids: number[] = [];
  let samples: SampleCredentials;
  let seed = 1;

  const connect = async (extra: SimulatorOptions = {}): Promise<SimulatedDevice> => {
    const simulator = options.createSimulator({ seed: seed++, ...options.simulatorOptions, ...extra });
    const device = await connectSimulatedDevice(driver, simulator, transport);
    devices.push(device);
    if (device.socatPid !== undefined) socatPids.push(device.socatPid);
    return device;
  };

  const writeAndVerify = async (session: DeviceSession, device: SimulatedDevice, slot: CredentialSlot) => {
    const content = samples[slot];
    await session.writeCredential(slot, content);
    expect(Buffer.from(device.simulator.storedCredentials().get(slot) ?? [])).toEqual(Buffer.from(content));
    const readBack = await session.readCredential(slot);
    expect(readBack.present).toBe(true);
    const capabilities = session.capabilities();
    if (capabilities.readBack === 'digest') expect(readBack.sha256).toBe(sha256(content));
    if (capabilities.readBack === 'full' && slot !== 'key') {
      expect(Buffer.from(readBack.bytes ?? [])).toEqual(Buffer.from(content));
    }
  };

  describe(`${driver.name} driver against its simulator (${transport})`, () => {
    beforeAll(async () => {
      samples = await makeSampleCredentials();
    });

    afterEach(async () => {
      await Promise.all(devices.splice(0).map((device) => device.dispose()));
    });

    afterAll(() => {
      for (const pid of socatPids) expect(isProcessAlive(pid), `socat ${pid} left running`).toBe(false);
    });

    it('identifies the device as the simulator knows itself', async () => {
      const device = await connect();
      const session = await device.open();
      const identity = await session.identify();
      expect(identity.deviceId).toBe(device.simulator.identity.deviceId);
      // Jobs are checked against the declared fields: a field reported but not declared would be refused.
      const reported = Object.entries(identity).filter(([, value]) => value !== undefined);
      for (const [field] of reported) expect(driver.identityFields).toContain(field);
      expect(session.port).toBe(device.port);
      expect(session.driver).toBe(driver.name);
    });

    it('states capabilities a pipeline can plan with', async () => {
      const session = await (await connect()).open();
      const capabilities = session.capabilities();
      // Jobs for the family were checked against what it declares: every device must live up to it.
      if (driver.familyCapabilities) expect(capabilities).toMatchObject(driver.familyCapabilities);
      expect(capabilities.keyGeneration || capabilities.keyInjection).toBe(true);
      expect(capabilities.maxCredentialBytes).toBeGreaterThan(samples.certificate.length);
    });

    it('returns a CSR from a device-made key whose signature verifies', async () => {
      const session = await (await connect()).open();
      if (!session.capabilities().keyGeneration) return;
      const der = await session.generateCsr({ commonName: 'suite-device-1' });
      const csr = new x509.Pkcs10CertificateRequest(der);
      expect(await csr.verify()).toBe(true);
      if (!session.capabilities().proofOfPossession) return;
      const challenge = Buffer.from('proof of possession challenge');
      const signature = await session.signChallenge(challenge);
      const publicKey = createPublicKey({
        key: Buffer.from(csr.publicKey.rawData),
        format: 'der',
        type: 'spki',
      });
      expect(verify('sha256', challenge, publicKey, Buffer.from(signature))).toBe(true);
    });

    it('stores CA and certificate byte-exact and reads them back', async () => {
      const device = await connect();
      const session = await device.open();
      await writeAndVerify(session, device, 'ca');
      await writeAndVerify(session, device, 'certificate');
    });

    it('stores an injected key where the device accepts one', async () => {
      const device = await connect();
      const session = await device.open();
      if (!session.capabilities().keyInjection) return;
      await session.writeCredential('key', samples.key, { onProgress: () => undefined });
      expect(Buffer.from(device.simulator.storedCredentials().get('key') ?? [])).toEqual(
        Buffer.from(samples.key),
      );
      expect((await session.readCredential('key')).present).toBe(true);
    });

    it('replaces what a slot held and deletes it', async () => {
      const device = await connect();
      const session = await device.open();
      await session.writeCredential('ca', samples.certificate);
      await writeAndVerify(session, device, 'ca');
      await session.deleteCredential('ca');
      expect((await session.readCredential('ca')).present).toBe(false);
      expect(device.simulator.storedCredentials().has('ca')).toBe(false);
      await session.deleteCredential('ca');
    });

    it('refuses to sign a challenge when it says it cannot', async () => {
      const session = await (await connect()).open();
      if (session.capabilities().proofOfPossession) return;
      await expect(session.signChallenge(Buffer.from('challenge'))).rejects.toSatisfy(isStationError);
    });

    it('stops a command when its AbortSignal fires', async () => {
      const device = await connect({ latencyMs: 400 });
      const session = await device.open({ timeoutMs: 5_000 });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      const error = await session
        .writeCredential('certificate', samples.certificate, { signal: controller.signal, timeoutMs: 5_000 })
        .then(
          () => undefined,
          (caught: unknown) => caught,
        );
      expect(error).toMatchObject({ code: 'transport.aborted', port: device.port });
    });

    for (const faultCase of options.faultCases) {
      const { fault, operation, expectedCode, timeoutMs } = faultCase;
      const title = `${fault.kind}${fault.match ? ` on ${fault.match}` : ''}`;
      it(`gives ${expectedCode} for ${title} during ${operation} on that port only`, async () => {
        const faulty = await connect({ faults: [fault] });
        const healthy = await connect();
        const guard = timeoutMs + deliverySlackMs;

        const faultyRun = (async () => {
          const session = await faulty.open({ timeoutMs });
          await runOperation(session, operation, samples, timeoutMs);
        })().then(
          () => new Error(`${operation} succeeded despite the ${fault.kind} fault`),
          (error: unknown) => error,
        );
        const healthyRun = (async () => {
          const session = await healthy.open();
          await writeAndVerify(session, healthy, 'ca');
          await writeAndVerify(session, healthy, 'certificate');
        })();

        const error = await withGuard(faultyRun, guard, `no error within ${guard} ms`);
        expect(isStationError(error), String(error)).toBe(true);
        expect((error as StationError).code).toBe(expectedCode);
        expect((error as StationError).port).toBe(faulty.port);
        await healthyRun;
      });
    }
  });
}

async function runOperation(
  session: DeviceSession,
  operation: FaultedOperation,
  samples: SampleCredentials,
  timeoutMs: number,
): Promise<void> {
  switch (operation) {
    case 'identify':
      await session.identify({ timeoutMs });
      return;
    case 'write-certificate':
      await session.writeCredential('certificate', samples.certificate, { timeoutMs });
      return;
    case 'read-certificate':
      await session.writeCredential('certificate', samples.certificate, { timeoutMs });
      await session.readCredential('certificate', { timeoutMs });
      return;
    case 'generate-csr':
      await session.generateCsr({}, { timeoutMs });
      return;
  }
}

function withGuard<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([work, guard]).finally(() => clearTimeout(timer));
}
