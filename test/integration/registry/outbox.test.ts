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
        { kind: 'policy-attachment', subject: 'p|abc', payload: { n: 2 } },
      ]),
    );
    const second = await temp.registry.transaction('test:a', (tx) =>
      outbox.enqueueMany(tx, [
        { kind: 'thing', subject: 'sensor-1', payload: { n: 1 } },
        { kind: 'policy-attachment', subject: 'p|abc', payload: { n: 3 } },
        { kind: 'thing', subject: 'sensor-2', payload: { n: 4 } },
      ]),
    );
    expect([first, second]).toEqual([2, 1]);
    const pending = await outbox.pending();
    expect(pending.map((entry) => [entry.kind, entry.subject, entry.payload])).toEqual([
      ['thing', 'sensor-1', { n: 1 }],
      ['policy-attachment', 'p|abc', { n: 2 }],
      ['thing', 'sensor-2', { n: 4 }],
    ]);
    const audited = (await temp.registry.audit.list()).map((entry) => entry.subject);
    expect(audited).toEqual(['thing:sensor-1', 'policy-attachment:p|abc', 'thing:sensor-2']);
    expect(
      await temp.registry.transaction('test:a', (tx) => outbox.enqueue(tx, 'thing', 'sensor-2', { n: 4 })),
    ).toBe(false);
  });

  it("keeps a thing's, certificate's or policy's latest state: a change replaces the row and makes it pending again", async () => {
    await temp.registry.transaction('test:a', (tx) =>
      outbox.enqueueMany(tx, [
        { kind: 'thing', subject: 'sensor-1', payload: { plan: 'first' } },
        { kind: 'certificate', subject: 'abc', payload: { pem: 'P', status: 'ACTIVE' } },
      ]),
    );
    // As an upload would once done with them.
    await temp.registry.transaction('test:upload', (tx) =>
      tx.run("UPDATE outbox SET sent_at = '2026-01-01T00:00:00Z', attempts = 1"),
    );
    expect(await outbox.pending()).toEqual([]);
    await temp.registry.transaction('test:a', async (tx) => {
      expect(await outbox.enqueue(tx, 'thing', 'sensor-1', { plan: 'second' })).toBe(true);
      expect(await outbox.restate(tx, 'certificate', 'abc', { status: 'REVOKED' })).toBe(true);
      expect(await outbox.restate(tx, 'certificate', 'never-queued', { status: 'REVOKED' })).toBe(false);
    });
    const pending = await outbox.pending();
    expect(pending.map((entry) => [entry.kind, entry.subject, entry.payload, entry.attempts])).toEqual([
      ['thing', 'sensor-1', { plan: 'second' }, 0],
      ['certificate', 'abc', { pem: 'P', status: 'REVOKED' }, 0],
    ]);
    expect(await outbox.count()).toBe(2);
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
