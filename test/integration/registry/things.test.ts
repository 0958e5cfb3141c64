import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OutboxTable } from '../../../src/registry/outbox.js';
import type { Registry } from '../../../src/registry/registry.js';
import { openTempRegistry, type TempRegistry } from './temp-registry.js';

let temp: TempRegistry;
let registry: Registry;
const actor = 'test:qa';

beforeEach(async () => {
  temp = await openTempRegistry();
  registry = temp.registry;
});
afterEach(() => temp.dispose());

async function auditCount(): Promise<number> {
  return (await registry.audit.verify()).rows;
}

async function expectRefused(work: Promise<unknown>, code: string, field?: string): Promise<void> {
  await expect(work).rejects.toMatchObject(field === undefined ? { code } : { code, field });
}

describe('things', () => {
  it('creates a thing with a type and attributes, and audits it', async () => {
    await registry.transaction(actor, (tx) => registry.thingTypes.create(tx, { name: 'tracker' }));
    const { created } = await registry.transaction(actor, (tx) =>
      registry.things.create(tx, {
        name: 'SN-1',
        thingTypeName: 'tracker',
        attributes: { color: 'red', fw: '1.2' },
      }),
    );
    expect(created).toBe(true);
    expect(await registry.things.describe('SN-1')).toMatchObject({
      name: 'SN-1',
      thingTypeName: 'tracker',
      attributes: { color: 'red', fw: '1.2' },
      version: 1,
      thingGroups: [],
      certificateIds: [],
    });
    const [last] = await registry.audit.list({ limit: 1 });
    expect(last).toMatchObject({
      actor,
      action: 'thing.create',
      subject: 'SN-1',
      details: { thingTypeName: 'tracker' },
    });
  });

  it('treats creating an identical thing again as success and refuses a different one', async () => {
    await registry.transaction(actor, (tx) =>
      registry.things.create(tx, { name: 'SN-1', attributes: { a: '1' } }),
    );
    const before = await auditCount();
    const again = await registry.transaction(actor, (tx) =>
      registry.things.create(tx, { name: 'SN-1', attributes: { a: '1' } }),
    );
    expect(again.created).toBe(false);
    expect(await auditCount()).toBe(before);
    await expectRefused(
      registry.transaction(actor, (tx) =>
        registry.things.create(tx, { name: 'SN-1', attributes: { a: '2' } }),
      ),
      'registry.conflict',
      'thingName',
    );
  });

  it('keeps an attribute named __proto__ as an attribute', async () => {
    await registry.transaction(actor, (tx) =>
      registry.things.create(tx, { name: 'SN-1', attributes: JSON.parse('{"__proto__":"x"}') }),
    );
    const thing = await registry.things.describe('SN-1');
    expect(Object.keys(thing?.attributes ?? {})).toEqual(['__proto__']);
  });

  it('refuses an unknown thing type and changes nothing', async () => {
    const before = await auditCount();
    await expectRefused(
      registry.transaction(actor, (tx) =>
        registry.things.create(tx, { name: 'SN-1', thingTypeName: 'nope' }),
      ),
      'input.invalid',
      'thingTypeName',
    );
    expect(await registry.things.describe('SN-1')).toBeUndefined();
    expect(await auditCount()).toBe(before);
  });

  it('refuses new things of a deprecated type until it is undeprecated', async () => {
    await registry.transaction(actor, async (tx) => {
      await registry.thingTypes.create(tx, { name: 'old' });
      await registry.thingTypes.deprecate(tx, 'old');
    });
    await expectRefused(
      registry.transaction(actor, (tx) => registry.things.create(tx, { name: 'SN-1', thingTypeName: 'old' })),
      'input.invalid',
      'thingTypeName',
    );
    await registry.transaction(actor, (tx) => registry.thingTypes.deprecate(tx, 'old', true));
    const result = await registry.transaction(actor, (tx) =>
      registry.things.create(tx, { name: 'SN-1', thingTypeName: 'old' }),
    );
    expect(result.created).toBe(true);
  });

  it('refuses a 4th attribute on a thing without a type, naming the field, and writes nothing', async () => {
    const before = await auditCount();
    await expectRefused(
      registry.transaction(actor, (tx) =>
        registry.things.create(tx, { name: 'SN-1', attributes: { a: '1', b: '2', c: '3', d: '4' } }),
      ),
      'input.invalid',
      'attributes',
    );
    expect(await registry.things.describe('SN-1')).toBeUndefined();
    expect(await auditCount()).toBe(before);
  });

  it('refuses a bad attribute value naming the attribute', async () => {
    await expectRefused(
      registry.transaction(actor, (tx) =>
        registry.things.create(tx, { name: 'SN-1', attributes: { color: 'dark red' } }),
      ),
      'input.invalid',
      'attributes.color',
    );
  });

  it('rolls back a whole batch when one thing in it is invalid', async () => {
    await expectRefused(
      registry.transaction(actor, (tx) =>
        registry.things.createMany(tx, [{ name: 'SN-1' }, { name: 'SN-2' }, { name: 'bad name' }]),
      ),
      'input.invalid',
      'thingName',
    );
    expect((await registry.things.search()).things).toEqual([]);
    expect(await auditCount()).toBe(0);
  });

  it('rolls back the thing when a later step of the same transaction fails', async () => {
    await expect(
      registry.transaction(actor, async (tx) => {
        await registry.things.create(tx, { name: 'SN-1', attributes: { a: '1' } });
        await registry.thingGroups.addThing(tx, 'missing-group', 'SN-1');
      }),
    ).rejects.toMatchObject({ code: 'input.invalid', field: 'thingGroupName' });
    expect(await registry.things.describe('SN-1')).toBeUndefined();
    expect(await registry.reader.all('SELECT * FROM thing_attributes')).toEqual([]);
    expect(await auditCount()).toBe(0);
  });
});

describe('updating things', () => {
  beforeEach(async () => {
    await registry.transaction(actor, async (tx) => {
      await registry.thingTypes.create(tx, { name: 'tracker' });
      await registry.things.create(tx, { name: 'SN-1', attributes: { a: '1', b: '2' } });
    });
  });

  it('merges attributes, an empty value removing one, and bumps the version', async () => {
    const updated = await registry.transaction(actor, (tx) =>
      registry.things.update(tx, 'SN-1', { attributes: { b: '', c: '3' }, merge: true }),
    );
    expect(updated).toMatchObject({ attributes: { a: '1', c: '3' }, version: 2 });
    expect((await registry.things.describe('SN-1'))?.attributes).toEqual({ a: '1', c: '3' });
    const [last] = await registry.audit.list({ limit: 1 });
    expect(last).toMatchObject({
      action: 'thing.update',
      details: { attributes: { set: { c: '3' }, removed: ['b'] } },
    });
  });

  it('audits the removal of attributes named like Object.prototype members', async () => {
    const names = ['constructor', 'hasOwnProperty', 'toString', 'valueOf'];
    await registry.transaction(actor, (tx) =>
      registry.things.update(tx, 'SN-1', {
        thingTypeName: 'tracker',
        attributes: Object.fromEntries(names.map((name) => [name, 'x'])),
      }),
    );
    await registry.transaction(actor, (tx) =>
      registry.things.update(tx, 'SN-1', {
        attributes: Object.fromEntries(names.map((name) => [name, ''])),
        merge: true,
      }),
    );
    expect((await registry.things.describe('SN-1'))?.attributes).toEqual({});
    const [last] = await registry.audit.list({ limit: 1 });
    expect(last?.details).toMatchObject({ attributes: { set: {}, removed: names } });
  });

  it('replaces all attributes without merge', async () => {
    await registry.transaction(actor, (tx) => registry.things.update(tx, 'SN-1', { attributes: { z: '9' } }));
    expect((await registry.things.describe('SN-1'))?.attributes).toEqual({ z: '9' });
  });

  it('allows more than 3 attributes once the thing has a type, and refuses removing the type then', async () => {
    await registry.transaction(actor, (tx) =>
      registry.things.update(tx, 'SN-1', {
        thingTypeName: 'tracker',
        attributes: { c: '3', d: '4' },
        merge: true,
      }),
    );
    await expectRefused(
      registry.transaction(actor, (tx) => registry.things.update(tx, 'SN-1', { thingTypeName: null })),
      'input.invalid',
      'attributes',
    );
    expect(await registry.things.describe('SN-1')).toMatchObject({ thingTypeName: 'tracker', version: 2 });
  });

  it('refuses an update against a stale version', async () => {
    await expectRefused(
      registry.transaction(actor, (tx) =>
        registry.things.update(tx, 'SN-1', { attributes: { a: '5' }, expectedVersion: 7 }),
      ),
      'registry.version_conflict',
      'expectedVersion',
    );
  });

  it('reports a missing thing', async () => {
    await expectRefused(
      registry.transaction(actor, (tx) => registry.things.update(tx, 'SN-404', { attributes: {} })),
      'registry.not_found',
      'thingName',
    );
  });
});

describe('deleting things', () => {
  it('removes the thing, its attributes and memberships, and audits what was lost', async () => {
    await registry.transaction(actor, async (tx) => {
      await registry.things.create(tx, { name: 'SN-1', attributes: { a: '1' } });
      await registry.thingGroups.create(tx, { name: 'line-3' });
      await registry.thingGroups.addThing(tx, 'line-3', 'SN-1');
    });
    await registry.transaction(actor, (tx) => registry.things.delete(tx, 'SN-1'));
    expect(await registry.things.describe('SN-1')).toBeUndefined();
    expect(await registry.reader.all('SELECT * FROM thing_attributes')).toEqual([]);
    expect(await registry.reader.all('SELECT * FROM thing_group_members')).toEqual([]);
    const [last] = await registry.audit.list({ limit: 1 });
    expect(last).toMatchObject({
      action: 'thing.delete',
      subject: 'SN-1',
      details: { attributes: { a: '1' }, thingGroups: ['line-3'] },
    });
  });

  it('refuses while a certificate is attached, and says so', async () => {
    const certificateId = 'ab'.repeat(32);
    const now = new Date().toISOString();
    await registry.transaction(actor, async (tx) => {
      await registry.things.create(tx, { name: 'SN-1' });
      await tx.run(
        `INSERT INTO certificates (id, pem, subject, serial_hex, not_before, not_after, status, key_origin, created_at)
         VALUES (?, 'pem', 'CN=SN-1', '01', ?, ?, 'ACTIVE', 'device', ?)`,
        [certificateId, now, now, now],
      );
      await tx.run(
        'INSERT INTO thing_principals (thing_name, certificate_id, attached_at) VALUES (?, ?, ?)',
        ['SN-1', certificateId, now],
      );
    });
    const refusal = registry.transaction(actor, (tx) => registry.things.delete(tx, 'SN-1'));
    await expect(refusal).rejects.toMatchObject({ code: 'registry.in_use', subject: 'SN-1' });
    await expect(refusal).rejects.toThrow(/certificate.*detach/);
    // The whole id, as `station thing detach SN-1 --cert ID` takes it.
    await expect(refusal).rejects.toThrow(`(${certificateId})`);
    expect(await registry.things.describe('SN-1')).toMatchObject({ certificateIds: [certificateId] });
  });
});

describe('detaching certificates from things', () => {
  const certificateId = 'ab'.repeat(32);

  /** SN-1 with one certificate of the given status attached, as provisioning leaves it. */
  async function thingWithCertificate(status: string): Promise<void> {
    const now = new Date().toISOString();
    await registry.transaction(actor, async (tx) => {
      await registry.things.create(tx, { name: 'SN-1' });
      await tx.run(
        `INSERT INTO certificates (id, pem, subject, serial_hex, not_before, not_after, status, key_origin, created_at)
         VALUES (?, 'pem', 'CN=SN-1', '01', ?, ?, ?, 'device', ?)`,
        [certificateId, now, now, status, now],
      );
      await registry.things.attachPrincipal(tx, 'SN-1', certificateId);
    });
  }

  const pendingLinks = async () =>
    (await new OutboxTable(registry.reader).pending()).filter((entry) => entry.kind === 'thing-principal');

  it('detaches a revoked certificate, audits it, and queues the link as detached', async () => {
    await thingWithCertificate('REVOKED');
    // The attach was uploaded: the detach is news to the cloud and goes to the end of the queue.
    await registry.transaction('test:upload', (tx) =>
      tx.run("UPDATE outbox SET sent_at = '2026-01-01T00:00:00Z'"),
    );
    await registry.transaction(actor, (tx) => registry.things.detachPrincipal(tx, 'SN-1', certificateId));
    expect(await registry.things.describe('SN-1')).toMatchObject({ certificateIds: [] });
    const [last] = await registry.audit.list({ limit: 1 });
    expect(last).toMatchObject({
      actor,
      action: 'thing.detach-principal',
      subject: 'SN-1',
      details: { certificateId, status: 'REVOKED' },
    });
    expect(await pendingLinks()).toMatchObject([
      {
        subject: `SN-1|${certificateId}`,
        payload: { thingName: 'SN-1', certificateId, attached: false },
      },
    ]);
    // With nothing attached, the thing may go.
    await registry.transaction(actor, (tx) => registry.things.delete(tx, 'SN-1'));
  });

  it('turns a queued attach that was never sent into a detach in place', async () => {
    await thingWithCertificate('INACTIVE');
    await registry.transaction(actor, (tx) => registry.things.detachPrincipal(tx, 'SN-1', certificateId));
    const queued = (await new OutboxTable(registry.reader).pending()).map(
      (entry) => `${entry.kind}:${entry.subject}`,
    );
    expect(queued).toEqual(['thing:SN-1', `thing-principal:SN-1|${certificateId}`]);
    expect(await pendingLinks()).toMatchObject([{ payload: { attached: false } }]);
  });

  it('refuses while the certificate is ACTIVE, saying to revoke it, and changes nothing', async () => {
    await thingWithCertificate('ACTIVE');
    const rows = await auditCount();
    const outboxBefore = await new OutboxTable(registry.reader).pending();
    const refusal = registry.transaction(actor, (tx) =>
      registry.things.detachPrincipal(tx, 'SN-1', certificateId),
    );
    await expect(refusal).rejects.toMatchObject({
      code: 'registry.in_use',
      field: 'certificateId',
      subject: 'SN-1',
      details: { certificateId, status: 'ACTIVE' },
    });
    await expect(refusal).rejects.toThrow(/ACTIVE.*[Rr]evoke it first/);
    expect(await registry.things.describe('SN-1')).toMatchObject({ certificateIds: [certificateId] });
    expect(await auditCount()).toBe(rows);
    expect(await new OutboxTable(registry.reader).pending()).toEqual(outboxBefore);
  });

  it('refuses a link that does not exist, and an unknown thing, changing nothing', async () => {
    await thingWithCertificate('REVOKED');
    await registry.transaction(actor, (tx) => registry.things.create(tx, { name: 'SN-2' }));
    const rows = await auditCount();
    const outboxBefore = await new OutboxTable(registry.reader).pending();
    const notLinked = registry.transaction(actor, (tx) =>
      registry.things.detachPrincipal(tx, 'SN-2', certificateId),
    );
    await expect(notLinked).rejects.toMatchObject({
      code: 'registry.not_found',
      field: 'certificateId',
      subject: 'SN-2',
    });
    await expect(notLinked).rejects.toThrow(`is not attached to thing SN-2; nothing was detached`);
    await expectRefused(
      registry.transaction(actor, (tx) => registry.things.detachPrincipal(tx, 'SN-1', 'cd'.repeat(32))),
      'registry.not_found',
      'certificateId',
    );
    await expectRefused(
      registry.transaction(actor, (tx) => registry.things.detachPrincipal(tx, 'SN-404', certificateId)),
      'registry.not_found',
      'thingName',
    );
    expect(await registry.things.describe('SN-1')).toMatchObject({ certificateIds: [certificateId] });
    expect(await auditCount()).toBe(rows);
    expect(await new OutboxTable(registry.reader).pending()).toEqual(outboxBefore);
  });
});

describe('thing types', () => {
  it('lists types and treats an identical create as success', async () => {
    await registry.transaction(actor, (tx) =>
      registry.thingTypes.create(tx, { name: 'b', searchableAttributes: ['imei'] }),
    );
    await registry.transaction(actor, (tx) =>
      registry.thingTypes.create(tx, { name: 'a', description: 'first' }),
    );
    const again = await registry.transaction(actor, (tx) =>
      registry.thingTypes.create(tx, { name: 'b', searchableAttributes: ['imei'] }),
    );
    expect(again.created).toBe(false);
    expect((await registry.thingTypes.list()).map((type) => [type.name, type.searchableAttributes])).toEqual([
      ['a', []],
      ['b', ['imei']],
    ]);
    await expectRefused(
      registry.transaction(actor, (tx) =>
        registry.thingTypes.create(tx, { name: 'b', searchableAttributes: ['other'] }),
      ),
      'registry.conflict',
      'thingTypeName',
    );
  });
});

describe('thing groups', () => {
  it('nests groups 7 deep and refuses an 8th level', async () => {
    await registry.transaction(actor, async (tx) => {
      for (let level = 1; level <= 7; level += 1) {
        await registry.thingGroups.create(tx, {
          name: `g${level}`,
          parentName: level > 1 ? `g${level - 1}` : undefined,
        });
      }
    });
    expect(await registry.thingGroups.describe('g7')).toMatchObject({
      depth: 7,
      rootName: 'g1',
      parentName: 'g6',
    });
    await expectRefused(
      registry.transaction(actor, (tx) => registry.thingGroups.create(tx, { name: 'g8', parentName: 'g7' })),
      'input.invalid',
      'parentGroupName',
    );
    expect(await registry.thingGroups.describe('g8')).toBeUndefined();
  });

  it('refuses a parent that does not exist', async () => {
    await expectRefused(
      registry.transaction(actor, (tx) =>
        registry.thingGroups.create(tx, { name: 'child', parentName: 'ghost' }),
      ),
      'input.invalid',
      'parentGroupName',
    );
  });

  it('lets a thing join 10 groups and refuses the 11th', async () => {
    await registry.transaction(actor, async (tx) => {
      await registry.things.create(tx, { name: 'SN-1' });
      for (let index = 1; index <= 11; index += 1)
        await registry.thingGroups.create(tx, { name: `top${index}` });
      for (let index = 1; index <= 10; index += 1)
        await registry.thingGroups.addThing(tx, `top${index}`, 'SN-1');
    });
    await expectRefused(
      registry.transaction(actor, (tx) => registry.thingGroups.addThing(tx, 'top11', 'SN-1')),
      'input.invalid',
      'thingGroupName',
    );
    expect((await registry.things.describe('SN-1'))?.thingGroups).toHaveLength(10);
  });

  it('refuses a second group in the same hierarchy', async () => {
    await registry.transaction(actor, async (tx) => {
      await registry.things.create(tx, { name: 'SN-1' });
      await registry.thingGroups.create(tx, { name: 'plant' });
      await registry.thingGroups.create(tx, { name: 'line-1', parentName: 'plant' });
      await registry.thingGroups.create(tx, { name: 'line-2', parentName: 'plant' });
      await registry.thingGroups.addThing(tx, 'line-1', 'SN-1');
    });
    await expectRefused(
      registry.transaction(actor, (tx) => registry.thingGroups.addThing(tx, 'line-2', 'SN-1')),
      'input.invalid',
      'thingGroupName',
    );
  });

  it('adds a member once; adding again changes nothing', async () => {
    await registry.transaction(actor, async (tx) => {
      await registry.things.create(tx, { name: 'SN-1' });
      await registry.thingGroups.create(tx, { name: 'plant' });
    });
    const first = await registry.transaction(actor, (tx) =>
      registry.thingGroups.addThing(tx, 'plant', 'SN-1'),
    );
    const rows = await auditCount();
    const second = await registry.transaction(actor, (tx) =>
      registry.thingGroups.addThing(tx, 'plant', 'SN-1'),
    );
    expect([first.added, second.added]).toEqual([true, false]);
    expect(await auditCount()).toBe(rows);
  });

  it('refuses adding a thing that does not exist', async () => {
    await registry.transaction(actor, (tx) => registry.thingGroups.create(tx, { name: 'plant' }));
    await expectRefused(
      registry.transaction(actor, (tx) => registry.thingGroups.addThing(tx, 'plant', 'SN-404')),
      'input.invalid',
      'thingName',
    );
  });

  it('lists all groups or the children of one', async () => {
    await registry.transaction(actor, async (tx) => {
      await registry.thingGroups.create(tx, { name: 'plant' });
      await registry.thingGroups.create(tx, { name: 'line-1', parentName: 'plant' });
      await registry.thingGroups.create(tx, { name: 'spare' });
    });
    expect((await registry.thingGroups.list()).map((group) => group.name)).toEqual([
      'line-1',
      'plant',
      'spare',
    ]);
    expect((await registry.thingGroups.list({ parentName: 'plant' })).map((group) => group.name)).toEqual([
      'line-1',
    ]);
  });
});

describe('billing groups', () => {
  it('must exist before a thing names one; creating one is idempotent, audited and queued for upload', async () => {
    await expectRefused(
      registry.transaction(actor, (tx) =>
        registry.things.create(tx, { name: 'SN-B', billingGroupName: 'bulbs' }),
      ),
      'input.invalid',
      'billingGroupName',
    );
    expect(await registry.things.describe('SN-B')).toBeUndefined();

    const first = await registry.transaction(actor, (tx) =>
      registry.billingGroups.create(tx, { name: 'bulbs', description: 'light bulbs' }),
    );
    const again = await registry.transaction(actor, (tx) =>
      registry.billingGroups.create(tx, { name: 'bulbs', description: 'light bulbs' }),
    );
    expect([first.created, again.created]).toEqual([true, false]);
    await expectRefused(
      registry.transaction(actor, (tx) => registry.billingGroups.create(tx, { name: 'bulbs' })),
      'registry.conflict',
    );
    await registry.transaction(actor, (tx) =>
      registry.things.create(tx, { name: 'SN-B', billingGroupName: 'bulbs' }),
    );
    expect(await registry.things.describe('SN-B')).toMatchObject({ billingGroupName: 'bulbs' });
    await expectRefused(
      registry.transaction(actor, (tx) => registry.things.update(tx, 'SN-B', { billingGroupName: 'lamps' })),
      'input.invalid',
      'billingGroupName',
    );
    const [entry] = await registry.audit.list({ action: 'billing-group.create' });
    expect(entry).toMatchObject({ subject: 'bulbs', details: { description: 'light bulbs' } });
    const queued = await new OutboxTable(registry.reader).pending();
    expect(queued.map((row) => `${row.kind} ${row.subject}`).slice(0, 2)).toEqual([
      'billing-group bulbs',
      'thing SN-B',
    ]);
  });
});
