import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteConnection } from '../../../src/registry/database.js';
import { openTempRegistry, type TempRegistry } from './temp-registry.js';

const repoRoot = path.resolve(fileURLToPath(import.meta.url), '../../../..');

/** Another program holding the registry's write lock for `holdMs`; resolves once it has the lock. */
async function holdWriteLock(file: string, holdMs: number): Promise<ChildProcess> {
  const script = `
    import { DatabaseSync } from '@photostructure/sqlite';
    const db = new DatabaseSync(process.argv[1]);
    db.exec('BEGIN IMMEDIATE');
    process.stdout.write('locked\\n');
    setTimeout(() => { db.exec('COMMIT'); db.close(); }, Number(process.argv[2]));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, file, String(holdMs)], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`the lock holder exited with ${code}`)));
  });
  return child;
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) =>
    child.exitCode !== null ? resolve() : child.once('exit', () => resolve()),
  );
}

let temp: TempRegistry;
beforeEach(async () => {
  temp = await openTempRegistry();
});
afterEach(async () => {
  await temp.dispose();
});

describe('the registry connection and other programs', () => {
  it('waits for another program to release the write lock without blocking the event loop', async () => {
    const holder = await holdWriteLock(temp.file, 400);
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    let ticksWhileWaiting = -1;
    try {
      await temp.registry.transaction('test:alice', async (tx) => {
        ticksWhileWaiting = ticks;
        await tx.run(`INSERT INTO operators (name, role, created_at) VALUES ('bob', 'quality', 'now')`);
      });
    } finally {
      clearInterval(ticker);
    }
    await exited(holder);
    // Statements run on the event loop; a wait for the lock inside SQLite would have frozen it throughout.
    expect(ticksWhileWaiting).toBeGreaterThan(0);
    expect(await temp.registry.reader.all('SELECT name FROM operators')).toEqual([{ name: 'bob' }]);
  });

  it('gives up with registry.busy when the lock stays taken, and writes nothing', async () => {
    const holder = await holdWriteLock(temp.file, 3_000);
    const connection = await SqliteConnection.open(temp.file);
    try {
      await expect(connection.begin(200)).rejects.toMatchObject({
        code: 'registry.busy',
        userFault: true,
        message: expect.stringContaining('locked by another program'),
      });
    } finally {
      await connection.close();
      holder.kill();
      await exited(holder);
    }
    expect(await temp.registry.reader.all('SELECT name FROM operators')).toEqual([]);
  });

  it('names a constraint failure so callers can map it, and keeps the row it conflicts with', async () => {
    const insert = (name: string) =>
      temp.registry.transaction('test:alice', (tx) =>
        tx.run(`INSERT INTO operators (name, role, created_at) VALUES (?, 'quality', 'now')`, [name]),
      );
    await insert('bob');
    await expect(insert('bob')).rejects.toMatchObject({
      code: 'registry.sql_failed',
      details: { sqliteCode: 'SQLITE_CONSTRAINT' },
    });
    expect(await temp.registry.reader.all('SELECT name FROM operators')).toEqual([{ name: 'bob' }]);
  });

  it('binds a missing optional value as NULL', async () => {
    const connection = await SqliteConnection.open(':memory:');
    try {
      const row = await connection.get('SELECT ? IS NULL AS missing', [undefined as never]);
      expect(row).toEqual({ missing: 1 });
    } finally {
      await connection.close();
    }
  });

  it('leaves every commit in the database file once closed, so a copy of that file alone is whole', async () => {
    await temp.registry.transaction('test:alice', (tx) =>
      tx.run(`INSERT INTO operators (name, role, created_at) VALUES ('bob', 'quality', 'now')`),
    );
    // Statements the connection cached and nothing has collected yet must not keep the commits in the WAL.
    await temp.registry.reader.all('SELECT name FROM operators');
    await temp.registry.close();
    const copy = path.join(temp.dir, 'backup.sqlite');
    await copyFile(temp.file, copy);
    const connection = await SqliteConnection.open(copy);
    try {
      expect(await connection.all('SELECT name FROM operators')).toEqual([{ name: 'bob' }]);
    } finally {
      await connection.close();
      await rm(temp.dir, { recursive: true, force: true });
      temp = await openTempRegistry(); // for afterEach, which closes and removes its own
    }
  });
});
