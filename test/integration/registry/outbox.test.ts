import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OutboxTable } from '../../../src/registry/outbox.js';
import { openTempRegistry, type TempRegistry } from './temp-registry.js';

let temp: TempRegistry;
let outbox: OutboxTable;

beforeEach(async () => {
  temp = await openTempRegistry();
  outbox = new OutboxTable(temp.registry.reader);
});

afterEach(() => temp.dispose());

describe('outbox', () => {
  it('queues several uploads in one call, each (kind, subject) once, and audits only the new ones', async () => {
    const first = await temp.registry.transaction('test:a', (tx) =>
      outbox.enqueueMany(tx, [
        { kind: 'thing', subject: 'sensor-1', payload: { n: 1 } },
        { kind: 'certificate', subject: 'abc', payload: { n: 2 } },
      ]),
    );
    const second = await temp.registry.transaction('test:a', (tx) =>
      outbox.enqueueMany(tx, [
        { kind: 'thing', subject: 'sensor-1', payload: { n: 3 } },
        { kind: 'thing', subject: 'sensor-2', payload: { n: 4 } },
      ]),
    );
    expect([first, second]).toEqual([2, 1]);
    const pending = await outbox.pending();
    expect(pending.map((entry) => [entry.kind, entry.subject, entry.payload])).toEqual([
      ['thing', 'sensor-1', { n: 1 }],
      ['certificate', 'abc', { n: 2 }],
      ['thing', 'sensor-2', { n: 4 }],
    ]);
    const audited = (await temp.registry.audit.list()).map((entry) => entry.subject);
    expect(audited).toEqual(['thing:sensor-1', 'certificate:abc', 'thing:sensor-2']);
    expect(
      await temp.registry.transaction('test:a', (tx) => outbox.enqueue(tx, 'thing', 'sensor-2', {})),
    ).toBe(false);
  });

  it('queues nothing when the transaction fails', async () => {
    await expect(
      temp.registry.transaction('test:a', async (tx) => {
        await outbox.enqueue(tx, 'thing', 'sensor-1', {});
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await outbox.count()).toBe(0);
  });
});
