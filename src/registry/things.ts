import { StationError, invalidInput } from '../api/errors.js';
import { requireBillingGroup } from './billing-groups.js';
import type { SqlReader, SqlValue } from './database.js';
import { linkSubject, type OutboxRequest } from './outbox.js';
import { queueMembership } from './thing-groups.js';
import { type Attributes, checkAttributes, checkThingName, checkThingTypeName } from './thing-rules.js';
import { buildThingSearch, encodeNextToken, type ThingSearch } from './thing-search.js';
import type { Transaction } from './transaction.js';

export interface ThingInput {
  readonly name: string;
  readonly thingTypeName?: string;
  readonly attributes?: Readonly<Attributes>;
  /** A template's BillingGroup; kept with the thing and uploaded with it. */
  readonly billingGroupName?: string;
}

export interface Thing {
  readonly name: string;
  readonly thingTypeName: string | null;
  readonly billingGroupName: string | null;
  readonly attributes: Attributes;
  /** Starts at 1, increments on every update (UpdateThing's expectedVersion). */
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface ThingDescription extends Thing {
  readonly thingGroups: string[];
  /** Certificates attached to the thing (thing principals). */
  readonly certificateIds: string[];
}

export interface ThingCreated {
  readonly thing: Thing;
  /** false when an identical thing already existed (CreateThing is idempotent, aws-iot-spec.md 5). */
  readonly created: boolean;
}

export interface ThingUpdate {
  /** A type name sets the type; null removes it. */
  readonly thingTypeName?: string | null;
  /** A billing group name sets it; null removes it. */
  readonly billingGroupName?: string | null;
  readonly attributes?: Readonly<Attributes>;
  /**
   * UpdateThing's attributePayload.merge: true adds to the stored attributes (an empty value removes
   * that attribute); false (the AWS default) replaces them all.
   */
  readonly merge?: boolean;
  /** Refuse the update unless the thing is still at this version. */
  readonly expectedVersion?: number;
}

export interface ThingPage {
  readonly things: Thing[];
  readonly nextToken?: string;
}

interface ThingRow {
  name: string;
  thing_type_name: string | null;
  billing_group_name: string | null;
  version: number;
  created_at: string;
  updated_at: string;
}

const rowsPerStatement = 500;

/** A thing's state for a later upload (CreateThing / UpdateThing); groups and certificates are links. */
function thingUpload(
  thing: Pick<Thing, 'name' | 'thingTypeName' | 'billingGroupName' | 'attributes'>,
): OutboxRequest {
  return {
    kind: 'thing',
    subject: thing.name,
    payload: {
      thingName: thing.name,
      thingTypeName: thing.thingTypeName,
      billingGroupName: thing.billingGroupName,
      attributes: thing.attributes,
    },
  };
}

/** Things and their attributes (AWS IoT rules: thing-rules.ts). Groups live in ThingGroupRegistry. */
export class ThingRegistry {
  constructor(private readonly reader: SqlReader) {}

  async create(tx: Transaction, input: ThingInput): Promise<ThingCreated> {
    const [result] = await this.createMany(tx, [input]);
    return result as ThingCreated;
  }

  /** Creates many things in the caller's transaction with a few multi-row statements (bulk batches). */
  async createMany(tx: Transaction, inputs: readonly ThingInput[]): Promise<ThingCreated[]> {
    const seen = new Set<string>();
    for (const input of inputs) {
      checkThingName(input.name);
      if (input.thingTypeName !== undefined) checkThingTypeName(input.thingTypeName);
      checkAttributes(input.attributes ?? {}, input.thingTypeName !== undefined);
      if (seen.has(input.name)) throw invalidInput('thingName', `thing ${input.name} is given twice.`);
      seen.add(input.name);
    }
    await checkTypesTakeNewThings(tx, [...new Set(inputs.flatMap((input) => input.thingTypeName ?? []))]);
    const existing = await this.loadMany(tx, [...seen]);
    const now = new Date().toISOString();
    const results: ThingCreated[] = [];
    const fresh: ThingInput[] = [];
    for (const input of inputs) {
      const found = existing.get(input.name);
      if (!found) {
        fresh.push(input);
        const attributes = { ...(input.attributes ?? {}) };
        results.push({
          thing: {
            name: input.name,
            thingTypeName: input.thingTypeName ?? null,
            billingGroupName: input.billingGroupName ?? null,
            attributes,
            version: 1,
            createdAt: now,
            updatedAt: now,
          },
          created: true,
        });
        continue;
      }
      if (!sameConfiguration(found, input)) {
        throw new StationError(
          'registry.conflict',
          `Thing ${input.name} already exists with another thing type, billing group or attributes; use station thing update.`,
          {
            field: 'thingName',
            subject: input.name,
          },
        );
      }
      results.push({ thing: found, created: false });
    }
    // Only for new things: an identical existing thing is a success, as CreateThing's is.
    for (const billingGroup of new Set(fresh.flatMap((input) => input.billingGroupName ?? [])))
      await requireBillingGroup(tx, billingGroup);
    await insertRows(
      tx,
      'things (name, thing_type_name, billing_group_name, version, created_at, updated_at)',
      6,
      fresh.flatMap((input) => [
        input.name,
        input.thingTypeName ?? null,
        input.billingGroupName ?? null,
        1,
        now,
        now,
      ]),
    );
    await insertRows(
      tx,
      'thing_attributes (thing_name, name, value)',
      3,
      fresh.flatMap((input) =>
        Object.entries(input.attributes ?? {}).flatMap(([name, value]) => [input.name, name, value]),
      ),
    );
    tx.queueUploads(
      fresh.map((input) =>
        thingUpload({
          name: input.name,
          thingTypeName: input.thingTypeName ?? null,
          billingGroupName: input.billingGroupName ?? null,
          attributes: input.attributes ?? {},
        }),
      ),
    );
    await tx.auditMany(
      fresh.map((input) => ({
        action: 'thing.create',
        subject: input.name,
        details: {
          thingTypeName: input.thingTypeName,
          billingGroupName: input.billingGroupName,
          attributes: input.attributes ?? {},
        },
      })),
    );
    return results;
  }

  async describe(name: string, reader: SqlReader = this.reader): Promise<ThingDescription | undefined> {
    const thing = (await this.loadMany(reader, [name])).get(name);
    if (!thing) return undefined;
    const groups = await reader.all<{ group_name: string }>(
      'SELECT group_name FROM thing_group_members WHERE thing_name = ? ORDER BY group_name',
      [name],
    );
    const certificates = await reader.all<{ certificate_id: string }>(
      'SELECT certificate_id FROM thing_principals WHERE thing_name = ? ORDER BY certificate_id',
      [name],
    );
    return {
      ...thing,
      thingGroups: groups.map((row) => row.group_name),
      certificateIds: certificates.map((row) => row.certificate_id),
    };
  }

  async require(name: string, reader: SqlReader = this.reader): Promise<ThingDescription> {
    checkThingName(name);
    const thing = await this.describe(name, reader);
    if (!thing)
      throw new StationError('registry.not_found', `Thing ${name} does not exist.`, {
        field: 'thingName',
        subject: name,
      });
    return thing;
  }

  async update(tx: Transaction, name: string, change: ThingUpdate): Promise<Thing> {
    const current = await this.require(name, tx);
    checkExpectedVersion(current, change.expectedVersion);
    const thingTypeName = change.thingTypeName === undefined ? current.thingTypeName : change.thingTypeName;
    if (thingTypeName !== null && thingTypeName !== current.thingTypeName) {
      checkThingTypeName(thingTypeName);
      await checkTypesTakeNewThings(tx, [thingTypeName]);
    }
    const billingGroupName =
      change.billingGroupName === undefined ? current.billingGroupName : change.billingGroupName;
    if (billingGroupName !== null && billingGroupName !== current.billingGroupName)
      await requireBillingGroup(tx, billingGroupName);
    const attributes = nextAttributes(current.attributes, change);
    checkAttributes(attributes, thingTypeName !== null);
    const now = new Date().toISOString();
    await tx.run(
      'UPDATE things SET thing_type_name = ?, billing_group_name = ?, version = version + 1, updated_at = ? WHERE name = ?',
      [thingTypeName, billingGroupName, now, name],
    );
    await tx.run('DELETE FROM thing_attributes WHERE thing_name = ?', [name]);
    await insertRows(
      tx,
      'thing_attributes (thing_name, name, value)',
      3,
      Object.entries(attributes).flatMap(([key, value]) => [name, key, value]),
    );
    await tx.audit('thing.update', name, {
      thingTypeName:
        thingTypeName === current.thingTypeName
          ? undefined
          : { from: current.thingTypeName, to: thingTypeName },
      billingGroupName:
        billingGroupName === current.billingGroupName
          ? undefined
          : { from: current.billingGroupName, to: billingGroupName },
      attributes: attributeChanges(current.attributes, attributes),
    });
    tx.queueUploads([thingUpload({ name, thingTypeName, billingGroupName, attributes })]);
    return {
      name,
      thingTypeName,
      billingGroupName,
      attributes,
      version: current.version + 1,
      createdAt: current.createdAt,
      updatedAt: now,
    };
  }

  /**
   * Queues the thing's state and its memberships as they stand, for a thing that may have none queued
   * (made before the registry queued its own changes); the same state again changes nothing.
   */
  queueUpload(tx: Transaction, thing: ThingDescription): void {
    tx.queueUploads([thingUpload(thing)]);
    for (const group of thing.thingGroups) queueMembership(tx, group, thing.name, true);
  }

  /** AttachThingPrincipal: ties a certificate to the thing; attaching twice changes nothing. */
  async attachPrincipal(
    tx: Transaction,
    thingName: string,
    certificateId: string,
  ): Promise<{ attached: boolean }> {
    const { changes } = await tx.run(
      `INSERT INTO thing_principals (thing_name, certificate_id, attached_at) VALUES (?, ?, ?)
       ON CONFLICT (thing_name, certificate_id) DO NOTHING`,
      [thingName, certificateId, new Date().toISOString()],
    );
    if (changes === 1) {
      await tx.audit('thing.attach-principal', thingName, { certificateId });
      queuePrincipal(tx, thingName, certificateId, true);
    }
    return { attached: changes === 1 };
  }

  /**
   * DetachThingPrincipal: unties a certificate from the thing. A link that does not exist is refused, not
   * passed over, so a mistyped id is not reported as done. Refused too while the certificate is ACTIVE:
   * the link is how the station finds a device's live identity (a re-plug would then be given a second
   * live certificate), and AWS IoT still lets a detached ACTIVE certificate connect, only without its
   * thing (aws-iot-spec.md 4, iot:Connection.Thing.IsAttached). Revoke it first.
   */
  async detachPrincipal(tx: Transaction, thingName: string, certificateId: string): Promise<void> {
    const thing = await this.require(thingName, tx);
    if (!thing.certificateIds.includes(certificateId)) {
      throw new StationError(
        'registry.not_found',
        `Certificate ${certificateId} is not attached to thing ${thingName}; nothing was detached (station thing describe ${thingName} lists its certificates).`,
        { field: 'certificateId', subject: thingName, details: { certificateId } },
      );
    }
    const certificate = await tx.get<{ status: string }>('SELECT status FROM certificates WHERE id = ?', [
      certificateId,
    ]);
    if (certificate?.status === 'ACTIVE') {
      throw new StationError(
        'registry.in_use',
        `Certificate ${certificateId} is ACTIVE: it is the live identity of thing ${thingName}. Revoke it first (station cert revoke ${certificateId} --reason ...), then detach it.`,
        {
          field: 'certificateId',
          subject: thingName,
          details: { certificateId, status: certificate.status },
        },
      );
    }
    await tx.run('DELETE FROM thing_principals WHERE thing_name = ? AND certificate_id = ?', [
      thingName,
      certificateId,
    ]);
    await tx.audit('thing.detach-principal', thingName, { certificateId, status: certificate?.status });
    queuePrincipal(tx, thingName, certificateId, false);
  }

  /** Deletes a thing, its attributes and group memberships; refused while certificates are attached. */
  async delete(tx: Transaction, name: string, options: { expectedVersion?: number } = {}): Promise<void> {
    const current = await this.require(name, tx);
    checkExpectedVersion(current, options.expectedVersion);
    if (current.certificateIds.length > 0) {
      throw new StationError(
        'registry.in_use',
        // Whole ids: they are what thing detach takes.
        `Thing ${name} has ${current.certificateIds.length} certificate(s) attached (${current.certificateIds.join(', ')}); detach them before deleting the thing (station thing detach ${name} --cert ID).`,
        { subject: name, details: { certificateIds: current.certificateIds } },
      );
    }
    await tx.run('DELETE FROM things WHERE name = ?', [name]);
    await tx.audit('thing.delete', name, {
      thingTypeName: current.thingTypeName ?? undefined,
      attributes: current.attributes,
      thingGroups: current.thingGroups,
    });
    // Its memberships went with it; a thing made later under the name starts in no group.
    for (const group of current.thingGroups) queueMembership(tx, group, name, false);
    tx.queueUploads([{ kind: 'thing', subject: name, payload: { thingName: name, deleted: true } }]);
  }

  /** Search by name prefix, attribute equality, thing type and group, combined; pages in name order. */
  async search(search: ThingSearch = {}, reader: SqlReader = this.reader): Promise<ThingPage> {
    const query = buildThingSearch(await rarestAttributeFirst(search, reader));
    const rows = await reader.all<ThingRow>(query.sql, query.params);
    const page = rows.slice(0, query.limit);
    const attributes = await loadAttributes(
      reader,
      page.map((row) => row.name),
    );
    const things = page.map((row) => toThing(row, attributes.get(row.name) ?? {}));
    const last = page.at(-1);
    return rows.length > query.limit && last ? { things, nextToken: encodeNextToken(last.name) } : { things };
  }

  private async loadMany(reader: SqlReader, names: readonly string[]): Promise<Map<string, Thing>> {
    const found = new Map<string, Thing>();
    for (const chunk of chunks(names, rowsPerStatement)) {
      const rows = await reader.all<ThingRow>(
        `SELECT * FROM things WHERE name IN (${placeholders(chunk.length)})`,
        chunk,
      );
      const attributes = await loadAttributes(
        reader,
        rows.map((row) => row.name),
      );
      for (const row of rows) found.set(row.name, toThing(row, attributes.get(row.name) ?? {}));
    }
    return found;
  }
}

/** Whether the certificate is on the thing, for a later upload (AttachThingPrincipal / DetachThingPrincipal). */
function queuePrincipal(tx: Transaction, thingName: string, certificateId: string, attached: boolean): void {
  tx.queueUploads([
    {
      kind: 'thing-principal',
      subject: linkSubject(thingName, certificateId),
      payload: { thingName, certificateId, attached },
    },
  ]);
}

async function checkTypesTakeNewThings(reader: SqlReader, typeNames: readonly string[]): Promise<void> {
  if (typeNames.length === 0) return;
  const rows = await reader.all<{ name: string; deprecated_at: string | null }>(
    `SELECT name, deprecated_at FROM thing_types WHERE name IN (${placeholders(typeNames.length)})`,
    typeNames,
  );
  for (const typeName of typeNames) {
    const row = rows.find((candidate) => candidate.name === typeName);
    if (!row)
      throw invalidInput(
        'thingTypeName',
        `thing type ${typeName} does not exist; create it first (station thing-type create).`,
      );
    if (row.deprecated_at !== null)
      throw invalidInput('thingTypeName', `thing type ${typeName} is deprecated and takes no new things.`);
  }
}

function nextAttributes(current: Attributes, change: ThingUpdate): Attributes {
  if (change.attributes === undefined) return { ...current };
  if (!change.merge) return { ...change.attributes };
  // A Map, not property assignment: "__proto__" is a valid attribute name.
  const merged = new Map(Object.entries(current));
  for (const [name, value] of Object.entries(change.attributes)) {
    if (value === '') merged.delete(name);
    else merged.set(name, value);
  }
  return Object.fromEntries(merged);
}

function attributeChanges(before: Attributes, after: Attributes): { set: Attributes; removed: string[] } {
  const set = Object.fromEntries(Object.entries(after).filter(([name, value]) => before[name] !== value));
  // hasOwn, not `in`: "constructor" or "toString" are legal attribute names and every object inherits them.
  const removed = Object.keys(before).filter((name) => !Object.hasOwn(after, name));
  return { set, removed };
}

function checkExpectedVersion(thing: Thing, expected: number | undefined): void {
  if (expected !== undefined && expected !== thing.version) {
    throw new StationError(
      'registry.version_conflict',
      `Thing ${thing.name} is at version ${thing.version}, not ${expected}; someone changed it meanwhile. Reload and retry.`,
      {
        field: 'expectedVersion',
        subject: thing.name,
      },
    );
  }
}

function sameConfiguration(thing: Thing, input: ThingInput): boolean {
  const wanted = input.attributes ?? {};
  const names = Object.keys(wanted);
  return (
    thing.thingTypeName === (input.thingTypeName ?? null) &&
    thing.billingGroupName === (input.billingGroupName ?? null) &&
    names.length === Object.keys(thing.attributes).length &&
    names.every((name) => thing.attributes[name] === wanted[name])
  );
}

async function loadAttributes(
  reader: SqlReader,
  thingNames: readonly string[],
): Promise<Map<string, Attributes>> {
  const byThing = new Map<string, [string, string][]>();
  for (const chunk of chunks(thingNames, rowsPerStatement)) {
    const rows = await reader.all<{ thing_name: string; name: string; value: string }>(
      `SELECT thing_name, name, value FROM thing_attributes WHERE thing_name IN (${placeholders(chunk.length)})`,
      chunk,
    );
    for (const row of rows) {
      const entries = byThing.get(row.thing_name) ?? [];
      entries.push([row.name, row.value]);
      byThing.set(row.thing_name, entries);
    }
  }
  // fromEntries defines properties, so an attribute named "__proto__" stays an attribute.
  return new Map([...byThing].map(([thing, entries]) => [thing, Object.fromEntries(entries)]));
}

async function insertRows(
  tx: Transaction,
  target: string,
  columns: number,
  values: readonly SqlValue[],
): Promise<void> {
  const row = `(${placeholders(columns)})`;
  for (const chunk of chunks(values, rowsPerStatement * columns)) {
    await tx.run(
      `INSERT INTO ${target} VALUES ${Array.from({ length: chunk.length / columns }, () => row).join(', ')}`,
      chunk,
    );
  }
}

function toThing(row: ThingRow, attributes: Attributes): Thing {
  return {
    name: row.name,
    thingTypeName: row.thing_type_name,
    billingGroupName: row.billing_group_name,
    attributes,
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function placeholders(count: number): string {
  return Array.from({ length: count }, () => '?').join(', ');
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const result: T[][] = [];
  for (let offset = 0; offset < items.length; offset += size) result.push(items.slice(offset, offset + size));
  return result;
}

/** How many matches of an attribute are counted to compare selectivity; a bounded index walk. */
const selectivityProbe = 2_000;

/**
 * The first attribute of a search drives the index walk (thing-search.ts), and the others are probed
 * per row: with a common value first, a page may walk most of the registry (measured p99 31 ms at
 * 1,000,000 things). Counting each value's matches, up to a cap, puts the rarest first.
 */
async function rarestAttributeFirst(search: ThingSearch, reader: SqlReader): Promise<ThingSearch> {
  const attributes = Object.entries(search.attributes ?? {});
  if (attributes.length < 2 || search.thingGroupName !== undefined) return search;
  const counted = await Promise.all(
    attributes.map(async ([name, value]) => {
      const row = await reader.get<{ n: number }>(
        'SELECT count(*) AS n FROM (SELECT 1 FROM thing_attributes WHERE name = ? AND value = ? LIMIT ?)',
        [name, value, selectivityProbe],
      );
      return { name, value, matches: row?.n ?? 0 };
    }),
  );
  counted.sort((a, b) => a.matches - b.matches);
  return { ...search, attributes: Object.fromEntries(counted.map(({ name, value }) => [name, value])) };
}
