import { invalidInput } from '../api/errors.js';
import type { SqlValue } from './database.js';
import {
  checkAttributeName,
  checkAttributeValue,
  checkThingGroupName,
  checkThingTypeName,
  thingNamePattern,
} from './thing-rules.js';

export interface ThingSearch {
  /** Things whose name starts with this. */
  readonly namePrefix?: string;
  /** Things with every one of these attribute values (equality). */
  readonly attributes?: Readonly<Record<string, string>>;
  readonly thingTypeName?: string;
  /** Things directly in this group. */
  readonly thingGroupName?: string;
  /** Page size, 1-250 (ListThings' limit); 50 by default. */
  readonly maxResults?: number;
  /** From the previous page; continues after its last thing. */
  readonly nextToken?: string;
}

export const defaultMaxResults = 50;
const maxMaxResults = 250;

/**
 * One query per search: the most selective filter we can name drives the walk through its index
 * (group, then attribute, then type, else the things table itself), every index ends in the thing
 * name, so rows come out in name order, the name prefix and the page position become a range on
 * that name, and the other filters are primary-key probes. A page costs about maxResults index
 * steps whatever the registry's size. CROSS JOIN pins the driving table (SQLite never reorders it).
 */
export function buildThingSearch(search: ThingSearch): { sql: string; params: SqlValue[]; limit: number } {
  const limit = checkMaxResults(search.maxResults);
  const attributes = Object.entries(search.attributes ?? {});
  attributes.forEach(([name, value]) => {
    checkAttributeName(name);
    checkAttributeValue(name, value);
  });
  if (search.thingTypeName !== undefined) checkThingTypeName(search.thingTypeName);
  if (search.thingGroupName !== undefined) checkThingGroupName(search.thingGroupName);

  const params: SqlValue[] = [];
  const where: string[] = [];
  let from: string;
  let key: string;
  if (search.thingGroupName !== undefined) {
    from = 'thing_group_members d CROSS JOIN things t ON t.name = d.thing_name';
    key = 'd.thing_name';
    where.push('d.group_name = ?');
    params.push(search.thingGroupName);
  } else if (attributes.length > 0) {
    const [name, value] = attributes.shift() as [string, string];
    from = 'thing_attributes d CROSS JOIN things t ON t.name = d.thing_name';
    key = 'd.thing_name';
    where.push('d.name = ?', 'd.value = ?');
    params.push(name, value);
  } else {
    from = 'things t';
    key = 't.name';
  }
  if (search.thingTypeName !== undefined) {
    where.push('t.thing_type_name = ?');
    params.push(search.thingTypeName);
  }
  for (const [name, value] of attributes) {
    where.push(
      'EXISTS (SELECT 1 FROM thing_attributes a WHERE a.thing_name = t.name AND a.name = ? AND a.value = ?)',
    );
    params.push(name, value);
  }
  if (search.namePrefix !== undefined) {
    const [low, high] = prefixRange(search.namePrefix);
    where.push(`${key} >= ?`, `${key} < ?`);
    params.push(low, high);
  }
  if (search.nextToken !== undefined) {
    where.push(`${key} > ?`);
    params.push(decodeNextToken(search.nextToken));
  }
  const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
  params.push(limit + 1); // one more than a page tells whether another page follows
  return { sql: `SELECT t.* FROM ${from} ${filter} ORDER BY ${key} LIMIT ?`, params, limit };
}

/** The token is the last name of the page, opaque to callers. */
export function encodeNextToken(lastThingName: string): string {
  return Buffer.from(lastThingName, 'utf8').toString('base64url');
}

function decodeNextToken(token: string): string {
  const name = Buffer.from(token, 'base64url').toString('utf8');
  if (!thingNamePattern.test(name))
    throw invalidInput('nextToken', 'this is not a token from a previous page of results.');
  return name;
}

function checkMaxResults(value: number | undefined): number {
  if (value === undefined) return defaultMaxResults;
  if (!Number.isInteger(value) || value < 1 || value > maxMaxResults) {
    throw invalidInput('maxResults', `give a whole number from 1 to ${maxMaxResults}.`);
  }
  return value;
}

/**
 * Names are ASCII (thing-rules), so [prefix, prefix with its last character + 1) holds exactly the
 * names that start with the prefix, and a range uses the index where LIKE would not.
 */
function prefixRange(prefix: string): [string, string] {
  if (prefix.length === 0 || prefix.length > 128 || !thingNamePattern.test(prefix)) {
    throw invalidInput(
      'namePrefix',
      'a name prefix is 1 to 128 letters, digits, colons, underscores or hyphens.',
    );
  }
  const last = prefix.charCodeAt(prefix.length - 1);
  return [prefix, prefix.slice(0, -1) + String.fromCharCode(last + 1)];
}
