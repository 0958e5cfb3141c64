import { randomBytes } from 'node:crypto';
import type { JobSpec } from '../api/jobs.js';
import type { KeyMode, ProvisioningEvent } from '../api/provisioning.js';
import { makeDirectory } from '../config/data-dir.js';
import { defaultSettings, writeSettings } from '../config/settings.js';
import type { DriverName } from '../../hardware/drivers/device-driver.js';
import { driverByName } from '../../hardware/drivers/index.js';
import { startMemorySims, startPtySims, type SimHost } from '../../hardware/sim/sim-host.js';
import { validatePolicyDocument } from '../policy/index.js';
import { Station } from '../station.js';
import { Bench, openLinkDevicePort, serialDevicePort } from './bench.js';
import type { DeviceOutcome, DevicePort } from './device-pipeline.js';
import { createJob, openJobRuntime } from './job-runtime.js';

/**
 * `station demo`: the main job on embedded defaults. In a fresh data folder, with no HSM and no hardware:
 * the soft key store, a factory CA, a template and a policy, simulated devices of every driver, one job per
 * key mode (devices that make their own key get `csr`, the others `inject`), all provisioned at once.
 */
export interface DemoOptions {
  dataDir: string;
  devices: number;
  /** Simulated devices on pseudo-terminals instead of in memory. */
  ptys: boolean;
  /** Soft key store passphrase; a random one (kept nowhere) when absent. */
  passphrase?: string;
  actor: string;
  emit: (event: ProvisioningEvent) => void;
  /** Stops the bench (Ctrl+C): each device records where it stopped. */
  signal?: AbortSignal;
}

export interface DemoResult {
  dataDir: string;
  registryFile: string;
  keyStore: string;
  jobs: { id: number; keyMode: KeyMode; drivers: DriverName[] }[];
  outcomes: DeviceOutcome[];
  auditVerified: boolean;
}

const demoDrivers: readonly DriverName[] = ['nrf91', 'esp-at', 'quectel', 'jsonl'];
const caName = 'demo-factory-ca';
const templateName = 'demo-device';
const policyName = 'demo-device-policy';

/** Devices publish and subscribe only under their own thing name (aws-iot-spec.md 4, thing variables). */
const demoPolicy = {
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Action: 'iot:Connect',
      Resource: 'arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}',
    },
    {
      Effect: 'Allow',
      Action: ['iot:Publish', 'iot:Receive'],
      Resource: 'arn:aws:iot:*:*:topic/devices/${iot:Connection.Thing.ThingName}/*',
    },
    {
      Effect: 'Allow',
      Action: 'iot:Subscribe',
      Resource: 'arn:aws:iot:*:*:topicfilter/devices/${iot:Connection.Thing.ThingName}/*',
    },
  ],
};

const demoTemplate = {
  Parameters: {
    ThingName: { Type: 'String' },
    SerialNumber: { Type: 'String' },
    Line: { Type: 'String', Default: 'line-1' },
  },
  Resources: {
    thing: {
      Type: 'AWS::IoT::Thing',
      Properties: {
        ThingName: { Ref: 'ThingName' },
        AttributePayload: { serialNumber: { Ref: 'SerialNumber' }, line: { Ref: 'Line' } },
      },
    },
    certificate: {
      Type: 'AWS::IoT::Certificate',
      Properties: { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' }, Status: 'ACTIVE' },
    },
    policy: { Type: 'AWS::IoT::Policy', Properties: { PolicyName: policyName } },
  },
};

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  await makeDirectory(options.dataDir);
  await writeSettings(options.dataDir, defaultSettings);
  const station = await Station.open({
    dataDir: options.dataDir,
    keyStore: { passphrase: options.passphrase ?? randomBytes(24).toString('base64url') },
  });
  const sims: SimHost<unknown>[] = [];
  try {
    await setUpRegistry(station, options.actor);
    const perDriver = splitDevices(options.devices);
    const ports = new Map<KeyMode, DevicePort[]>([
      ['csr', []],
      ['inject', []],
    ]);
    const drivers = new Map<KeyMode, DriverName[]>([
      ['csr', []],
      ['inject', []],
    ]);
    for (const [name, count] of perDriver) {
      if (count === 0) continue;
      const driver = driverByName(name);
      // Realistic pacing: the UART at 115,200 baud and a few ms of device work per command.
      const simOptions = { driver: name, count, baudRate: 115_200, latencyMs: 5 };
      const devicePorts = options.ptys
        ? await startPtySims(simOptions).then((host) => {
            sims.push(host);
            return host.devices.map((device, index) =>
              serialDevicePort(device.path, driver, `${name}-${index + 1} (${device.path})`),
            );
          })
        : (() => {
            const host = startMemorySims(simOptions);
            sims.push(host);
            return host.devices.map((device) => openLinkDevicePort(device.link, driver));
          })();
      const keyMode: KeyMode = driver.name === 'nrf91' || driver.name === 'jsonl' ? 'csr' : 'inject';
      ports.get(keyMode)!.push(...devicePorts);
      drivers.get(keyMode)!.push(name);
    }
    const jobs: DemoResult['jobs'] = [];
    const runs: Promise<DeviceOutcome[]>[] = [];
    for (const [keyMode, jobPorts] of ports) {
      if (jobPorts.length === 0) continue;
      const job = await createJob(station, demoJob(keyMode, jobPorts.length), options.actor);
      jobs.push({ id: job.id, keyMode, drivers: drivers.get(keyMode)! });
      const runtime = await openJobRuntime(station, job.id, { actor: options.actor, emit: options.emit });
      runs.push(new Bench(runtime).runAll(jobPorts, options.signal));
    }
    const outcomes = (await Promise.all(runs)).flat();
    const audit = await station.registry.audit.verify();
    const keyStore = await station.keyStore();
    return {
      dataDir: options.dataDir,
      registryFile: station.registry.file,
      keyStore: keyStore.description,
      jobs,
      outcomes,
      auditVerified: audit.ok,
    };
  } finally {
    for (const sim of sims) await sim.stop();
    await station.close();
  }
}

async function setUpRegistry(station: Station, actor: string): Promise<void> {
  const pki = await station.pki();
  await pki.factoryCa.createRoot(
    {
      name: caName,
      subject: { commonName: 'Demo Factory CA', organization: 'Provisioning Station Demo' },
      days: 3650,
      pathLength: 0,
    },
    actor,
  );
  const policy = validatePolicyDocument(demoPolicy);
  if (!policy.ok) throw new Error(`demo policy invalid: ${JSON.stringify(policy.errors)}`);
  await station.registry.transaction(actor, async (tx) => {
    await station.policies.create(tx, policyName, JSON.stringify(demoPolicy));
    await station.templates.add(tx, templateName, JSON.stringify(demoTemplate, null, 2), {
      description: 'Demo: a thing named by sequence, its serial number from the device, the demo policy',
    });
  });
}

function demoJob(keyMode: KeyMode, devices: number): JobSpec {
  return {
    label: `demo ${keyMode === 'csr' ? 'device-generated keys' : 'HSM-injected keys'}`,
    template: { name: templateName },
    parameters: {
      constants: { Line: 'demo-line' },
      identity: { SerialNumber: 'deviceId' },
      sequence: {
        parameter: 'ThingName',
        pattern: keyMode === 'csr' ? 'demo-csr-{0000}' : 'demo-inj-{0000}',
        start: 1,
      },
    },
    driver: 'auto',
    ca: caName,
    keyMode,
    quota: devices,
  };
}

/** Spreads the devices over every driver, round robin. */
function splitDevices(devices: number): Map<DriverName, number> {
  const counts = new Map<DriverName, number>(demoDrivers.map((name) => [name, 0]));
  for (let index = 0; index < devices; index++) {
    const name = demoDrivers[index % demoDrivers.length]!;
    counts.set(name, counts.get(name)! + 1);
  }
  return counts;
}
