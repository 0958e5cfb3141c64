import { StationError, invalidInput } from '../api/errors.js';
import type { SqlReader } from './database.js';
import { OutboxTable } from './outbox.js';
import { checkBillingGroupName, checkDescription } from './thing-rules.js';
import type { Transaction } from './transaction.js';

export interface BillingGroup {
  readonly name: string;
  readonly description: string | null;
  readonly createdAt: string;
}

export interface BillingGroupCreated {
  readonly billingGroup: BillingGroup;
  /** false when an identical billing group already existed (CreateBillingGroup is idempotent). */
  readonly created: boolean;
}

interface BillingGroupRow {
  name: string;
  description: string | null;
  created_at: string;
}

/**
 * Billing groups, which a thing may name (one at most, aws-iot-spec.md 1): like thing types and groups they
 * exist before a thing names one, and go up before things on upload (aws-iot-spec.md 5).
 */
export class BillingGroupRegistry {
  constructor(private readonly reader: SqlReader) {}

  async create(tx: Transaction, input: { name: string; description?: string }): Promise<BillingGroupCreated> {
    const name = checkBillingGroupName(input.name);
    checkDescription('description', input.description);
    const existing = await this.describe(name, tx);
    if (existing) {
      if (existing.description === (input.description ?? null))
        return { billingGroup: existing, created: false };
      throw new StationError(
        'registry.conflict',
        `Billing group ${name} already exists with another description.`,
        {
          field: 'billingGroupName',
          subject: name,
        },
      );
    }
    const createdAt = new Date().toISOString();
    await tx.run('INSERT INTO billing_groups (name, description, created_at) VALUES (?, ?, ?)', [
      name,
      input.description ?? null,
      createdAt,
    ]);
    await tx.audit('billing-group.create', name, { description: input.description });
    new OutboxTable(this.reader).enqueue(tx, 'billing-group', name, {
      billingGroupName: name,
      description: input.description ?? null,
    });
    return { billingGroup: { name, description: input.description ?? null, createdAt }, created: true };
  }

  async describe(name: string, reader: SqlReader = this.reader): Promise<BillingGroup | undefined> {
    const row = await reader.get<BillingGroupRow>('SELECT * FROM billing_groups WHERE name = ?', [name]);
    return row && toBillingGroup(row);
  }

  async list(): Promise<BillingGroup[]> {
    const rows = await this.reader.all<BillingGroupRow>('SELECT * FROM billing_groups ORDER BY name');
    return rows.map(toBillingGroup);
  }
}

/** A thing names a billing group only once it exists (CreateThing fails otherwise). */
export async function requireBillingGroup(reader: SqlReader, name: string): Promise<void> {
  checkBillingGroupName(name);
  const row = await reader.get('SELECT 1 AS found FROM billing_groups WHERE name = ?', [name]);
  if (!row) {
    throw invalidInput(
      'billingGroupName',
      `billing group ${name} does not exist; create it first (station billing-group create ${name}).`,
    );
  }
}

function toBillingGroup(row: BillingGroupRow): BillingGroup {
  return { name: row.name, description: row.description, createdAt: row.created_at };
}
