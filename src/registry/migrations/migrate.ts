import { StationError } from '../../api/errors.js';
import type { SqliteConnection } from '../database.js';
import type { Migration } from './migration.js';

export interface MigrationOutcome {
  /** Schema version before opening. */
  readonly from: number;
  /** Schema version now. */
  readonly to: number;
}

/**
 * Brings the database up to the last of `steps`, each step in its own transaction (a failed step
 * leaves the previous version intact). A database newer than the code is refused: old code must not
 * write into a schema it does not know.
 */
export async function migrate(
  connection: SqliteConnection,
  steps: readonly Migration[],
): Promise<MigrationOutcome> {
  assertContiguous(steps);
  await connection.exec(
    `CREATE TABLE IF NOT EXISTS schema_migrations (
       version    INTEGER PRIMARY KEY,
       name       TEXT NOT NULL,
       applied_at TEXT NOT NULL
     )`,
  );
  const from = await schemaVersion(connection);
  const latest = steps.at(-1)?.version ?? 0;
  if (from > latest) {
    throw new StationError(
      'registry.newer_than_code',
      `The registry ${connection.file} has schema version ${from} but this station knows only up to ${latest}; update the station software.`,
    );
  }
  for (const step of steps) {
    if (step.version <= from) continue;
    await applyStep(connection, step);
  }
  return { from, to: Math.max(from, latest) };
}

export async function schemaVersion(connection: SqliteConnection): Promise<number> {
  const row = await connection.get<{ version: number | null }>(
    'SELECT max(version) AS version FROM schema_migrations',
  );
  return row?.version ?? 0;
}

async function applyStep(connection: SqliteConnection, step: Migration): Promise<void> {
  await connection.begin();
  try {
    // Another process may have migrated while we waited for the write lock.
    if ((await schemaVersion(connection)) >= step.version) {
      await connection.exec('COMMIT');
      return;
    }
    await connection.exec(step.sql);
    await connection.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [
      step.version,
      step.name,
      new Date().toISOString(),
    ]);
    await connection.exec('COMMIT');
  } catch (error) {
    await connection.exec('ROLLBACK');
    throw new StationError(
      'registry.migration_failed',
      `Upgrading the registry to schema version ${step.version} (${step.name}) failed; the registry is unchanged at the previous version.`,
      { userFault: false, cause: error },
    );
  }
}

function assertContiguous(steps: readonly Migration[]): void {
  steps.forEach((step, index) => {
    if (step.version !== index + 1) {
      throw new StationError(
        'internal.migration_order',
        `Migration ${step.name} has version ${step.version}, expected ${index + 1}.`,
      );
    }
  });
}
