import { describe, expect, it } from 'vitest';
import type { ThingPlan } from '../api/templates.js';
import { reconcileThing, type ExistingThing } from './thing-reconciliation.js';

const existing: ExistingThing = {
  thingTypeName: 'lamp',
  attributes: { serial: 'S1', colour: 'red' },
  thingGroups: ['WA', 'old'],
};

function plan(overrides: Partial<ThingPlan>): ThingPlan {
  return { logicalName: 'thing', thingName: 'lamp-1', overrideSettings: {}, ...overrides };
}

describe('reconcileThing', () => {
  it('creates a thing that does not exist yet, with what the plan gives', () => {
    expect(reconcileThing(plan({ attributes: { a: '1' }, thingGroups: ['g'] }), undefined)).toEqual({
      action: 'create',
      thing: { attributes: { a: '1' }, thingGroups: ['g'] },
    });
  });

  it('merges attributes and groups under MERGE, the plan winning on a shared attribute', () => {
    const result = reconcileThing(
      plan({
        attributes: { colour: 'blue', cert: '2021' },
        thingGroups: ['WA', 'new'],
        overrideSettings: { AttributePayload: 'MERGE', ThingGroups: 'MERGE' },
      }),
      existing,
    );
    expect(result).toEqual({
      action: 'update',
      thing: {
        thingTypeName: 'lamp',
        attributes: { serial: 'S1', colour: 'blue', cert: '2021' },
        thingGroups: ['WA', 'old', 'new'],
      },
      joinGroups: ['new'],
      leaveGroups: [],
    });
  });

  it('replaces everything under REPLACE, as a certificate-rotation template does (T12)', () => {
    const result = reconcileThing(
      plan({
        attributes: { cert_issuance: '2021-02-11' },
        thingGroups: [],
        overrideSettings: { AttributePayload: 'REPLACE', ThingGroups: 'REPLACE', ThingTypeName: 'REPLACE' },
      }),
      existing,
    );
    expect(result).toEqual({
      action: 'update',
      thing: { thingTypeName: 'lamp', attributes: { cert_issuance: '2021-02-11' }, thingGroups: [] },
      joinGroups: [],
      leaveGroups: ['WA', 'old'],
    });
  });

  it('keeps stored values under DO_NOTHING and leaves unset properties alone', () => {
    const result = reconcileThing(
      plan({ thingGroups: ['other'], overrideSettings: { ThingGroups: 'DO_NOTHING' } }),
      existing,
    );
    expect(result).toEqual({ action: 'unchanged' });
  });

  it('refuses a difference under FAIL, and where no override is named, naming the properties', () => {
    expect(() =>
      reconcileThing(
        plan({
          thingTypeName: 'bulb',
          attributes: { serial: 'S2' },
          overrideSettings: { ThingTypeName: 'FAIL' },
        }),
        existing,
      ),
    ).toThrow(
      "Thing lamp-1 already exists with a different AttributePayload, ThingTypeName; the template's OverrideSettings do not allow changing it.",
    );
  });

  it('accepts the same values again whatever the overrides say (CreateThing is idempotent)', () => {
    const same = plan({
      thingTypeName: 'lamp',
      attributes: { colour: 'red', serial: 'S1' },
      thingGroups: ['old', 'WA'],
      overrideSettings: { ThingTypeName: 'FAIL', AttributePayload: 'FAIL', ThingGroups: 'FAIL' },
    });
    expect(reconcileThing(same, existing)).toEqual({ action: 'unchanged' });
  });
});
