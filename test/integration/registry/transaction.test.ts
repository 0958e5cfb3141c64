import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Registry } from '../../../src/registry/registry.js';
import type { Transaction } from '../../../src/registry/transaction.js';

let dir: string;
let registry: Registry;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'registry-tx-'));
  registry = await Registry.open(path.join(dir, 'registry.sqlite'));
});

afterEach(async () => {
  await registry.close();
  await rm(dir, { recursive: true, force: true });
});

const now = '2025-01-01T00:00:00.000Z';

describe('registry transactions', () => {
  it('opens with WAL and foreign keys on', async () => {
    expect(await registry.reader.get('PRAGMA journal_mode')).toEqual({ journal_mode: 'wal' });
    expect(await registry.reader.get('PRAGMA foreign_keys')).toEqual({ foreign_keys: 1 });
  });

  it('commits the change and its audit row together', async () => {
    await registry.transaction('test:alice', async (tx) => {
      await tx.run('INSERT INTO operators (name, role, created_at) VALUES (?, ?, ?)', [
        'bob',
        'quality',
        now,
      ]);
      await tx.audit('operator.create', 'bob', { role: 'quality' });
    });
    expect(await registry.reader.all('SELECT name FROM operators')).toEqual([{ name: 'bob' }]);
    const [entry] = await registry.audit.list();
    expect(entry).toMatchObject({
      seq: 1,
      actor: 'test:alice',
      action: 'operator.create',
      subject: 'bob',
      details: { role: 'quality' },
    });
  });

  it('leaves nothing behind when the work throws: no row, no audit row', async () => {
    await expect(
      registry.transaction('test:alice', async (tx) => {
        await tx.run('INSERT INTO operators (name, role, created_at) VALUES (?, ?, ?)', [
          'bob',
          'quality',
          now,
        ]);
        await tx.audit('operator.create', 'bob');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await registry.reader.all('SELECT name FROM operators')).toEqual([]);
    expect(await registry.audit.list()).toEqual([]);
  });

  it('rolls back statements still running when the work fails', async () => {
    await expect(
      registry.transaction('test:alice', async (tx) => {
        const inserts = Array.from({ length: 50 }, (_, index) =>
          tx.run('INSERT INTO operators (name, role, created_at) VALUES (?, ?, ?)', [
            `op${index}`,
            'technician',
            now,
          ]),
        );
        await Promise.all([
          ...inserts,
          tx.run('INSERT INTO operators (name, role, created_at) VALUES (?, ?, ?)', ['x', 'boss', now]),
        ]);
      }),
    ).rejects.toThrow(/CHECK constraint/);
    expect(await registry.reader.all('SELECT name FROM operators')).toEqual([]);
  });

  it('runs concurrent transactions one after the other', async () => {
    const order: string[] = [];
    const slow = registry.transaction('test:a', async (tx) => {
      order.push('a-begin');
      await tx.run('INSERT INTO operators (name, role, created_at) VALUES (?, ?, ?)', ['a', 'admin', now]);
      await new Promise((resolve) => setTimeout(resolve, 20));
      order.push('a-end');
    });
    const fast = registry.transaction('test:b', async (tx) => {
      order.push('b-begin');
      await tx.run('INSERT INTO operators (name, role, created_at) VALUES (?, ?, ?)', ['b', 'admin', now]);
      order.push('b-end');
    });
    await Promise.all([slow, fast]);
    expect(order).toEqual(['a-begin', 'a-end', 'b-begin', 'b-end']);
  });

  describe('transactions queued together share one commit', () => {
    const insert = (name: string) => (tx: Transaction) =>
      tx
        .run('INSERT INTO operators (name, role, created_at) VALUES (?, ?, ?)', [name, 'admin', now])
        .then(() => tx.audit('operator.create', name));
    const failing = (name: string) => async (tx: Transaction) => {
      await insert(name)(tx);
      throw new Error(`${name} failed`);
    };

    it.each([
      // The first call starts a group of its own at once; the other four queue into the next one.
      ['the first', [0]],
      ['the first of a group with others behind it', [1]],
      ['a middle one', [2]],
      ['the last', [4]],
      ['two of one group', [2, 4]],
      ['the first of a group and a later one', [1, 3]],
    ])('when %s throws, only those leave nothing behind', async (_label, failingAt) => {
      const names = ['a', 'b', 'c', 'd', 'e'];
      const fails = (index: number) => failingAt.includes(index);
      const outcomes = await Promise.allSettled(
        names.map((name, index) =>
          registry.transaction(`test:${name}`, fails(index) ? failing(name) : insert(name)),
        ),
      );
      expect(outcomes.map((outcome) => outcome.status)).toEqual(
        names.map((_, index) => (fails(index) ? 'rejected' : 'fulfilled')),
      );
      const kept = names.filter((_, index) => !fails(index));
      const rows = await registry.reader.all<{ name: string }>('SELECT name FROM operators ORDER BY rowid');
      expect(rows.map((row) => row.name)).toEqual(kept);
      // Audit rows in queue order, each with its own actor, and the chain intact.
      const audit = await registry.audit.list();
      expect(audit.map((entry) => [entry.actor, entry.subject])).toEqual(
        kept.map((name) => [`test:${name}`, name]),
      );
      expect((await registry.audit.verify()).ok).toBe(true);
    });

    it('runs no statement of a failed member after its rollback, however late it comes', async () => {
      // A member whose work fails while another branch of it still goes on (a Promise.all): that branch's
      // next statement, a few turns of the event loop later, must not land outside the rolled-back savepoint.
      for (let turns = 0; turns < 40; turns++) {
        const late = `late-${turns}`;
        const failingWithStraggler = async (tx: Transaction) => {
          const straggler = (async () => {
            for (let turn = 0; turn < turns; turn++) await null;
            await insert(late)(tx);
          })();
          straggler.catch(() => undefined);
          await tx.run('INSERT INTO operators (name, role, created_at) VALUES (?, ?, ?)', ['x', 'boss', now]);
        };
        const outcomes = await Promise.allSettled([
          registry.transaction('test:a', insert(`first-${turns}`)),
          registry.transaction('test:b', failingWithStraggler),
        ]);
        expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected']);
      }
      const rows = await registry.reader.all<{ name: string }>(
        "SELECT name FROM operators WHERE name LIKE 'late-%'",
      );
      expect(rows).toEqual([]);
      expect((await registry.audit.verify()).ok).toBe(true);
    });

    it('tells a caller of success only once another connection sees the change', async () => {
      const other = await Registry.open(path.join(dir, 'registry.sqlite'));
      try {
        const seen = await Promise.all(
          ['a', 'b', 'c'].map(async (name) => {
            await registry.transaction('test:x', insert(name));
            return other.reader.get('SELECT name FROM operators WHERE name = ?', [name]);
          }),
        );
        expect(seen).toEqual([{ name: 'a' }, { name: 'b' }, { name: 'c' }]);
      } finally {
        await other.close();
      }
    });
  });

  it('refuses a transaction opened inside another instead of deadlocking', async () => {
    await expect(
      registry.transaction('test:a', () => registry.transaction('test:a', async () => 1)),
    ).rejects.toMatchObject({
      code: 'internal.nested_transaction',
    });
  });

  it('refuses a transaction opened deeper inside another, after awaits', async () => {
    const audited = async () => {
      await Promise.resolve();
      return registry.transaction('test:a', async () => 1);
    };
    await expect(
      registry.transaction('test:a', async (tx) => {
        await tx.get('SELECT 1 AS one');
        return audited();
      }),
    ).rejects.toMatchObject({ code: 'internal.nested_transaction' });
  });

  it('queues, not refuses, another caller that starts a transaction while one works', async () => {
    let working!: () => void;
    const started = new Promise<void>((resolve) => (working = resolve));
    const first = registry.transaction('test:a', async (tx) => {
      working();
      // Other callers' code runs while this work awaits.
      for (let turn = 0; turn < 5; turn++) await tx.get('SELECT 1 AS one');
      return 'first';
    });
    const second = started.then(() => registry.transaction('test:b', async () => 'second'));
    await expect(Promise.all([first, second])).resolves.toEqual(['first', 'second']);
  });

  it('refuses statements on a transaction that has ended', async () => {
    let leaked: Parameters<Parameters<Registry['transaction']>[1]>[0] | undefined;
    await registry.transaction('test:a', async (tx) => {
      leaked = tx;
    });
    expect(() => leaked?.run('DELETE FROM operators')).toThrow(/already ended/);
  });

  it('refuses to update or delete audit rows through SQL', async () => {
    await registry.transaction('test:a', (tx) => tx.audit('operator.create', 'bob'));
    await expect(
      registry.transaction('test:a', (tx) => tx.run("UPDATE audit_log SET actor = 'eve'")),
    ).rejects.toThrow(/append-only/);
    await expect(registry.transaction('test:a', (tx) => tx.run('DELETE FROM audit_log'))).rejects.toThrow(
      /append-only/,
    );
  });
});
