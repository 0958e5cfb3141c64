import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registryFile } from '../../../src/config/settings.js';
import { migrations } from '../../../src/registry/migrations/index.js';
import { OutboxTable } from '../../../src/registry/outbox.js';
import { Registry } from '../../../src/registry/registry.js';
import { runCli, runCliJson } from '../../helpers/cli.js';

let dataDir: string;
// Each step spawns a real CLI process; on a busy 2-core machine one takes seconds.
const cliTestTimeout = 180_000;

beforeAll(async () => {
  dataDir = path.join(await mkdtemp(path.join(os.tmpdir(), 'station-cli-')), 'data');
});
afterAll(() => rm(path.dirname(dataDir), { recursive: true, force: true }));

describe('station CLI: init and the registry', { timeout: cliTestTimeout }, () => {
  it('refuses registry commands before station init, with exit 1', async () => {
    const run = await runCli(['thing', 'list'], { dataDir });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/station init/);
  });

  it('initialises the data folder once; running again keeps it and says so', async () => {
    const first = await runCliJson<{
      settings: { status: string };
      registry: { status: string; schemaVersion: number };
    }>(['init', '--hsm', 'soft'], { dataDir });
    expect(first.code).toBe(0);
    expect(first.json).toMatchObject({
      settings: { status: 'created' },
      registry: { status: 'created', schemaVersion: migrations.length },
    });
    expect(JSON.parse(await readFile(path.join(dataDir, 'station.json'), 'utf8'))).toEqual({
      version: 1,
      keyStore: { kind: 'soft' },
    });

    const again = await runCli(['init'], { dataDir });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already exists, kept/);
    expect(again.stdout).toMatch(/up to date/);

    const conflicting = await runCli(['init', '--hsm', 'pkcs11', '--module', '/x.so', '--token', 't'], {
      dataDir,
    });
    expect(conflicting.code).toBe(1);
    expect(conflicting.stderr).toMatch(/already chooses the soft key store/);
  });

  it('finds the data folder through STATION_DATA', async () => {
    const run = await runCliJson(['thing', 'list'], { env: { STATION_DATA: dataDir } });
    expect(run.code).toBe(0);
    expect(run.json).toEqual({ things: [] });
  });

  it('creates, searches, updates and deletes things, printing JSON results under --json', async () => {
    expect((await runCli(['thing-type', 'create', 'tracker'], { dataDir })).code).toBe(0);
    expect((await runCli(['thing-group', 'create', 'line-1'], { dataDir })).code).toBe(0);
    const created = await runCliJson(
      ['thing', 'create', 'SN-1', '--type', 'tracker', '--attr', 'color=red', '--attr', 'hw=v2=rev'],
      { dataDir },
    );
    expect(created).toMatchObject({
      code: 0,
      json: { created: true, thing: { name: 'SN-1', attributes: { color: 'red', hw: 'v2=rev' } } },
    });
    expect((await runCli(['thing', 'create', 'SN-2', '--attr', 'color=blue'], { dataDir })).code).toBe(0);
    expect((await runCli(['thing-group', 'add-thing', 'line-1', 'SN-1'], { dataDir })).code).toBe(0);

    const search = await runCliJson<{ things: { name: string }[] }>(
      ['thing', 'search', '--attr', 'color=red', '--group', 'line-1'],
      { dataDir },
    );
    expect(search.json.things.map((thing) => thing.name)).toEqual(['SN-1']);
    // A misspelt group or type is named, not answered with an empty list.
    for (const args of [
      ['thing', 'search', '--group', 'line-9'],
      ['thing', 'search', '--type', 'no-type'],
      ['thing-group', 'list', '--parent', 'line-9'],
    ]) {
      const unknown = await runCli(args, { dataDir });
      expect(unknown.code, args.join(' ')).toBe(1);
      expect(unknown.stderr).toMatch(/^error: (Thing group line-9|Thing type no-type) does not exist/);
    }

    const firstPage = await runCliJson<{ things: { name: string }[]; nextToken: string }>(
      ['thing', 'list', '--max', '1'],
      { dataDir },
    );
    expect(firstPage.json.things.map((thing) => thing.name)).toEqual(['SN-1']);
    const secondPage = await runCliJson<{ things: { name: string }[] }>(
      ['thing', 'list', '--max', '1', '--next', firstPage.json.nextToken],
      { dataDir },
    );
    expect(secondPage.json.things.map((thing) => thing.name)).toEqual(['SN-2']);

    const updated = await runCliJson(['thing', 'update', 'SN-1', '--remove-attr', 'hw', '--attr', 'fw=1.1'], {
      dataDir,
    });
    expect(updated).toMatchObject({ code: 0, json: { attributes: { color: 'red', fw: '1.1' }, version: 2 } });
    // Options that contradict each other are refused, and the thing stays at version 2.
    for (const [args, says] of [
      [['--attr', 'fw=2', '--remove-attr', 'fw'], '--attr and --remove-attr both name fw'],
      [['--type', 't', '--remove-type'], '--type and --remove-type contradict each other'],
      [['--replace-attributes', '--remove-attr', 'color'], '--replace-attributes already removes'],
    ] as const) {
      const refused = await runCli(['thing', 'update', 'SN-1', ...args], { dataDir });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(says);
    }

    const described = await runCli(['thing', 'describe', 'SN-1'], { dataDir });
    expect(described.stdout).toMatch(/groups:\s+line-1/);
    expect(described.stdout).toMatch(/version:\s+2\n/);

    expect((await runCli(['thing', 'delete', 'SN-2'], { dataDir })).code).toBe(0);
    expect((await runCli(['thing', 'describe', 'SN-2'], { dataDir })).code).toBe(1);
  });

  it('exits 1 with a one-line message naming the field for bad input', async () => {
    const run = await runCli(
      ['thing', 'create', 'SN-3', '--attr', 'a=1', '--attr', 'b=2', '--attr', 'c=3', '--attr', 'd=4'],
      { dataDir },
    );
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^error: attributes: .*at most 3 attributes/),
    ]);
    const json = await runCliJson<{ error: { code: string; field: string } }>(
      ['thing', 'create', 'bad name'],
      { dataDir },
    );
    expect(json.code).toBe(1);
    expect(json.json.error).toMatchObject({ code: 'input.invalid', field: 'thingName' });
  });

  it('lists audit rows by the CLI user and verifies the chain', async () => {
    const list = await runCliJson<{ actor: string; action: string }[]>(
      ['audit', 'list', '--subject', 'SN-1'],
      { dataDir },
    );
    expect(list.json.map((entry) => entry.action)).toEqual([
      'thing.create',
      'thing-group.add-thing',
      'thing.update',
    ]);
    expect(list.json[0]?.actor).toMatch(/^cli:/);
    const area = await runCliJson<{ action: string }[]>(
      ['audit', 'list', '--subject', 'SN-1', '--action', 'thing.*'],
      { dataDir },
    );
    expect(area.json.map((entry) => entry.action)).toEqual(['thing.create', 'thing.update']);
    const verify = await runCliJson<{ ok: boolean; rows: number }>(['audit', 'verify'], { dataDir });
    expect(verify).toMatchObject({ code: 0, json: { ok: true, rows: 7 } });
  });

  it('detaches a certificate from a thing, refusing an ACTIVE one and a link that is not there', async () => {
    expect((await runCli(['thing', 'create', 'SN-7'], { dataDir })).code).toBe(0);
    const [live, revoked] = ['aa'.repeat(32), 'bb'.repeat(32)];
    // What provisioning leaves: an old certificate revoked as superseded, the new one ACTIVE, both attached.
    const registry = await Registry.open(registryFile(dataDir));
    try {
      const now = new Date().toISOString();
      await registry.transaction('test:setup', async (tx) => {
        for (const [id, status] of [
          [live, 'ACTIVE'],
          [revoked, 'REVOKED'],
        ] as const) {
          await tx.run(
            `INSERT INTO certificates (id, pem, subject, serial_hex, not_before, not_after, status, key_origin, created_at)
             VALUES (?, 'pem', 'CN=SN-7', '01', ?, ?, ?, 'device', ?)`,
            [id, now, now, status, now],
          );
          await registry.things.attachPrincipal(tx, 'SN-7', id);
        }
      });
    } finally {
      await registry.close();
    }

    const active = await runCliJson<{ error: { code: string; message: string } }>(
      ['thing', 'detach', 'SN-7', '--cert', live],
      { dataDir },
    );
    expect(active.code).toBe(1);
    expect(active.json.error).toMatchObject({ code: 'registry.in_use' });
    expect(active.json.error.message).toContain(`Revoke it first (station cert revoke ${live}`);

    const detached = await runCliJson(['thing', 'detach', 'SN-7', '--cert', revoked.toUpperCase()], {
      dataDir,
    });
    expect(detached).toMatchObject({
      code: 0,
      json: { thingName: 'SN-7', certificateId: revoked, detached: true },
    });
    const again = await runCli(['thing', 'detach', 'SN-7', '--cert', revoked], { dataDir });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(
      /^error: Certificate b+ is not attached to thing SN-7; nothing was detached/,
    );
    const badId = await runCliJson<{ error: { code: string; field: string } }>(
      ['thing', 'detach', 'SN-7', '--cert', 'bb'],
      { dataDir },
    );
    expect(badId).toMatchObject({ code: 1, json: { error: { code: 'input.invalid', field: 'cert' } } });

    const described = await runCli(['thing', 'describe', 'SN-7'], { dataDir });
    expect(described.stdout).toMatch(new RegExp(`certificates: ${live}\n`));
    const audit = await runCliJson<{ action: string; details: { certificateId: string } }[]>(
      ['audit', 'list', '--subject', 'SN-7'],
      { dataDir },
    );
    expect(audit.json.filter((row) => row.action === 'thing.detach-principal')).toMatchObject([
      { details: { certificateId: revoked } },
    ]);
  });

  it('takes a thing out of a group, audited and queued for upload, so it can join another of the hierarchy', async () => {
    for (const args of [
      ['thing-group', 'create', 'plant'],
      ['thing-group', 'create', 'line-a', '--parent', 'plant'],
      ['thing-group', 'create', 'line-b', '--parent', 'plant'],
      ['thing', 'create', 'SN-9'],
      ['thing-group', 'add-thing', 'line-a', 'SN-9'],
    ])
      expect((await runCli(args, { dataDir })).code, args.join(' ')).toBe(0);
    const moved = await runCli(['thing-group', 'add-thing', 'line-b', 'SN-9'], { dataDir });
    expect(moved.code).toBe(1);
    expect(moved.stderr).toContain('station thing-group remove-thing line-a SN-9');

    const removed = await runCliJson(['thing-group', 'remove-thing', 'line-a', 'SN-9'], { dataDir });
    expect(removed).toMatchObject({
      code: 0,
      json: { thingGroupName: 'line-a', thingName: 'SN-9', removed: true },
    });
    const again = await runCli(['thing-group', 'remove-thing', 'line-a', 'SN-9'], { dataDir });
    expect(again).toMatchObject({ code: 0, stdout: 'SN-9 was not in line-a; nothing changed\n' });
    // A misspelt name is named, not reported as "not in the group".
    for (const [group, thing, says] of [
      ['line-9', 'SN-9', 'Thing group line-9 does not exist'],
      ['line-a', 'SN-99', 'Thing SN-99 does not exist'],
    ] as const) {
      const unknown = await runCli(['thing-group', 'remove-thing', group, thing], { dataDir });
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain(says);
    }
    expect((await runCli(['thing-group', 'add-thing', 'line-b', 'SN-9'], { dataDir })).code).toBe(0);

    const audit = await runCliJson<{ actor: string; action: string; details: unknown }[]>(
      ['audit', 'list', '--subject', 'SN-9', '--action', 'thing-group.*'],
      { dataDir },
    );
    expect(audit.json).toMatchObject([
      { action: 'thing-group.add-thing', details: { thingGroupName: 'line-a' } },
      {
        action: 'thing-group.remove-thing',
        actor: expect.stringMatching(/^cli:/),
        details: { thingGroupName: 'line-a' },
      },
      { action: 'thing-group.add-thing', details: { thingGroupName: 'line-b' } },
    ]);
    const registry = await Registry.open(registryFile(dataDir));
    try {
      const queued = await new OutboxTable(registry.reader).pending(1_000);
      expect(
        queued.filter((entry) => entry.kind === 'thing-group-member' && entry.subject.endsWith('|SN-9')),
      ).toMatchObject([
        { subject: 'line-a|SN-9', payload: { member: false } },
        { subject: 'line-b|SN-9', payload: { member: true } },
      ]);
    } finally {
      await registry.close();
    }
  });
});
