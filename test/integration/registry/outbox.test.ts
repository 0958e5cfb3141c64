import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OutboxTable } from '../../../src/registry/outbox.js';
import { PolicyRegistry } from '../../../src/registry/policies.js';
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

  it('queues what things depend on, as it is made: thing types, groups, and policies with their default document', async () => {
    const policies = new PolicyRegistry(temp.registry.reader);
    const document = (action: string) =>
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: action, Resource: '*' }],
      });
    await temp.registry.transaction('test:a', async (tx) => {
      await temp.registry.thingTypes.create(tx, { name: 'lamp' });
      await temp.registry.thingGroups.create(tx, { name: 'floor-1' });
      await temp.registry.thingGroups.create(tx, { name: 'room-1', parentName: 'floor-1' });
      await policies.create(tx, 'connect', document('iot:Connect'));
      await policies.createVersion(tx, 'connect', document('iot:Publish'), false);
    });
    const state = async () =>
      Object.fromEntries(
        (await outbox.pending()).map((entry) => [`${entry.kind}:${entry.subject}`, entry.payload]),
      );
    expect(await state()).toEqual({
      'thing-type:lamp': {
        thingTypeName: 'lamp',
        description: null,
        searchableAttributes: [],
        deprecated: false,
      },
      'thing-group:floor-1': { thingGroupName: 'floor-1', parentGroupName: null, description: null },
      'thing-group:room-1': { thingGroupName: 'room-1', parentGroupName: 'floor-1', description: null },
      'policy:connect': { policyName: 'connect', version: 1, document: document('iot:Connect') },
    });
    await temp.registry.transaction('test:a', async (tx) => {
      await temp.registry.thingTypes.deprecate(tx, 'lamp');
      await policies.setDefaultVersion(tx, 'connect', 2);
    });
    expect(await state()).toMatchObject({
      'thing-type:lamp': { deprecated: true },
      'policy:connect': { version: 2, document: document('iot:Publish') },
    });
    await temp.registry.transaction('test:a', (tx) => policies.delete(tx, 'connect'));
    expect((await state())['policy:connect']).toEqual({ policyName: 'connect', deleted: true });
  });

  it('moves a changed row to the end of the queue, after what it may now name', async () => {
    await temp.registry.transaction('test:a', async (tx) => {
      await outbox.enqueue(tx, 'thing', 'lamp-1', { groups: [] });
      await outbox.enqueue(tx, 'thing-group', 'v2', { thingGroupName: 'v2' });
    });
    await temp.registry.transaction('test:a', async (tx) => {
      expect(await outbox.enqueue(tx, 'thing', 'lamp-1', { groups: ['v2'] })).toBe(true);
      // The same state again changes nothing, and keeps its place.
      expect(await outbox.enqueue(tx, 'thing-group', 'v2', { thingGroupName: 'v2' })).toBe(false);
    });
    const pending = await outbox.pending();
    expect(pending.map((entry) => `${entry.kind}:${entry.subject}`)).toEqual([
      'thing-group:v2',
      'thing:lamp-1',
    ]);
    expect(pending[1]!.payload).toEqual({ groups: ['v2'] });
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
