import { afterEach, describe, expect, it } from 'vitest';
import { jsonlDriver } from '../drivers/jsonl/index.js';
import { parseFaultSpec, startMemorySims, type MemorySimDevice, type SimHost } from './sim-host.js';

describe('parseFaultSpec', () => {
  it('reads kinds, delays, command prefixes and counts', () => {
    expect(parseFaultSpec('drop-response:AT%CMNG@2, slow=8000:AT+CGSN,garble')).toEqual([
      { kind: 'drop-response', match: 'AT%CMNG', nth: 2 },
      { kind: 'slow', match: 'AT+CGSN', delayMs: 8000 },
      { kind: 'garble' },
    ]);
    // A comma always separates faults, so a match cannot hold one.
    expect(() => parseFaultSpec('refuse:AT+SYSMFG=2,"client_cert"')).toThrow(/is not KIND/);
    expect(parseFaultSpec('')).toEqual([]);
  });

  it('refuses unknown kinds, delays on other kinds and a zeroth match', () => {
    expect(() => parseFaultSpec('explode')).toThrow(/KIND\[=DELAY_MS\]/);
    expect(() => parseFaultSpec('garble=100')).toThrow(/only slow takes a delay/);
    expect(() => parseFaultSpec('refuse:write.begin@0')).toThrow(/counts from 1/);
  });
});

describe('startMemorySims', () => {
  let host: SimHost<MemorySimDevice> | undefined;
  afterEach(async () => host?.stop());

  it('starts distinct, repeatable devices and closes their links on stop', async () => {
    host = startMemorySims({ driver: 'jsonl', count: 3, seed: 40 });
    const identities = await Promise.all(
      host.devices.map(async (device) => (await jsonlDriver.open(device.link)).identify()),
    );
    expect(new Set(identities.map((identity) => identity.deviceId)).size).toBe(3);
    const again = startMemorySims({ driver: 'jsonl', count: 1, seed: 41 });
    expect(again.devices[0]!.simulator.identity.deviceId).toBe(identities[1]!.deviceId);
    await again.stop();
    await host.stop();
    expect(host.devices.every((device) => device.link.closed)).toBe(true);
  });

  it('refuses an unknown driver and a count out of range', () => {
    expect(() => startMemorySims({ driver: 'z80', count: 1 })).toThrow(/no driver named "z80"/);
    expect(() => startMemorySims({ driver: 'jsonl', count: 0 })).toThrow(/count/);
  });
});
