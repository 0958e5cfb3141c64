import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Registry } from '../../../src/registry/registry.js';
import { buildThingSearch, type ThingSearch } from '../../../src/registry/thing-search.js';
import { openTempRegistry, type TempRegistry } from './temp-registry.js';

let temp: TempRegistry;
let registry: Registry;

// 40 things: SN-000..SN-039; even ones are red, every third is a tracker, the first ten are on line-1.
beforeAll(async () => {
  temp = await openTempRegistry();
  registry = temp.registry;
  await registry.transaction('test:seed', async (tx) => {
    await registry.thingTypes.create(tx, { name: 'tracker' });
    await registry.thingGroups.create(tx, { name: 'line-1' });
    await registry.things.createMany(
      tx,
      Array.from({ length: 40 }, (_, index) => ({
        name: `SN-${String(index).padStart(3, '0')}`,
        thingTypeName: index % 3 === 0 ? 'tracker' : undefined,
        attributes: { color: index % 2 === 0 ? 'red' : 'blue', batch: `b${Math.floor(index / 20)}` },
      })),
    );
    await registry.things.create(tx, { name: 'SN-1', attributes: { color: 'red' } }); // sorts after SN-039
    await registry.things.create(tx, { name: 'other' });
    for (let index = 0; index < 10; index += 1) {
      await registry.thingGroups.addThing(tx, 'line-1', `SN-${String(index).padStart(3, '0')}`);
    }
  });
});
afterAll(() => temp.dispose());

const sn = (index: number) => `SN-${String(index).padStart(3, '0')}`;
const range = (count: number, keep: (index: number) => boolean) =>
  Array.from({ length: count }, (_, index) => index)
    .filter(keep)
    .map(sn);

async function names(search: ThingSearch): Promise<string[]> {
  return (await registry.things.search({ maxResults: 250, ...search })).things.map((thing) => thing.name);
}

describe('thing search', () => {
  it('finds things by name prefix, without neighbours that merely sort close', async () => {
    expect(await names({ namePrefix: 'SN-00' })).toEqual(range(10, () => true));
    expect(await names({ namePrefix: 'SN-01' })).toEqual(range(20, (index) => index >= 10));
    expect(await names({ namePrefix: 'SN-1' })).toEqual(['SN-1']);
    expect(await names({ namePrefix: 'ot' })).toEqual(['other']);
    expect(await names({ namePrefix: 'zz' })).toEqual([]);
  });

  it('finds things by attribute equality, one or several', async () => {
    expect(await names({ attributes: { color: 'red' } })).toEqual([...range(40, (i) => i % 2 === 0), 'SN-1']);
    expect(await names({ attributes: { color: 'blue', batch: 'b1' } })).toEqual(
      range(40, (i) => i >= 20 && i % 2 === 1),
    );
  });

  it('finds things by thing type', async () => {
    expect(await names({ thingTypeName: 'tracker' })).toEqual(range(40, (i) => i % 3 === 0));
  });

  it('finds things directly in a group', async () => {
    expect(await names({ thingGroupName: 'line-1' })).toEqual(range(10, () => true));
  });

  it('combines every filter', async () => {
    expect(
      await names({
        thingGroupName: 'line-1',
        thingTypeName: 'tracker',
        attributes: { color: 'red' },
        namePrefix: 'SN-00',
      }),
    ).toEqual(['SN-000', 'SN-006']);
  });

  it('returns each thing with its attributes', async () => {
    const page = await registry.things.search({ namePrefix: 'SN-003' });
    expect(page.things).toEqual([
      expect.objectContaining({
        name: 'SN-003',
        thingTypeName: 'tracker',
        attributes: { color: 'blue', batch: 'b0' },
      }),
    ]);
    expect(page.nextToken).toBeUndefined();
  });

  it('pages through results in name order with nextToken, each thing once', async () => {
    for (const search of [
      {},
      { attributes: { color: 'red' } },
      { thingTypeName: 'tracker' },
      { thingGroupName: 'line-1' },
    ] as ThingSearch[]) {
      const all = await names(search);
      const paged: string[] = [];
      let nextToken: string | undefined;
      do {
        const page = await registry.things.search({ ...search, maxResults: 3, nextToken });
        expect(page.things.length).toBeLessThanOrEqual(3);
        paged.push(...page.things.map((thing) => thing.name));
        nextToken = page.nextToken;
      } while (nextToken !== undefined);
      expect(paged).toEqual(all);
    }
  });

  it('refuses a forged nextToken and out-of-range page sizes', async () => {
    await expect(
      registry.things.search({ nextToken: Buffer.from('no spaces allowed').toString('base64url') }),
    ).rejects.toMatchObject({
      code: 'input.invalid',
      field: 'nextToken',
    });
    await expect(registry.things.search({ maxResults: 0 })).rejects.toMatchObject({ field: 'maxResults' });
    await expect(registry.things.search({ maxResults: 251 })).rejects.toMatchObject({ field: 'maxResults' });
    await expect(registry.things.search({ namePrefix: 'a b' })).rejects.toMatchObject({
      field: 'namePrefix',
    });
  });

  it.each<[string, ThingSearch]>([
    ['name prefix', { namePrefix: 'SN-0' }],
    ['attribute', { attributes: { color: 'red' }, namePrefix: 'SN' }],
    ['thing type', { thingTypeName: 'tracker', nextToken: Buffer.from('SN-010').toString('base64url') }],
    ['group', { thingGroupName: 'line-1', attributes: { color: 'red' } }],
  ])('walks an index in name order for a %s search (no table scan, no sort)', async (_kind, search) => {
    const { sql, params } = buildThingSearch(search);
    const plan = await registry.reader.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, params);
    const details = plan.map((step) => step.detail).join('\n');
    expect(details).not.toMatch(/^SCAN [a-z]+$/m);
    expect(details).not.toMatch(/TEMP B-TREE/);
    expect(details).toMatch(/USING (COVERING )?INDEX|USING PRIMARY KEY/);
  });
});
