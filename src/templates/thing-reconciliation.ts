import { StationError } from '../api/errors.js';
import type { OverrideAction, ThingPlan } from '../api/templates.js';

/** What the registry holds for a thing the plan names, as far as a template can change it. */
export interface ExistingThing {
  thingTypeName?: string;
  attributes: Record<string, string>;
  thingGroups: string[];
  billingGroup?: string;
}

/** The state a thing should have after the plan, and which groups to join or leave to get there. */
export type ThingReconciliation =
  | { action: 'create'; thing: ExistingThing }
  | { action: 'unchanged' }
  | { action: 'update'; thing: ExistingThing; joinGroups: string[]; leaveGroups: string[] };

/**
 * Honours a plan's OverrideSettings against a thing that may already exist (aws-iot-spec.md 1):
 * DO_NOTHING keeps the stored value, REPLACE takes the planned one, MERGE (attributes, groups) adds the
 * planned to the stored, FAIL refuses a difference with a conflict (ResourceConflictsException).
 * A property the template does not set is left alone. Where the template names no override for a
 * property (OPEN in the spec) it behaves like CreateThing (aws-iot-spec.md 5): the same value is fine, a
 * different one is a conflict; so nothing changes silently. The billing group has no override key and
 * follows that rule too. Pure: the caller reads the thing and applies the result in its transaction.
 */
export function reconcileThing(plan: ThingPlan, existing: ExistingThing | undefined): ThingReconciliation {
  if (!existing) {
    return {
      action: 'create',
      thing: {
        ...(plan.thingTypeName !== undefined && { thingTypeName: plan.thingTypeName }),
        attributes: plan.attributes ?? {},
        thingGroups: plan.thingGroups ?? [],
        ...(plan.billingGroup !== undefined && { billingGroup: plan.billingGroup }),
      },
    };
  }
  const settings = plan.overrideSettings;
  const conflicts: string[] = [];
  const decide = <T>(
    property: string,
    action: OverrideAction | undefined,
    stored: T,
    planned: T | undefined,
    same: (a: T, b: T) => boolean,
    merge?: (a: T, b: T) => T,
  ): T => {
    if (planned === undefined || same(stored, planned)) return stored;
    switch (action ?? 'FAIL') {
      case 'DO_NOTHING':
        return stored;
      case 'REPLACE':
        return planned;
      case 'MERGE':
        // The parser allows MERGE only where a merge function exists (AttributePayload, ThingGroups).
        return merge ? merge(stored, planned) : planned;
      case 'FAIL':
        conflicts.push(property);
        return stored;
    }
  };
  const thing: ExistingThing = {
    attributes: decide(
      'AttributePayload',
      settings.AttributePayload,
      existing.attributes,
      plan.attributes,
      sameRecord,
      (stored, planned) => ({ ...stored, ...planned }),
    ),
    thingGroups: decide(
      'ThingGroups',
      settings.ThingGroups,
      existing.thingGroups,
      plan.thingGroups,
      sameSet,
      (stored, planned) => [...new Set([...stored, ...planned])],
    ),
  };
  const thingTypeName = decide(
    'ThingTypeName',
    settings.ThingTypeName,
    existing.thingTypeName,
    plan.thingTypeName,
    Object.is,
  );
  if (thingTypeName !== undefined) thing.thingTypeName = thingTypeName;
  // A thing without one takes the plan's: things recorded before the registry kept billing groups
  // (migration 5) have none, though a template may have named one.
  const billingGroup =
    existing.billingGroup === undefined
      ? plan.billingGroup
      : decide('BillingGroup', undefined, existing.billingGroup, plan.billingGroup, Object.is);
  if (billingGroup !== undefined) thing.billingGroup = billingGroup;
  if (conflicts.length > 0) {
    throw new StationError(
      'template.override_conflict',
      `Thing ${plan.thingName} already exists with a different ${conflicts.join(', ')}; the template's OverrideSettings do not allow changing it.`,
      { subject: plan.thingName, details: { properties: conflicts } },
    );
  }
  const joinGroups = thing.thingGroups.filter((group) => !existing.thingGroups.includes(group));
  const leaveGroups = existing.thingGroups.filter((group) => !thing.thingGroups.includes(group));
  const unchanged =
    joinGroups.length === 0 &&
    leaveGroups.length === 0 &&
    sameRecord(thing.attributes, existing.attributes) &&
    thing.thingTypeName === existing.thingTypeName &&
    thing.billingGroup === existing.billingGroup;
  return unchanged ? { action: 'unchanged' } : { action: 'update', thing, joinGroups, leaveGroups };
}

function sameRecord(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return (
    keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && a[key] === b[key])
  );
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((item) => b.includes(item));
}
