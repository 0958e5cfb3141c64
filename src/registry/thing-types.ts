import { StationError } from '../api/errors.js';
import { canonicalJson } from './audit-chain.js';
import type { SqlReader } from './database.js';
import { checkDescription, checkSearchableAttributes, checkThingTypeName } from './thing-rules.js';
import { OutboxTable } from './outbox.js';
import type { Transaction } from './transaction.js';

export interface ThingTypeInput {
  readonly name: string;
  readonly description?: string;
  readonly searchableAttributes?: readonly string[];
}

export interface ThingType {
  readonly name: string;
  readonly description: string | null;
  readonly searchableAttributes: string[];
  readonly deprecated: boolean;
  readonly deprecatedAt: string | null;
  readonly createdAt: string;
}

export interface ThingTypeCreated {
  readonly thingType: ThingType;
  /** false when an identical type already existed (CreateThingType is idempotent, aws-iot-spec.md 5). */
  readonly created: boolean;
}

interface ThingTypeRow {
  name: string;
  description: string | null;
  searchable_attributes: string;
  deprecated_at: string | null;
  created_at: string;
}

/** Thing types: created, listed, deprecated (and un-deprecated); never renamed. */
export class ThingTypeRegistry {
  constructor(private readonly reader: SqlReader) {}

  async create(tx: Transaction, input: ThingTypeInput): Promise<ThingTypeCreated> {
    const name = checkThingTypeName(input.name);
    checkDescription('description', input.description);
    const searchable = [...(input.searchableAttributes ?? [])];
    checkSearchableAttributes(searchable);
    const existing = await this.describe(name, tx);
    if (existing) {
      const same =
        existing.description === (input.description ?? null) &&
        canonicalJson(existing.searchableAttributes) === canonicalJson(searchable);
      if (same) return { thingType: existing, created: false };
      throw new StationError(
        'registry.conflict',
        `Thing type ${name} already exists with another description or searchable attributes.`,
        {
          field: 'thingTypeName',
          subject: name,
        },
      );
    }
    const now = new Date().toISOString();
    await tx.run(
      'INSERT INTO thing_types (name, description, searchable_attributes, created_at) VALUES (?, ?, ?, ?)',
      [name, input.description ?? null, JSON.stringify(searchable), now],
    );
    await tx.audit('thing-type.create', name, {
      description: input.description,
      searchableAttributes: searchable,
    });
    // For a later upload (CreateThingType), before any thing of the type.
    new OutboxTable(this.reader).enqueue(tx, 'thing-type', name, {
      thingTypeName: name,
      description: input.description ?? null,
      searchableAttributes: searchable,
      deprecated: false,
    });
    return { thingType: (await this.describe(name, tx)) as ThingType, created: true };
  }

  /** DeprecateThingType: a deprecated type takes no new things; `undo` makes it usable again. */
  async deprecate(tx: Transaction, name: string, undo = false): Promise<ThingType> {
    checkThingTypeName(name);
    const existing = await this.require(name, tx);
    if (existing.deprecated !== !undo) {
      await tx.run('UPDATE thing_types SET deprecated_at = ? WHERE name = ?', [
        undo ? null : new Date().toISOString(),
        name,
      ]);
      await tx.audit(undo ? 'thing-type.undeprecate' : 'thing-type.deprecate', name);
      await new OutboxTable(this.reader).restate(tx, 'thing-type', name, { deprecated: !undo });
    }
    return (await this.describe(name, tx)) as ThingType;
  }

  async describe(name: string, reader: SqlReader = this.reader): Promise<ThingType | undefined> {
    const row = await reader.get<ThingTypeRow>('SELECT * FROM thing_types WHERE name = ?', [name]);
    return row && toThingType(row);
  }

  async require(name: string, reader: SqlReader = this.reader): Promise<ThingType> {
    const found = await this.describe(name, reader);
    if (!found) {
      throw new StationError(
        'registry.not_found',
        `Thing type ${name} does not exist; create it first (station thing-type create).`,
        {
          field: 'thingTypeName',
          subject: name,
        },
      );
    }
    return found;
  }

  async list(): Promise<ThingType[]> {
    const rows = await this.reader.all<ThingTypeRow>('SELECT * FROM thing_types ORDER BY name');
    return rows.map(toThingType);
  }
}

function toThingType(row: ThingTypeRow): ThingType {
  return {
    name: row.name,
    description: row.description,
    searchableAttributes: JSON.parse(row.searchable_attributes) as string[],
    deprecated: row.deprecated_at !== null,
    deprecatedAt: row.deprecated_at,
    createdAt: row.created_at,
  };
}
