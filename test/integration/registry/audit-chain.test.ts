import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registryFile, writeSettings } from '../../../src/config/settings.js';
import { auditRowHash } from '../../../src/registry/audit-chain.js';
import { Registry, auditAnchorFile } from '../../../src/registry/registry.js';
import { runCli } from '../../helpers/cli.js';
import { openTempRegistry, type TempRegistry } from './temp-registry.js';

const run = promisify(execFile);
let temp: TempRegistry;
const rows = 8;

// Tampering happens as an intruder would: with the sqlite3 CLI on the closed registry file,
// dropping the append-only triggers first.
async function tamper(sql: string): Promise<void> {
  await run('sqlite3', [
    temp.file,
    `DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; ${sql}`,
  ]);
}

async function verifyReopened() {
  const registry = await Registry.open(temp.file);
  try {
    return await registry.audit.verify();
  } finally {
    await registry.close();
  }
}

/** The intruder knows the algorithm: edits row `seq` and re-hashes it and every row after it. */
async function forgeActorOfRow(seq: number): Promise<void> {
  const { stdout } = await run('sqlite3', [
    '-json',
    temp.file,
    `SELECT * FROM audit_log WHERE seq >= ${seq - 1} ORDER BY seq`,
  ]);
  const tail = JSON.parse(stdout) as {
    seq: number;
    at: string;
    actor: string;
    action: string;
    subject: string;
    details: string;
    prev_hash: string;
    hash: string;
  }[];
  let prevHash = tail[0]?.hash ?? '';
  const updates = tail.slice(1).map((row) => {
    const forged = { ...row, actor: row.seq === seq ? 'test:nobody' : row.actor, prev_hash: prevHash };
    forged.hash = auditRowHash(forged.prev_hash, forged);
    prevHash = forged.hash;
    return `UPDATE audit_log SET actor = '${forged.actor}', prev_hash = '${forged.prev_hash}', hash = '${forged.hash}' WHERE seq = ${row.seq};`;
  });
  await tamper(updates.join(' '));
}

/** A change made through the station after the tampering, as an unsuspecting technician would. */
async function commitReopened(name: string): Promise<void> {
  const registry = await Registry.open(temp.file);
  try {
    await registry.transaction('test:later', (tx) => registry.things.create(tx, { name }));
  } finally {
    await registry.close();
  }
}

async function reanchorReopened() {
  const registry = await Registry.open(temp.file);
  try {
    return await registry.reanchor('test:auditor');
  } finally {
    await registry.close();
  }
}

beforeEach(async () => {
  temp = await openTempRegistry();
  for (let index = 1; index <= rows; index += 1) {
    await temp.registry.transaction(`test:user${index}`, (tx) =>
      temp.registry.things.create(tx, { name: `SN-${index}`, attributes: { batch: `b${index}` } }),
    );
  }
  await temp.registry.close();
});
afterEach(() => rm(temp.dir, { recursive: true, force: true }));

describe('audit chain verification', () => {
  it('accepts the untouched log and its anchor', async () => {
    const result = await verifyReopened();
    expect(result).toMatchObject({ ok: true, rows, head: { seq: rows }, anchor: { seq: rows } });
    expect(result.firstBroken).toBeUndefined();
  });

  it('refuses an edit through sqlite3 while the triggers stand', async () => {
    await expect(
      run('sqlite3', [temp.file, "UPDATE audit_log SET actor = 'eve' WHERE seq = 3"]),
    ).rejects.toThrow(/append-only/);
  });

  it('finds a row whose content was edited', async () => {
    await tamper(`UPDATE audit_log SET actor = 'test:someone-else' WHERE seq = 3`);
    expect((await verifyReopened()).firstBroken).toMatchObject({ seq: 3, reason: 'edited' });
  });

  it('finds a row whose details were edited', async () => {
    await tamper(`UPDATE audit_log SET details = '{"attributes":{"batch":"b0"}}' WHERE seq = 5`);
    expect((await verifyReopened()).firstBroken).toMatchObject({ seq: 5, reason: 'edited' });
  });

  it('finds a deleted row', async () => {
    await tamper('DELETE FROM audit_log WHERE seq = 4');
    const result = await verifyReopened();
    expect(result.ok).toBe(false);
    expect(result.firstBroken).toMatchObject({ seq: 4, reason: 'missing-row' });
  });

  it('finds a deleted row even when the later rows were renumbered to close the gap', async () => {
    await tamper('DELETE FROM audit_log WHERE seq = 4; UPDATE audit_log SET seq = seq - 1 WHERE seq > 4');
    expect((await verifyReopened()).firstBroken).toMatchObject({ seq: 4 });
  });

  it('finds reordered rows (two rows swapped their seq)', async () => {
    await tamper(
      'UPDATE audit_log SET seq = -2 WHERE seq = 2; UPDATE audit_log SET seq = 2 WHERE seq = 6; UPDATE audit_log SET seq = 6 WHERE seq = -2',
    );
    expect((await verifyReopened()).firstBroken).toMatchObject({ seq: 2, reason: 'edited' });
  });

  it('finds deleted newest rows through the anchor file', async () => {
    await tamper(`DELETE FROM audit_log WHERE seq > ${rows - 2}`);
    expect((await verifyReopened()).firstBroken).toMatchObject({ seq: rows - 1, reason: 'truncated' });
  });

  it('finds a tail rewritten with correctly recomputed hashes through the anchor file', async () => {
    await forgeActorOfRow(6);
    expect((await verifyReopened()).firstBroken).toMatchObject({ seq: rows, reason: 'anchor-mismatch' });
  });

  it('reports a missing anchor file when the log has rows', async () => {
    await rm(auditAnchorFile(temp.file));
    expect((await verifyReopened()).firstBroken).toMatchObject({ reason: 'anchor-missing' });
  });

  it('keeps reporting a rewritten tail after later commits: the head file only moves along its chain', async () => {
    await forgeActorOfRow(3);
    await commitReopened('SN-later');
    await commitReopened('SN-later-2');
    expect((await verifyReopened()).firstBroken).toMatchObject({ seq: rows, reason: 'anchor-mismatch' });
  });

  it('keeps reporting deleted newest rows after more commits than were deleted', async () => {
    await tamper(`DELETE FROM audit_log WHERE seq = ${rows}`);
    await commitReopened('SN-a');
    await commitReopened('SN-b');
    expect((await verifyReopened()).firstBroken).toMatchObject({ seq: rows, reason: 'anchor-mismatch' });
  });

  it('does not make a removed head file good again on the next commit', async () => {
    await tamper(`DELETE FROM audit_log WHERE seq >= ${rows - 1}`);
    await rm(auditAnchorFile(temp.file));
    await commitReopened('SN-a');
    expect((await verifyReopened()).firstBroken).toMatchObject({ reason: 'anchor-missing' });
  });

  it('reports a garbled head file as a break, and still opens the registry for reading and writing', async () => {
    await writeFile(auditAnchorFile(temp.file), 'garbage\n');
    await commitReopened('SN-after-garbage');
    const registry = await Registry.open(temp.file);
    try {
      expect(await registry.things.describe('SN-after-garbage')).toMatchObject({ name: 'SN-after-garbage' });
    } finally {
      await registry.close();
    }
    expect((await verifyReopened()).firstBroken).toMatchObject({ reason: 'anchor-corrupt' });
    expect(await readFile(auditAnchorFile(temp.file), 'utf8')).toBe('garbage\n');
  });

  it('re-anchors a log whose head file is gone, saying so in the log; an intact or broken chain is refused', async () => {
    await expect(reanchorReopened()).rejects.toMatchObject({ code: 'audit.anchor_intact' });
    await rm(auditAnchorFile(temp.file));
    const result = await reanchorReopened();
    expect(result).toMatchObject({ ok: true, rows: rows + 1, anchor: { seq: rows + 1 } });
    const registry = await Registry.open(temp.file);
    try {
      const [row] = await registry.audit.list({ action: 'audit.reanchor' });
      expect(row).toMatchObject({ actor: 'test:auditor', details: { reason: 'anchor-missing' } });
    } finally {
      await registry.close();
    }
    await commitReopened('SN-after');
    expect(await verifyReopened()).toMatchObject({ ok: true, anchor: { seq: rows + 2 } });

    await tamper(`UPDATE audit_log SET actor = 'test:someone-else' WHERE seq = 3`);
    await expect(reanchorReopened()).rejects.toMatchObject({ code: 'audit.chain_broken' });
  });

  it("keeps a garbled head file's text in the re-anchor row: it may still say how far the log had reached", async () => {
    await tamper(`DELETE FROM audit_log WHERE seq > ${rows - 2}`);
    const text = await readFile(auditAnchorFile(temp.file), 'utf8');
    const garbled = text.replace(/"hash":"./, '"hash":"!');
    await writeFile(auditAnchorFile(temp.file), garbled);
    const verified = await verifyReopened();
    expect(verified.firstBroken).toMatchObject({ reason: 'anchor-corrupt' });
    expect(verified.firstBroken?.message).not.toContain(temp.dir);
    await reanchorReopened();
    const registry = await Registry.open(temp.file);
    try {
      const [row] = await registry.audit.list({ action: 'audit.reanchor' });
      expect(row?.details).toMatchObject({ reason: 'anchor-corrupt', previousText: garbled });
      expect(JSON.stringify(row?.details)).not.toContain(temp.dir);
    } finally {
      await registry.close();
    }
  });

  it('exits 1 from station audit verify naming the broken row', async () => {
    await writeSettings(temp.dir, { version: 1, keyStore: { kind: 'soft' } });
    expect(registryFile(temp.dir)).toBe(temp.file);
    await tamper('DELETE FROM audit_log WHERE seq = 7');
    const result = await runCli(['audit', 'verify'], { dataDir: temp.dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/row 7/);
  }, 60_000);
});
