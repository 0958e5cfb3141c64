import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrations } from '../../../src/registry/migrations/index.js';
import { OutboxTable } from '../../../src/registry/outbox.js';
import { Registry } from '../../../src/registry/registry.js';

const run = promisify(execFile);
let temp: { dir: string; file: string };

beforeEach(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'registry-migrations-'));
  temp = { dir, file: path.join(dir, 'registry.sqlite') };
});
afterEach(() => rm(temp.dir, { recursive: true, force: true }));

async function sql(query: string): Promise<string> {
  return (await run('sqlite3', [temp.file, query])).stdout.trim();
}

describe('registry migrations', () => {
  it('upgrades a version-1 registry and keeps its data', async () => {
    const old = await Registry.open(temp.file, { migrations: migrations.slice(0, 1) });
    // Written as the version-1 schema has it (today's code writes columns added since).
    await old.transaction('test:v1', async (tx) => {
      await tx.run(
        "INSERT INTO things (name, version, created_at, updated_at) VALUES ('SN-old', 1, '2026-01-01', '2026-01-01')",
      );
      await tx.run(
        "INSERT INTO thing_attributes (thing_name, name, value) VALUES ('SN-old', 'color', 'red')",
      );
    });
    await old.close();
    expect(await sql('SELECT max(version) FROM schema_migrations')).toBe('1');
    expect(await sql("SELECT count(*) FROM sqlite_master WHERE name = 'thing_attributes_by_value'")).toBe(
      '0',
    );

    const current = await Registry.open(temp.file);
    try {
      expect(current.migration).toEqual({ from: 1, to: migrations.length });
      expect(await current.things.describe('SN-old')).toMatchObject({ attributes: { color: 'red' } });
      expect(
        (await current.things.search({ attributes: { color: 'red' } })).things.map((thing) => thing.name),
      ).toEqual(['SN-old']);
      expect((await current.audit.verify()).ok).toBe(true);
    } finally {
      await current.close();
    }
    expect(await sql("SELECT count(*) FROM sqlite_master WHERE name = 'thing_attributes_by_value'")).toBe(
      '1',
    );
    expect(await sql('SELECT group_concat(version) FROM schema_migrations')).toBe(
      migrations.map((migration) => migration.version).join(','),
    );
  });

  it('makes rows of the billing groups and the policy version counts a schema-5 registry already had', async () => {
    const old = await Registry.open(temp.file, { migrations: migrations.slice(0, 5) });
    // As version 5 wrote them: a thing a template put in billing group line-a, its upload queued; a policy
    // whose newest version (3) is not its default.
    await old.transaction('test:v5', async (tx) => {
      await tx.run(
        "INSERT INTO things (name, billing_group_name, version, created_at, updated_at) VALUES ('SN-1', 'line-a', 1, '2026-01-01', '2026-01-01')",
      );
      await tx.run(
        `INSERT INTO outbox (kind, subject, payload, created_at) VALUES ('thing', 'SN-1', '{"thingName":"SN-1","billingGroupName":"line-a"}', '2026-01-01')`,
      );
      await tx.run(
        "INSERT INTO policies (name, default_version, created_at, updated_at) VALUES ('p', 1, 'x', 'x')",
      );
      for (const version of [1, 3])
        await tx.run(
          "INSERT INTO policy_versions (policy_name, version, document, created_at) VALUES ('p', ?, '{}', 'x')",
          [version],
        );
    });
    await old.close();

    const current = await Registry.open(temp.file);
    try {
      expect((await current.billingGroups.list()).map((group) => group.name)).toEqual(['line-a']);
      const again = await current.transaction('test:v6', (tx) =>
        current.things.create(tx, { name: 'SN-1', billingGroupName: 'line-a' }),
      );
      expect(again.created, 'the same configuration again is a success').toBe(false);
      const pending = await new OutboxTable(current.reader).pending();
      expect(pending.map((entry) => `${entry.kind} ${entry.subject}`)).toEqual([
        'thing SN-1',
        'billing-group line-a',
      ]);
      expect(await sql("SELECT last_version FROM policies WHERE name = 'p'")).toBe('3');
    } finally {
      await current.close();
    }
  });

  it('opens an up-to-date registry without changing it', async () => {
    await (await Registry.open(temp.file)).close();
    const again = await Registry.open(temp.file);
    expect(again.migration).toEqual({ from: migrations.length, to: migrations.length });
    await again.close();
  });

  it('refuses a registry newer than the code', async () => {
    const future = [
      ...migrations,
      { version: migrations.length + 1, name: 'from a newer station', sql: 'CREATE TABLE later (x)' },
    ];
    await (await Registry.open(temp.file, { migrations: future })).close();
    await expect(Registry.open(temp.file)).rejects.toMatchObject({ code: 'registry.newer_than_code' });
  });

  it('leaves the previous version intact when a step fails', async () => {
    const broken = [
      ...migrations,
      {
        version: migrations.length + 1,
        name: 'broken',
        sql: 'CREATE TABLE half (x); SELECT no_such_function()',
      },
    ];
    await expect(Registry.open(temp.file, { migrations: broken })).rejects.toMatchObject({
      code: 'registry.migration_failed',
    });
    expect(await sql('SELECT max(version) FROM schema_migrations')).toBe(String(migrations.length));
    expect(await sql("SELECT count(*) FROM sqlite_master WHERE name = 'half'")).toBe('0');
  });
});
