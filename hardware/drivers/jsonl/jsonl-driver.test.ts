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

  it.each([
    [384, 256],
    [256, 256],
    [1024, 64],
  ])(
    'fits every line it sends into the maxLine a device announces (%i bytes, chunk %i)',
    async (maxLine, chunk) => {
      const pair = createMemoryPair();
      const simulator = new JsonlSimulator({ seed: 5, maxLineBytes: maxLine, chunkBytes: chunk });
      simulator.attach(pair.device);
      const lineLengths: number[] = [];
      let pending = 0;
      pair.device.on('data', (bytes: Buffer) => {
        for (const byte of bytes) {
          pending += 1;
          if (byte === 0x0a) {
            lineLengths.push(pending);
            pending = 0;
          }
        }
      });
      const link = linkFromDuplex('mem-maxline', pair.host);
      try {
        const session = await jsonlDriver.open(link);
        const certificate = Buffer.from(
          `-----BEGIN CERTIFICATE-----\n${'MIIB'.repeat(400)}\n-----END CERTIFICATE-----\n`,
        );
        await session.writeCredential('certificate', certificate);
        expect(Buffer.from(simulator.storedCredentials().get('certificate') ?? [])).toEqual(certificate);
        expect(Math.max(...lineLengths)).toBeLessThanOrEqual(maxLine);
        // No chunk larger than the device takes, and no more chunks than needed.
        const chunks = (session.transcript?.() ?? []).filter((entry) => entry.text.includes('"write.chunk"'));
        for (const entry of chunks) {
          const { data } = JSON.parse(entry.text) as { data: string };
          expect(Buffer.from(data, 'base64').length).toBeLessThanOrEqual(chunk);
        }
        expect(chunks.length).toBeLessThan(certificate.length / Math.min(chunk, (maxLine - 110) * 0.75) + 1);
        await session.close();
      } finally {
        simulator.close();
        await link.close();
      }
    },
  );
});
