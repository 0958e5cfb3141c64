// Applying a ResourcePlan to the registry in one transaction, with AWS IoT's OverrideSettings
// (aws-iot-spec.md 1): FAIL is a conflict that changes nothing, MERGE joins attributes and groups,
// REPLACE takes the plan, DO_NOTHING keeps what exists; hash-named policies are shared.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ResourcePlan } from '../../../src/api/templates.js';
import { applyResourcePlan } from '../../../src/provisioning/apply-plan.js';
import { CertificateTable } from '../../../src/registry/certificates.js';
import { PolicyRegistry } from '../../../src/registry/policies.js';
import { Registry } from '../../../src/registry/registry.js';

const actor = 'test:apply';
let registry: Registry;
let policies: PolicyRegistry;

async function certificate(id: string): Promise<string> {
  const table = new CertificateTable(registry.reader);
  await registry.transaction(actor, (tx) =>
    table.insert(tx, {
      id,
      pem: '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n',
      subject: 'CN=x',
      serialHex: '01',
      notBefore: new Date().toISOString(),
      notAfter: new Date(Date.now() + 86_400_000).toISOString(),
      status: 'ACTIVE',
      keyOrigin: 'device',
    }),
  );
  return id;
}

function plan(
  thing: Partial<NonNullable<ResourcePlan['thing']>>,
  extra: Partial<ResourcePlan> = {},
): ResourcePlan {
  return {
    parameters: {},
    thing: { logicalName: 'thing', thingName: 'lamp-1', overrideSettings: {}, ...thing },
    policies: [],
    deviceConfiguration: {},
    ...extra,
  };
}

function apply(resources: ResourcePlan, certificateId: string) {
  return registry.transaction(actor, (tx) =>
    applyResourcePlan(
      tx,
      { things: registry.things, thingGroups: registry.thingGroups, policies },
      resources,
      certificateId,
    ),
  );
}

beforeEach(async () => {
  registry = await Registry.open(':memory:');
  policies = new PolicyRegistry(registry.reader);
  await registry.transaction(actor, async (tx) => {
    await registry.thingGroups.create(tx, { name: 'lights' });
    await registry.thingGroups.create(tx, { name: 'floor-1' });
  });
});

afterEach(() => registry.close());

describe('applyResourcePlan', () => {
  it('creates the thing, joins its groups, attaches the certificate and a hash-named policy', async () => {
    const id = await certificate('a'.repeat(64));
    const document = {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'iot:Connect', Resource: '*' }],
    };
    const applied = await apply(
      plan(
        { attributes: { color: 'red' }, thingGroups: ['lights'] },
        { policies: [{ kind: 'new', logicalName: 'policy', policyName: 'ABC123', document }] },
      ),
      id,
    );
    expect(applied).toMatchObject({
      thingName: 'lamp-1',
      thingAction: 'create',
      policies: [{ policyName: 'ABC123', created: true }],
    });
    expect(await registry.things.describe('lamp-1')).toMatchObject({
      attributes: { color: 'red' },
      thingGroups: ['lights'],
      certificateIds: [id],
    });
    expect((await policies.describe('ABC123'))?.certificateIds).toEqual([id]);

    // A second device with the same document shares the policy instead of making another.
    const second = await certificate('b'.repeat(64));
    const again = await apply(
      plan(
        { thingName: 'lamp-2' },
        { policies: [{ kind: 'new', logicalName: 'policy', policyName: 'ABC123', document }] },
      ),
      second,
    );
    expect(again.policies).toEqual([{ logicalName: 'policy', policyName: 'ABC123', created: false }]);
  });

  it('refuses a differing existing thing under FAIL and changes nothing', async () => {
    await apply(plan({ attributes: { color: 'red' } }), await certificate('a'.repeat(64)));
    const before = await registry.audit.head();
    const id = await certificate('b'.repeat(64));
    const conflicting = plan({
      attributes: { color: 'blue' },
      overrideSettings: { AttributePayload: 'FAIL' },
    });
    await expect(apply(conflicting, id)).rejects.toMatchObject({ code: 'template.override_conflict' });
    expect((await registry.things.describe('lamp-1'))?.attributes).toEqual({ color: 'red' });
    expect((await registry.things.describe('lamp-1'))?.certificateIds).toEqual(['a'.repeat(64)]);
    expect((await registry.audit.head()).seq).toBe(before.seq + 1); // only the certificate insert
  });

  it('merges attributes and groups under MERGE, replaces under REPLACE, keeps under DO_NOTHING', async () => {
    await apply(
      plan({ attributes: { color: 'red' }, thingGroups: ['lights'] }),
      await certificate('a'.repeat(64)),
    );
    await apply(
      plan({
        attributes: { size: 'L' },
        thingGroups: ['floor-1'],
        overrideSettings: { AttributePayload: 'MERGE', ThingGroups: 'MERGE' },
      }),
      await certificate('b'.repeat(64)),
    );
    expect(await registry.things.describe('lamp-1')).toMatchObject({
      attributes: { color: 'red', size: 'L' },
      thingGroups: ['floor-1', 'lights'],
    });
    await apply(
      plan({
        attributes: { color: 'green' },
        thingGroups: ['floor-1'],
        overrideSettings: { AttributePayload: 'REPLACE', ThingGroups: 'REPLACE' },
      }),
      await certificate('c'.repeat(64)),
    );
    expect(await registry.things.describe('lamp-1')).toMatchObject({
      attributes: { color: 'green' },
      thingGroups: ['floor-1'],
    });
    const unchanged = await apply(
      plan({ attributes: { color: 'black' }, overrideSettings: { AttributePayload: 'DO_NOTHING' } }),
      await certificate('d'.repeat(64)),
    );
    expect(unchanged.thingAction).toBe('unchanged');
    expect((await registry.things.describe('lamp-1'))?.attributes).toEqual({ color: 'green' });
  });

  it("keeps a template's billing group, so the same plan applies again; another one is a conflict", async () => {
    await registry.transaction(actor, (tx) => registry.billingGroups.create(tx, { name: 'BillingGroup' }));
    const billed = plan({ billingGroup: 'BillingGroup', overrideSettings: { AttributePayload: 'REPLACE' } });
    await apply(billed, await certificate('d'.repeat(64)));
    expect((await registry.things.describe('lamp-1'))?.billingGroupName).toBe('BillingGroup');
    // A second certificate for the thing (a rotation, a re-provision): the same plan, no conflict.
    await expect(apply(billed, await certificate('e'.repeat(64)))).resolves.toMatchObject({
      thingAction: 'unchanged',
    });
    await expect(
      apply(plan({ billingGroup: 'OtherGroup' }), await certificate('f'.repeat(64))),
    ).rejects.toMatchObject({
      code: 'template.override_conflict',
      details: { properties: ['BillingGroup'] },
    });
    expect((await registry.things.describe('lamp-1'))?.billingGroupName).toBe('BillingGroup');
    // A thing recorded before the registry kept billing groups has none: it takes the plan's.
    await registry.transaction(actor, (tx) => tx.run('UPDATE things SET billing_group_name = NULL'));
    await expect(apply(billed, await certificate('c'.repeat(64)))).resolves.toMatchObject({
      thingAction: 'update',
    });
    expect((await registry.things.describe('lamp-1'))?.billingGroupName).toBe('BillingGroup');
  });

  it('refuses to attach a named policy that does not exist', async () => {
    const id = await certificate('a'.repeat(64));
    const resources = plan(
      {},
      { policies: [{ kind: 'existing', logicalName: 'policy', policyName: 'Missing' }] },
    );
    await expect(apply(resources, id)).rejects.toMatchObject({ code: 'template.policy_missing' });
    expect(await registry.things.describe('lamp-1')).toBeUndefined();
  });

  it('queues a thing made before the registry queued its own changes, with its groups, ahead of its principal', async () => {
    // As the station left it before: the thing, its attribute and its group, and no outbox row.
    await registry.transaction(actor, async (tx) => {
      const now = new Date().toISOString();
      await tx.run(
        'INSERT INTO things (name, thing_type_name, billing_group_name, version, created_at, updated_at) VALUES (?, NULL, NULL, 1, ?, ?)',
        ['lamp-1', now, now],
      );
      await tx.run(
        "INSERT INTO thing_attributes (thing_name, name, value) VALUES ('lamp-1', 'color', 'red')",
      );
      await tx.run('INSERT INTO thing_group_members (group_name, thing_name, added_at) VALUES (?, ?, ?)', [
        'lights',
        'lamp-1',
        now,
      ]);
      await tx.run('DELETE FROM outbox');
    });
    const id = await certificate('c'.repeat(64));
    const applied = await apply(plan({ attributes: { color: 'red' }, thingGroups: ['lights'] }), id);
    expect(applied.thingAction).toBe('unchanged');
    const queued = await registry.reader.all<{ kind: string; subject: string }>(
      "SELECT kind, subject FROM outbox WHERE kind NOT IN ('certificate', 'thing-group') ORDER BY id",
    );
    expect(queued.map((row) => `${row.kind}:${row.subject}`)).toEqual([
      'thing:lamp-1',
      'thing-group-member:lights|lamp-1',
      `thing-principal:lamp-1|${id}`,
    ]);
  });
});
