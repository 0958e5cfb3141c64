import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceSession, SimulatorFault } from '../../../hardware/drivers/device-driver.js';
import { jsonlDriver } from '../../../hardware/drivers/jsonl/index.js';
import { JsonlChannel } from '../../../hardware/drivers/jsonl/jsonl-channel.js';
import {
  crc32Hex,
  emptyResultSchema,
  sha256Hex,
  writeChunkResultSchema,
} from '../../../hardware/drivers/jsonl/protocol.js';
import { startMemorySims, type MemorySimDevice, type SimHost } from '../../../hardware/sim/sim-host.js';
import { placeholderKeyPem } from '../../fixtures/placeholder-key.js';

// jsonl specifics over in-memory pairs: what the shared driver suite does not know about this protocol
// (torn writes never committed, late answers ignored, damaged chunks resent, the error each fault gives).

const certificate = Buffer.from(
  `-----BEGIN CERTIFICATE-----\n${'MIIB'.repeat(300)}\n-----END CERTIFICATE-----\n`,
);
const hosts: SimHost<MemorySimDevice>[] = [];

afterEach(async () => {
  await Promise.all(hosts.splice(0).map((host) => host.stop()));
});

function startDevice(faults: SimulatorFault[]): MemorySimDevice {
  const host = startMemorySims({ driver: 'jsonl', count: 1, faults, seed: hosts.length });
  hosts.push(host);
  return host.devices[0]!;
}

async function openDevice(faults: SimulatorFault[]): Promise<[DeviceSession, MemorySimDevice]> {
  const device = startDevice(faults);
  return [await jsonlDriver.open(device.link, { timeoutMs: 2_000 }), device];
}

async function errorOf(promise: Promise<unknown>): Promise<{ code: string; port?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code: string; port?: string };
  }
  throw new Error('expected a failure');
}

describe('jsonl driver against its simulator, in memory', () => {
  it('never commits a write torn by a disconnect, and reports it as a disconnect on that port', async () => {
    const [session, device] = await openDevice([{ kind: 'disconnect', match: 'write.chunk' }]);
    const error = await errorOf(session.writeCredential('certificate', certificate, { timeoutMs: 2_000 }));
    expect(error).toMatchObject({ code: 'transport.disconnected', port: session.port });
    expect(device.simulator.storedCredentials().has('certificate')).toBe(false);
  });

  it.each([
    ['drop-response', 'transport.timeout'],
    ['slow', 'transport.timeout'],
    ['garble', 'transport.garbled'],
    ['storage-full', 'device.storage-full'],
    ['refuse', 'device.refused'],
  ] as const)(
    'turns a %s fault into %s on that port while the other device completes',
    async (kind, code) => {
      const [faulty] = await openDevice([{ kind, match: 'write.begin', nth: 1, delayMs: 5_000 }]);
      const [healthy, healthyDevice] = await openDevice([]);
      const [failed, completed] = await Promise.allSettled([
        faulty.writeCredential('ca', certificate, { timeoutMs: 500 }),
        healthy.writeCredential('ca', certificate, { timeoutMs: 500 }),
      ]);
      expect(failed.status).toBe('rejected');
      expect((failed as PromiseRejectedResult).reason).toMatchObject({ code, port: faulty.port });
      expect(completed.status).toBe('fulfilled');
      expect(Buffer.from(healthyDevice.simulator.storedCredentials().get('ca') ?? [])).toEqual(certificate);
    },
  );

  it('ignores a late answer to a request it gave up on and pairs the next answer correctly', async () => {
    const [session] = await openDevice([{ kind: 'slow', match: 'slot.digest', nth: 1, delayMs: 300 }]);
    await session.writeCredential('ca', certificate);
    expect(await errorOf(session.readCredential('ca', { timeoutMs: 100 }))).toMatchObject({
      code: 'transport.timeout',
    });
    await new Promise((resolve) => setTimeout(resolve, 400)); // the late answer arrives now
    const readBack = await session.readCredential('ca');
    expect(Buffer.from(readBack.bytes ?? [])).toEqual(certificate);
  });

  it('cancels a write through its AbortSignal without committing it', async () => {
    const [session, device] = await openDevice([
      { kind: 'slow', match: 'write.chunk', nth: 2, delayMs: 5_000 },
    ]);
    const controller = new AbortController();
    const writing = session.writeCredential('certificate', certificate, {
      signal: controller.signal,
      onProgress: (sent) => sent >= 256 && controller.abort(),
    });
    expect(await errorOf(writing)).toMatchObject({ code: 'transport.aborted' });
    expect(device.simulator.storedCredentials().has('certificate')).toBe(false);
  });

  it('keeps the shape of secret requests in the transcript but not their payload', async () => {
    const channel = new JsonlChannel(startDevice([]).link, 2_000);
    const key = Buffer.from(placeholderKeyPem);
    const secret = { secret: true };
    await channel.request(
      { cmd: 'write.begin', slot: 'key', len: key.length, sha256: sha256Hex(key) },
      emptyResultSchema.loose(),
      secret,
    );
    const data = key.toString('base64');
    await channel.request(
      { cmd: 'write.chunk', slot: 'key', off: 0, data, crc: crc32Hex(key) },
      writeChunkResultSchema,
      secret,
    );
    const sent = channel.transcript().filter((entry) => entry.direction === 'tx');
    expect(sent.map((entry) => JSON.parse(entry.text).cmd)).toEqual(['write.begin', 'write.chunk']);
    expect(sent.some((entry) => entry.text.includes(data))).toBe(false);
    channel.detach();
  });
});
