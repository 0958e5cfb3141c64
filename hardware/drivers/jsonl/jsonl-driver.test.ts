import { describe, expect, it } from 'vitest';
import { createMemoryPair } from '../../sim/memory-pair.js';
import { linkFromDuplex } from '../../transport/duplex-link.js';
import { jsonlDriver, JsonlSimulator } from './index.js';

describe('jsonl session', () => {
  it('identifies from the hello that opened it, and asks the device again on a later identify', async () => {
    const pair = createMemoryPair();
    const simulator = new JsonlSimulator({ seed: 4 });
    simulator.attach(pair.device);
    let hellos = 0;
    pair.device.on('data', (chunk: Buffer) => (hellos += chunk.toString().split('"cmd":"hello"').length - 1));
    const link = linkFromDuplex('mem-hello', pair.host);
    try {
      const session = await jsonlDriver.open(link);
      expect(hellos).toBe(1);
      const first = await session.identify();
      expect(hellos, 'the opening hello answered it').toBe(1);
      expect(first.deviceId).toBe(simulator.identity.deviceId);
      expect(await session.identify()).toEqual(first);
      expect(hellos).toBe(2);
      await session.close();
    } finally {
      simulator.close();
      await link.close();
    }
  });
});
