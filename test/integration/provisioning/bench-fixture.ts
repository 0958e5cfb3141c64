// A data folder ready to provision: a factory CA in the chosen key store, a template and a policy, and a
// job per key mode. Shared by the bench end-to-end, crash and fault tests.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { KeyMode } from '../../../src/api/provisioning.js';
import { writeSettings, type KeyStoreSettings } from '../../../src/config/settings.js';
import { createJob } from '../../../src/provisioning/job-runtime.js';
import { Station } from '../../../src/station.js';
import type { DriverName } from '../../../hardware/drivers/device-driver.js';

export const caName = 'factory';
export const actor = 'test:bench';

export const templateBody = JSON.stringify({
  Parameters: { ThingName: { Type: 'String' }, SerialNumber: { Type: 'String' } },
  Resources: {
    thing: {
      Type: 'AWS::IoT::Thing',
      Properties: {
        ThingName: { Ref: 'ThingName' },
        AttributePayload: { serialNumber: { Ref: 'SerialNumber' } },
      },
    },
    certificate: {
      Type: 'AWS::IoT::Certificate',
      Properties: { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' }, Status: 'ACTIVE' },
    },
    policy: {
      Type: 'AWS::IoT::Policy',
      Properties: {
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Action: 'iot:Connect',
              Resource: 'arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}',
            },
          ],
        },
      },
    },
  },
});

/** Drivers whose devices make their own key use csr jobs; the others get HSM-injected keys. */
export function keyModeFor(driver: DriverName): Extract<KeyMode, 'csr' | 'inject'> {
  return driver === 'nrf91' || driver === 'jsonl' ? 'csr' : 'inject';
}

export interface BenchFixture {
  dataDir: string;
  /** Key store secrets as the CLI reads them from the environment. */
  env: NodeJS.ProcessEnv;
  jobs: Record<'csr' | 'inject', number>;
  open(): Promise<Station>;
  cleanup(): Promise<void>;
}

export async function createBenchFixture(
  keyStore: KeyStoreSettings,
  secrets: { pin?: string; passphrase?: string },
  quota = 1000,
): Promise<BenchFixture> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'station-bench-'));
  await writeSettings(dataDir, { version: 1, keyStore });
  const open = () =>
    Station.open({
      dataDir,
      keyStore: {
        ...(secrets.pin !== undefined && { pin: secrets.pin }),
        ...(secrets.passphrase !== undefined && { passphrase: secrets.passphrase }),
      },
    });
  const station = await open();
  const jobs = { csr: 0, inject: 0 };
  try {
    const pki = await station.pki();
    await pki.factoryCa.createRoot({ name: caName, days: 3650, pathLength: 0 }, actor);
    await station.registry.transaction(actor, (tx) => station.templates.add(tx, 'sensor', templateBody));
    for (const keyMode of ['csr', 'inject'] as const) {
      const job = await createJob(
        station,
        {
          label: `${keyMode} line`,
          template: { name: 'sensor' },
          parameters: {
            constants: {},
            identity: { SerialNumber: 'deviceId' },
            sequence: { parameter: 'ThingName', pattern: `${keyMode}-{00000}`, start: 1 },
          },
          driver: 'auto',
          ca: caName,
          keyMode,
          quota,
        },
        actor,
      );
      jobs[keyMode] = job.id;
    }
  } finally {
    await station.close();
  }
  return {
    dataDir,
    env: {
      ...(secrets.pin !== undefined && { STATION_HSM_PIN: secrets.pin }),
      ...(secrets.passphrase !== undefined && { STATION_SOFT_PASSPHRASE: secrets.passphrase }),
    },
    jobs,
    open,
    cleanup: () => rm(dataDir, { recursive: true, force: true }),
  };
}
