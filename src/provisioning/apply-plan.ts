import { StationError } from '../api/errors.js';
import type { ResourcePlan } from '../api/templates.js';
import type { PolicyRegistry } from '../registry/policies.js';
import type { ThingGroupRegistry } from '../registry/thing-groups.js';
import type { ThingRegistry } from '../registry/things.js';
import type { Transaction } from '../registry/transaction.js';
import { reconcileThing } from '../templates/thing-reconciliation.js';

export interface PlanTables {
  things: ThingRegistry;
  thingGroups: ThingGroupRegistry;
  policies: PolicyRegistry;
}

/** What applying a plan did, keyed as the record keeps it for a later upload (aws-iot-spec.md 9). */
export interface AppliedPlan {
  thingName?: string;
  thingAction?: 'create' | 'update' | 'unchanged';
  policies: { logicalName: string; policyName: string; created: boolean }[];
}

/**
 * Applies a ResourcePlan to the registry in the caller's transaction, honouring OverrideSettings against
 * what exists (reconcileThing: FAIL is a conflict, MERGE only for attributes and groups), then attaches the
 * certificate to the thing and the policies to the certificate. Policies named by their document hash are
 * created once and shared. The caller's transaction makes it all or nothing.
 */
export async function applyResourcePlan(
  tx: Transaction,
  tables: PlanTables,
  plan: ResourcePlan,
  certificateId: string,
): Promise<AppliedPlan> {
  // The thing and the policies touch different tables: their statements go to SQLite together. Policies
  // stay in order among themselves, as two resources may name the same hash-named policy.
  const [thing, policies] = await Promise.all([
    plan.thing ? applyThing(tx, tables, plan.thing, certificateId) : undefined,
    applyPolicies(tx, tables, plan.policies, certificateId),
  ]);
  return { ...thing, policies };
}

async function applyThing(
  tx: Transaction,
  tables: PlanTables,
  planned: NonNullable<ResourcePlan['thing']>,
  certificateId: string,
): Promise<Pick<AppliedPlan, 'thingName' | 'thingAction'>> {
  const name = planned.thingName;
  const stored = await tables.things.describe(name, tx);
  const existing = stored && {
    ...(stored.thingTypeName !== null && { thingTypeName: stored.thingTypeName }),
    ...(stored.billingGroupName !== null && { billingGroup: stored.billingGroupName }),
    attributes: stored.attributes,
    thingGroups: stored.thingGroups,
  };
  const change = reconcileThing(planned, existing);
  // A thing kept as it is, or its groups kept, may have no upload queued yet: it was made before the
  // registry queued its own changes. The same state queued again changes nothing.
  if (stored && change.action !== 'create') {
    const leaving = change.action === 'update' ? change.leaveGroups : [];
    tables.things.queueUpload(tx, {
      ...stored,
      thingGroups: stored.thingGroups.filter((group) => !leaving.includes(group)),
    });
  }
  if (change.action === 'create') {
    await tables.things.create(tx, {
      name,
      ...(change.thing.thingTypeName !== undefined && { thingTypeName: change.thing.thingTypeName }),
      ...(change.thing.billingGroup !== undefined && { billingGroupName: change.thing.billingGroup }),
      attributes: change.thing.attributes,
    });
    for (const group of change.thing.thingGroups) await tables.thingGroups.addThing(tx, group, name);
  } else if (change.action === 'update') {
    await tables.things.update(tx, name, {
      thingTypeName: change.thing.thingTypeName ?? null,
      billingGroupName: change.thing.billingGroup ?? null,
      attributes: change.thing.attributes,
      merge: false,
    });
    for (const group of change.leaveGroups) await tables.thingGroups.removeThing(tx, group, name);
    for (const group of change.joinGroups) await tables.thingGroups.addThing(tx, group, name);
  }
  await tables.things.attachPrincipal(tx, name, certificateId);
  return { thingName: name, thingAction: change.action };
}

async function applyPolicies(
  tx: Transaction,
  tables: PlanTables,
  planned: ResourcePlan['policies'],
  certificateId: string,
): Promise<AppliedPlan['policies']> {
  const applied: AppliedPlan['policies'] = [];
  for (const policy of planned) {
    let created = false;
    if (policy.kind === 'existing') {
      if (!(await tables.policies.exists(policy.policyName, tx))) {
        throw new StationError(
          'template.policy_missing',
          `The template attaches policy ${policy.policyName}, which does not exist; add it first (station policy add).`,
          { subject: policy.policyName },
        );
      }
    } else if (!(await tables.policies.exists(policy.policyName, tx))) {
      await tables.policies.create(tx, policy.policyName, JSON.stringify(policy.document));
      created = true;
    }
    await tables.policies.attach(tx, policy.policyName, certificateId);
    applied.push({ logicalName: policy.logicalName, policyName: policy.policyName, created });
  }
  return applied;
}
