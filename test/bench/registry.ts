// `npm run bench -- registry [--things N] [--queries Q]`: builds a registry of N things (default
// 1,000,000) through the real module (validation, audit rows included) and prints the insert rate,
// then median and p99 latency of each search kind next to a primary-key lookup measured in the same
// run (design.md 10: a name-prefix or attribute search under 20 ms at 1,000,000 things).
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Registry } from '../../src/registry/registry.js';
import type { ThingSearch } from '../../src/registry/thing-search.js';
import type { ThingInput } from '../../src/registry/things.js';

const thingTypes = ['tracker', 'gateway', 'sensor'];
const colors = ['red', 'green', 'blue', 'black', 'white', 'grey', 'orange', 'yellow'];
const groups = Array.from({ length: 10 }, (_, index) => `line-${index}`);
const groupMembersEach = 2_000;
const thingsPerTransaction = 5_000;
const thingsPerBatchAttribute = 1_000;
const warmUpRuns = 10;

export default async function registryBench(args: string[]): Promise<void> {
  const count = option(args, '--things', 1_000_000);
  const queries = option(args, '--queries', 300);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-registry-'));
  const file = path.join(dir, 'registry.sqlite');
  const registry = await Registry.open(file);
  try {
    console.log(`registry bench: ${count.toLocaleString('en')} things, ${queries} queries per search kind`);
    await build(registry, count);
    const size = (await stat(file)).size + (await stat(`${file}-wal`).catch(() => ({ size: 0 }))).size;
    console.log(`registry file: ${(size / 1e6).toFixed(0)} MB`);
    await measureSearches(registry, count, queries);
  } finally {
    await registry.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const thingName = (index: number) => `SN-${String(index).padStart(7, '0')}`;

function thingInput(index: number): ThingInput {
  return {
    name: thingName(index),
    thingTypeName: thingTypes[index % thingTypes.length],
    attributes: {
      color: colors[(index * 7919) % colors.length] as string,
      batch: `b${Math.floor(index / thingsPerBatchAttribute)}`,
      imei: String(350_000_000_000_000 + index),
    },
  };
}

async function build(registry: Registry, count: number): Promise<void> {
  await registry.transaction('bench:setup', async (tx) => {
    for (const name of thingTypes) await registry.thingTypes.create(tx, { name });
    for (const name of groups) await registry.thingGroups.create(tx, { name });
  });
  const started = performance.now();
  for (let first = 0; first < count; first += thingsPerTransaction) {
    const batch = Array.from({ length: Math.min(thingsPerTransaction, count - first) }, (_, offset) =>
      thingInput(first + offset),
    );
    await registry.transaction('bench:bulk', (tx) => registry.things.createMany(tx, batch));
    if ((first / thingsPerTransaction) % 40 === 39)
      process.stdout.write(`  ${(first + batch.length).toLocaleString('en')} things\n`);
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `insert: ${count.toLocaleString('en')} things with 3 attributes and an audit row each in ${seconds.toFixed(1)} s = ${Math.round(count / seconds).toLocaleString('en')} things/s (batches of ${thingsPerTransaction} per transaction)`,
  );

  const members = Math.min(groupMembersEach * groups.length, count);
  const memberStarted = performance.now();
  await registry.transaction('bench:groups', async (tx) => {
    for (let member = 0; member < members; member += 1) {
      // Spread members over the whole name range so group pages are not just the first names.
      const index = Math.floor((member * count) / members);
      await registry.thingGroups.addThing(tx, groups[member % groups.length] as string, thingName(index));
    }
  });
  const memberSeconds = (performance.now() - memberStarted) / 1000;
  console.log(
    `group membership: ${members.toLocaleString('en')} single adds in ${memberSeconds.toFixed(1)} s = ${Math.round(members / memberSeconds).toLocaleString('en')}/s`,
  );
}

interface Kind {
  readonly label: string;
  readonly search: (random: () => number) => ThingSearch;
}

async function measureSearches(registry: Registry, count: number, queries: number): Promise<void> {
  const pick = <T>(items: readonly T[], random: () => number): T =>
    items[Math.floor(random() * items.length)] as T;
  const anyIndex = (random: () => number) => Math.floor(random() * count);
  const kinds: Kind[] = [
    {
      label: 'name prefix (~1,000 match)',
      search: (r) => ({ namePrefix: thingName(anyIndex(r)).slice(0, 7) }),
    },
    { label: 'name prefix (1 match)', search: (r) => ({ namePrefix: thingName(anyIndex(r)) }) },
    {
      label: 'attribute, unique value',
      search: (r) => ({ attributes: { imei: String(350_000_000_000_000 + anyIndex(r)) } }),
    },
    { label: 'attribute, 1 in 8 match', search: (r) => ({ attributes: { color: pick(colors, r) } }) },
    {
      label: 'attribute, 1,000 match',
      search: (r) => ({ attributes: { batch: `b${Math.floor(anyIndex(r) / thingsPerBatchAttribute)}` } }),
    },
    {
      label: 'two attributes',
      search: (r) => ({
        attributes: {
          batch: `b${Math.floor(anyIndex(r) / thingsPerBatchAttribute)}`,
          color: pick(colors, r),
        },
      }),
    },
    { label: 'thing type', search: (r) => ({ thingTypeName: pick(thingTypes, r) }) },
    {
      label: 'thing type, later page',
      search: (r) => ({ thingTypeName: pick(thingTypes, r), nextToken: token(thingName(anyIndex(r))) }),
    },
    { label: 'group', search: (r) => ({ thingGroupName: pick(groups, r) }) },
    {
      label: 'type + attribute + prefix',
      search: (r) => ({
        thingTypeName: pick(thingTypes, r),
        attributes: { color: pick(colors, r) },
        namePrefix: thingName(anyIndex(r)).slice(0, 6),
      }),
    },
    { label: 'no match (absent value)', search: () => ({ attributes: { color: 'purple' } }) },
  ];

  const random = seededRandom(42);
  const baselineNames = Array.from({ length: queries }, () => thingName(anyIndex(random)));
  const baseline = await timeEach(baselineNames, (name) =>
    registry.reader.get('SELECT * FROM things WHERE name = ?', [name]),
  );
  const rows: string[][] = [
    [
      'search (page of up to 50 things with attributes)',
      'median ms',
      'p99 ms',
      'median / baseline',
      'things/page',
    ],
  ];
  rows.push([
    'baseline: primary-key lookup of one thing row',
    ms(baseline.median),
    ms(baseline.p99),
    '1.0',
    '1',
  ]);
  for (const kind of kinds) {
    const searches = Array.from({ length: queries }, () => kind.search(random));
    let returned = 0;
    const timing = await timeEach(searches, async (search) => {
      returned += (await registry.things.search(search)).things.length;
    });
    rows.push([
      kind.label,
      ms(timing.median),
      ms(timing.p99),
      (timing.median / baseline.median).toFixed(1),
      (returned / (queries + Math.min(warmUpRuns, queries))).toFixed(0),
    ]);
  }
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
  for (const row of rows)
    console.log(
      row
        .map((cell, column) =>
          column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0),
        )
        .join('  '),
    );
}

async function timeEach<T>(
  inputs: readonly T[],
  work: (input: T) => Promise<unknown>,
): Promise<{ median: number; p99: number }> {
  for (const input of inputs.slice(0, warmUpRuns)) await work(input); // warm the statement cache and pages
  const samples: number[] = [];
  for (const input of inputs) {
    const started = performance.now();
    await work(input);
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  const at = (quantile: number) =>
    samples[Math.min(samples.length - 1, Math.floor(quantile * samples.length))] ?? Number.NaN;
  return { median: at(0.5), p99: at(0.99) };
}

function token(afterName: string): string {
  return Buffer.from(afterName, 'utf8').toString('base64url');
}

function ms(value: number): string {
  return value.toFixed(value < 1 ? 3 : 2);
}

function option(args: string[], name: string, fallback: number): number {
  const index = args.indexOf(name);
  if (index === -1) return fallback;
  const value = Number(args[index + 1]);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${name} takes a whole number, got ${args[index + 1]}`);
  return value;
}

/** Repeatable query mix: mulberry32. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}
