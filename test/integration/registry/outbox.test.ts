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

/** Links queued (unsent) before one of their ends that is unsent too: an upload in queue order would fail. */
async function linksBeforeTheirEnds(): Promise<string[]> {
  const rows = await temp.registry.reader.all<{ kind: string; subject: string; payload: string }>(
    'SELECT kind, subject, payload FROM outbox WHERE sent_at IS NULL ORDER BY id',
  );
  const position = new Map(rows.map((row, index) => [`${row.kind}:${row.subject}`, index]));
  const endsOf: Record<string, (payload: Record<string, string>) => string[]> = {
    'thing-group-member': (p) => [`thing-group:${p.thingGroupName}`, `thing:${p.thingName}`],
    'policy-attachment': (p) => [`policy:${p.policyName}`, `certificate:${p.certificateId}`],
    'thing-principal': (p) => [`thing:${p.thingName}`, `certificate:${p.certificateId}`],
  };
  return rows.flatMap((row, index) =>
    (endsOf[row.kind]?.(JSON.parse(row.payload) as Record<string, string>) ?? [])
      .filter((end) => (position.get(end) ?? -1) > index)
      .map((end) => `${row.kind}:${row.subject} before ${end}`),
  );
}

describe('outbox', () => {
  it('writes each (kind, subject) once and keeps an unchanged state where it is', async () => {
    await temp.registry.transaction('test:a', async (tx) =>
      tx.queueUploads([
        { kind: 'thing', subject: 'sensor-1', payload: { n: 1 } },
        { kind: 'policy-attachment', subject: 'p|abc', payload: { n: 2 } },
      ]),
    );
    await temp.registry.transaction('test:a', async (tx) =>
      tx.queueUploads([
        { kind: 'thing', subject: 'sensor-1', payload: { n: 1 } },
        { kind: 'thing', subject: 'sensor-2', payload: { n: 4 } },
      ]),
    );
    const pending = await outbox.pending();
    expect(pending.map((entry) => [entry.kind, entry.subject, entry.payload])).toEqual([
      ['thing', 'sensor-1', { n: 1 }],
      ['policy-attachment', 'p|abc', { n: 2 }],
      ['thing', 'sensor-2', { n: 4 }],
    ]);
    expect(await outbox.count()).toBe(3);
  });

  it('writes a subject queued twice in one transaction once, with its last state, at its first place', async () => {
    await temp.registry.transaction('test:a', async (tx) => {
      outbox.enqueue(tx, 'thing', 'sensor-1', { n: 1 });
      outbox.enqueue(tx, 'thing-group', 'floor-1', { n: 2 });
      outbox.enqueue(tx, 'thing', 'sensor-1', { n: 3 });
      expect(await outbox.restate(tx, 'thing', 'sensor-1', { m: 4 })).toBe(true);
    });
    const pending = await outbox.pending();
    expect(pending.map((entry) => [entry.kind, entry.subject, entry.payload])).toEqual([
      ['thing', 'sensor-1', { n: 3, m: 4 }],
      ['thing-group', 'floor-1', { n: 2 }],
    ]);
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

  it("queues every change an upload needs to follow: a thing's state, its groups, and what is attached", async () => {
    const { registry } = temp;
    const policies = new PolicyRegistry(registry.reader);
    const certificateId = 'ab'.repeat(32);
    const now = new Date().toISOString();
    await registry.transaction('test:a', async (tx) => {
      await registry.thingGroups.create(tx, { name: 'line-3' });
      await registry.things.create(tx, { name: 'SN-1', attributes: { a: '1' } });
      await registry.thingGroups.addThing(tx, 'line-3', 'SN-1');
      await tx.run(
        `INSERT INTO certificates (id, pem, subject, serial_hex, not_before, not_after, status, key_origin, created_at)
         VALUES (?, 'pem', 'CN=SN-1', '01', ?, ?, 'ACTIVE', 'device', ?)`,
        [certificateId, now, now, now],
      );
      await policies.create(tx, 'connect', JSON.stringify({ Version: '2012-10-17', Statement: [] }));
      await policies.attach(tx, 'connect', certificateId);
      await registry.things.attachPrincipal(tx, 'SN-1', certificateId);
    });
    const state = async () =>
      (await outbox.pending()).map((entry) => [`${entry.kind}:${entry.subject}`, entry.payload]);
    expect(await state()).toEqual([
      ['thing-group:line-3', { thingGroupName: 'line-3', parentGroupName: null, description: null }],
      [
        'thing:SN-1',
        { thingName: 'SN-1', thingTypeName: null, billingGroupName: null, attributes: { a: '1' } },
      ],
      ['thing-group-member:line-3|SN-1', { thingGroupName: 'line-3', thingName: 'SN-1', member: true }],
      ['policy:connect', expect.objectContaining({ policyName: 'connect', version: 1 })],
      [
        `policy-attachment:connect|${certificateId}`,
        { policyName: 'connect', certificateId, attached: true },
      ],
      [`thing-principal:SN-1|${certificateId}`, { thingName: 'SN-1', certificateId, attached: true }],
    ]);

    // Nothing sent yet: the CLI's thing update, group removal and policy detach change their rows in
    // place, so every link still comes after both its ends (a new policy version too).
    const before = (await state()).map(([key]) => key);
    await registry.transaction('test:a', async (tx) => {
      await registry.things.update(tx, 'SN-1', { attributes: { a: '2' } });
      await registry.thingGroups.removeThing(tx, 'line-3', 'SN-1');
      await policies.detach(tx, 'connect', certificateId);
      await policies.createVersion(
        tx,
        'connect',
        JSON.stringify({ Version: '2012-10-17', Statement: [] }),
        true,
      );
    });
    expect((await state()).map(([key]) => key)).toEqual(before);
    expect(Object.fromEntries(await state())).toMatchObject({
      'thing:SN-1': { attributes: { a: '2' } },
      'thing-group-member:line-3|SN-1': { member: false },
      [`policy-attachment:connect|${certificateId}`]: { attached: false },
      'policy:connect': { version: 2 },
    });
    expect(await linksBeforeTheirEnds()).toEqual([]);

    // Once sent, a change is news to the cloud: it goes to the end. A deleted thing leaves its groups.
    await registry.transaction('test:upload', (tx) =>
      tx.run("UPDATE outbox SET sent_at = '2026-01-01T00:00:00Z'"),
    );
    await registry.transaction('test:a', async (tx) => {
      await registry.thingGroups.addThing(tx, 'line-3', 'SN-1');
    });
    await registry.transaction('test:a', async (tx) => {
      await tx.run('DELETE FROM thing_principals');
      await registry.things.delete(tx, 'SN-1');
    });
    expect(await state()).toEqual([
      ['thing-group-member:line-3|SN-1', { thingGroupName: 'line-3', thingName: 'SN-1', member: false }],
      ['thing:SN-1', { thingName: 'SN-1', deleted: true }],
    ]);
  });

  it('queues the things of a bulk create, thousands in one transaction', async () => {
    const names = Array.from({ length: 2_500 }, (_, index) => `bulk-${index}`);
    await temp.registry.transaction('test:a', (tx) =>
      temp.registry.things.createMany(
        tx,
        names.map((name) => ({ name })),
      ),
    );
    const queued = await temp.registry.reader.all<{ subject: string }>(
      "SELECT subject FROM outbox WHERE kind = 'thing' ORDER BY id",
    );
    expect(queued.map((row) => row.subject)).toEqual(names);
  });

  it('keeps a changed row in place until it is sent, and moves it to the end once it was', async () => {
    await temp.registry.transaction('test:a', async (tx) => {
      outbox.enqueue(tx, 'thing', 'lamp-1', { n: 1 });
      outbox.enqueue(tx, 'thing-group-member', 'v2|lamp-1', { member: true });
      return Promise.resolve();
    });
    const order = async () => (await outbox.pending()).map((entry) => `${entry.kind}:${entry.subject}`);
    await temp.registry.transaction('test:a', async (tx) => outbox.enqueue(tx, 'thing', 'lamp-1', { n: 2 }));
    expect(await order()).toEqual(['thing:lamp-1', 'thing-group-member:v2|lamp-1']);
    await temp.registry.transaction('test:upload', (tx) =>
      tx.run("UPDATE outbox SET sent_at = '2026-01-01T00:00:00Z' WHERE kind = 'thing'"),
    );
    await temp.registry.transaction('test:a', async (tx) => outbox.enqueue(tx, 'thing', 'lamp-1', { n: 2 }));
    expect(await order()).toEqual(['thing-group-member:v2|lamp-1']); // sent, and the same state again
    await temp.registry.transaction('test:a', async (tx) => outbox.enqueue(tx, 'thing', 'lamp-1', { n: 3 }));
    expect(await order()).toEqual(['thing-group-member:v2|lamp-1', 'thing:lamp-1']);
  });

  it('queues nothing when the transaction fails', async () => {
    await expect(
      temp.registry.transaction('test:a', async (tx) => {
        outbox.enqueue(tx, 'thing', 'sensor-1', {});
        return Promise.reject(new Error('boom'));
      }),
    ).rejects.toThrow('boom');
    expect(await outbox.count()).toBe(0);
  });
});
