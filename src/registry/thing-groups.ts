import { StationError, invalidInput } from '../api/errors.js';
import type { SqlReader } from './database.js';
import {
  checkDescription,
  checkThingGroupName,
  checkThingName,
  maxGroupDepth,
  maxGroupsPerThing,
} from './thing-rules.js';
import { linkSubject, OutboxTable } from './outbox.js';
import type { Transaction } from './transaction.js';

export interface ThingGroupInput {
  readonly name: string;
  readonly parentName?: string;
  readonly description?: string;
}

export interface ThingGroup {
  readonly name: string;
  readonly parentName: string | null;
  /** The top group of this group's hierarchy (itself when it has no parent). */
  readonly rootName: string;
  /** 1 for a top-level group; at most 7. */
  readonly depth: number;
  readonly description: string | null;
  readonly createdAt: string;
}

export interface MembershipRemoval {
  readonly thingGroupName: string;
  readonly thingName: string;
  /** false when the thing was not a member (RemoveThingFromThingGroup changes nothing then). */
  readonly removed: boolean;
}

export interface ThingGroupCreated {
  readonly thingGroup: ThingGroup;
  /** false when an identical group already existed (CreateThingGroup is idempotent, aws-iot-spec.md 5). */
  readonly created: boolean;
}

export interface MembershipChange {
  readonly thingGroupName: string;
  readonly thingName: string;
  /** false when the thing was already a member (AddThingToThingGroup is idempotent). */
  readonly added: boolean;
}

interface ThingGroupRow {
  name: string;
  parent_name: string | null;
  root_name: string;
  depth: number;
  description: string | null;
  created_at: string;
}

/** Static thing groups (a tree of depth at most 7) and which things are directly in them. */
export class ThingGroupRegistry {
  constructor(private readonly reader: SqlReader) {}

  async create(tx: Transaction, input: ThingGroupInput): Promise<ThingGroupCreated> {
    const name = checkThingGroupName(input.name);
    checkDescription('description', input.description);
    const parent = input.parentName === undefined ? undefined : await this.parentFor(tx, input.parentName);
    const existing = await this.describe(name, tx);
    if (existing) {
      // The parent of a group is fixed once set (aws-iot-spec.md 5).
      if (
        existing.parentName === (input.parentName ?? null) &&
        existing.description === (input.description ?? null)
      ) {
        return { thingGroup: existing, created: false };
      }
      throw new StationError(
        'registry.conflict',
        `Thing group ${name} already exists with another parent or description.`,
        {
          field: 'thingGroupName',
          subject: name,
        },
      );
    }
    const depth = (parent?.depth ?? 0) + 1;
    if (depth > maxGroupDepth) {
      throw invalidInput(
        'parentGroupName',
        `group ${parent?.name} is at depth ${parent?.depth}; thing groups nest at most ${maxGroupDepth} deep.`,
      );
    }
    await tx.run(
      'INSERT INTO thing_groups (name, parent_name, root_name, depth, description, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      [
        name,
        parent?.name ?? null,
        parent?.rootName ?? name,
        depth,
        input.description ?? null,
        new Date().toISOString(),
      ],
    );
    await tx.audit('thing-group.create', name, {
      parentGroupName: parent?.name,
      description: input.description,
    });
    // For a later upload (CreateThingGroup), after its parent's and before any thing in it.
    new OutboxTable(this.reader).enqueue(tx, 'thing-group', name, {
      thingGroupName: name,
      parentGroupName: parent?.name ?? null,
      description: input.description ?? null,
    });
    return { thingGroup: (await this.describe(name, tx)) as ThingGroup, created: true };
  }

  /** AddThingToThingGroup: at most 10 groups per thing, at most one group per hierarchy. */
  async addThing(tx: Transaction, groupName: string, thingName: string): Promise<MembershipChange> {
    checkThingGroupName(groupName);
    checkThingName(thingName);
    const group = await this.describe(groupName, tx);
    if (!group)
      throw invalidInput(
        'thingGroupName',
        `thing group ${groupName} does not exist; create it first (station thing-group create ${groupName}).`,
      );
    const thing = await tx.get('SELECT 1 FROM things WHERE name = ?', [thingName]);
    if (!thing) throw invalidInput('thingName', `thing ${thingName} does not exist.`);
    const current = await this.groupsOf(thingName, tx);
    if (current.some((member) => member.name === groupName))
      return { thingGroupName: groupName, thingName, added: false };
    if (current.length >= maxGroupsPerThing) {
      throw invalidInput(
        'thingGroupName',
        `thing ${thingName} is already in ${current.length} groups, the most a thing may join; take it out of one first (station thing-group remove-thing GROUP ${thingName}).`,
      );
    }
    const sameHierarchy = current.find((member) => member.rootName === group.rootName);
    if (sameHierarchy) {
      throw invalidInput(
        'thingGroupName',
        `thing ${thingName} is already in group ${sameHierarchy.name} of the same hierarchy (under ${group.rootName}); a thing joins one group per hierarchy (station thing-group remove-thing ${sameHierarchy.name} ${thingName} takes it out).`,
      );
    }
    await tx.run('INSERT INTO thing_group_members (group_name, thing_name, added_at) VALUES (?, ?, ?)', [
      groupName,
      thingName,
      new Date().toISOString(),
    ]);
    await tx.audit('thing-group.add-thing', thingName, { thingGroupName: groupName });
    queueMembership(tx, groupName, thingName, true);
    return { thingGroupName: groupName, thingName, added: true };
  }

  /** RemoveThingFromThingGroup; removing a thing that is not a member changes nothing. */
  async removeThing(tx: Transaction, groupName: string, thingName: string): Promise<MembershipRemoval> {
    const { changes } = await tx.run(
      'DELETE FROM thing_group_members WHERE group_name = ? AND thing_name = ?',
      [groupName, thingName],
    );
    if (changes === 1) {
      await tx.audit('thing-group.remove-thing', thingName, { thingGroupName: groupName });
      queueMembership(tx, groupName, thingName, false);
    }
    return { thingGroupName: groupName, thingName, removed: changes === 1 };
  }

  async describe(name: string, reader: SqlReader = this.reader): Promise<ThingGroup | undefined> {
    const row = await reader.get<ThingGroupRow>('SELECT * FROM thing_groups WHERE name = ?', [name]);
    return row && toThingGroup(row);
  }

  async require(name: string, reader: SqlReader = this.reader): Promise<ThingGroup> {
    const found = await this.describe(name, reader);
    if (!found) {
      throw new StationError('registry.not_found', `Thing group ${name} does not exist.`, {
        field: 'thingGroupName',
        subject: name,
      });
    }
    return found;
  }

  /** All groups, or the direct children of `parentName`, by name. */
  async list(options: { parentName?: string } = {}): Promise<ThingGroup[]> {
    const rows =
      options.parentName === undefined
        ? await this.reader.all<ThingGroupRow>('SELECT * FROM thing_groups ORDER BY name')
        : await this.reader.all<ThingGroupRow>(
            'SELECT * FROM thing_groups WHERE parent_name = ? ORDER BY name',
            [options.parentName],
          );
    return rows.map(toThingGroup);
  }

  /** The groups a thing is directly in, by name. */
  async groupsOf(thingName: string, reader: SqlReader = this.reader): Promise<ThingGroup[]> {
    const rows = await reader.all<ThingGroupRow>(
      `SELECT g.* FROM thing_group_members m JOIN thing_groups g ON g.name = m.group_name
       WHERE m.thing_name = ? ORDER BY g.name`,
      [thingName],
    );
    return rows.map(toThingGroup);
  }

  private async parentFor(reader: SqlReader, parentName: string): Promise<ThingGroup> {
    checkThingGroupName(parentName, 'parentGroupName');
    const parent = await this.describe(parentName, reader);
    if (!parent)
      throw invalidInput('parentGroupName', `parent group ${parentName} does not exist; create it first.`);
    return parent;
  }
}

function toThingGroup(row: ThingGroupRow): ThingGroup {
  return {
    name: row.name,
    parentName: row.parent_name,
    rootName: row.root_name,
    depth: row.depth,
    description: row.description,
    createdAt: row.created_at,
  };
}

/** Whether the thing is in the group, for a later upload (AddThingToThingGroup / RemoveThingFromThingGroup). */
export function queueMembership(
  tx: Transaction,
  groupName: string,
  thingName: string,
  member: boolean,
): void {
  tx.queueUploads([
    {
      kind: 'thing-group-member',
      subject: linkSubject(groupName, thingName),
      payload: { thingGroupName: groupName, thingName, member },
    },
  ]);
}
