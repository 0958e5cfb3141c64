import { parse as parseCsv } from 'csv-parse/sync';
import { invalidInput, StationError } from '../api/errors.js';
import type { IdentityField, ParameterSource } from '../api/jobs.js';

export type Parameters = Record<string, string>;
export type DeviceFacts = Partial<Record<IdentityField, string>>;

export interface ParameterAllocation {
  /** The job's next sequence number, allocated atomically by the registry. */
  sequenceNumber?: number;
  /** The list row handed to this device (in-order assignment, allocated by the registry). */
  listRow?: Parameters;
  /** What the technician typed or scanned. */
  operatorValue?: string;
}

/** `SN-{000000}` with 42 -> `SN-000042`; numbers wider than the placeholder keep all their digits. */
export function formatSequence(pattern: string, value: number): string {
  const placeholder = /\{(0+)\}/.exec(pattern);
  if (!placeholder)
    throw invalidInput('parameters.sequence.pattern', 'needs a {000} placeholder for the number');
  const width = placeholder[1]!.length;
  return pattern.replace(placeholder[0], String(value).padStart(width, '0'));
}

/** The parameter names a source gives devices values for (a list: every column any row has). */
export function suppliedParameters(source: ParameterSource): Set<string> {
  const names = new Set([...Object.keys(source.constants), ...Object.keys(source.identity)]);
  for (const row of source.list?.rows ?? []) for (const name of Object.keys(row)) names.add(name);
  if (source.sequence) names.add(source.sequence.parameter);
  if (source.operator) names.add(source.operator.parameter);
  return names;
}

/** Builds one device's parameter dictionary; later sources win (see ParameterSource). */
export function resolveParameters(
  source: ParameterSource,
  device: DeviceFacts,
  allocation: ParameterAllocation,
): Parameters {
  const parameters: Parameters = { ...source.constants };
  if (source.list) {
    const row = source.list.assign === 'match' ? matchListRow(source, device) : allocation.listRow;
    if (!row) {
      throw new StationError(
        'provisioning.list-exhausted',
        `every row of the job's parameter list (${source.list.rows.length}) went to a device before this one; open a new job with a list for more devices`,
      );
    }
    Object.assign(parameters, row);
  }
  for (const [parameter, field] of Object.entries(source.identity)) {
    const value = device[field];
    if (!value) {
      throw new StationError(
        'device.identity-missing',
        `the device reported no ${field} for parameter ${parameter}`,
        {
          field: `parameters.identity.${parameter}`,
        },
      );
    }
    parameters[parameter] = value;
  }
  if (source.sequence) {
    if (allocation.sequenceNumber === undefined) {
      throw new StationError('internal.sequence-unallocated', 'no sequence number was allocated', {
        userFault: false,
      });
    }
    parameters[source.sequence.parameter] = formatSequence(
      source.sequence.pattern,
      allocation.sequenceNumber,
    );
  }
  if (source.operator) {
    const value = allocation.operatorValue?.trim();
    if (!value) {
      throw new StationError(
        'provisioning.operator-input-missing',
        `${source.operator.prompt}: no value entered`,
        {
          field: source.operator.parameter,
        },
      );
    }
    parameters[source.operator.parameter] = value;
  }
  return parameters;
}

/** The row whose match column holds the device's value; its absence names the column and the value. */
function matchListRow(source: ParameterSource, device: DeviceFacts): Parameters {
  const { rows, matchParameter, matchIdentity } = source.list!;
  const value = device[matchIdentity!];
  if (!value) {
    throw new StationError(
      'device.identity-missing',
      `the device reported no ${matchIdentity} to find its row of the parameter list by`,
      { field: 'parameters.list.matchIdentity' },
    );
  }
  const row = rows.find((candidate) => candidate[matchParameter!] === value);
  if (!row) {
    throw new StationError(
      'provisioning.list-no-match',
      `the parameter list has no row with ${matchParameter} = ${value} (this device's ${matchIdentity})`,
      { field: 'parameters.list', details: { [matchIdentity!]: value } },
    );
  }
  return row;
}

export interface ParsedList {
  rows: Parameters[];
  errors: { line: number; message: string }[];
}

/**
 * Reads a parameter list: AWS bulk-registration JSON lines (one dictionary per line) or CSV with a header
 * row. A bad line is reported with its number; the others are kept.
 */
export function parseParameterList(text: string, format: 'jsonl' | 'csv'): ParsedList {
  return format === 'jsonl' ? parseJsonLines(text) : parseCsvRows(text);
}

function parseJsonLines(text: string): ParsedList {
  const result: ParsedList = { rows: [], errors: [] };
  text.split(/\r?\n/).forEach((line, index) => {
    if (line.trim() === '') return;
    const lineNumber = index + 1;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      result.errors.push({ line: lineNumber, message: 'not valid JSON' });
      return;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      result.errors.push({ line: lineNumber, message: 'a line must be one JSON object of parameters' });
      return;
    }
    const entries = Object.entries(value);
    const notString = entries.find(([, v]) => typeof v !== 'string');
    if (notString) {
      result.errors.push({ line: lineNumber, message: `parameter ${notString[0]} must be a string` });
      return;
    }
    result.rows.push(Object.fromEntries(entries) as Parameters);
  });
  return result;
}

function parseCsvRows(text: string): ParsedList {
  const result: ParsedList = { rows: [], errors: [] };
  let records: { record: string[]; info: { lines: number } }[];
  try {
    // csv-parse types the info form as string[][]; with info: true each record is { record, info }.
    records = parseCsv(text, {
      skip_empty_lines: true,
      relax_column_count: true,
      info: true,
    }) as unknown as typeof records;
  } catch (error) {
    const line = (error as { lines?: number }).lines ?? 1;
    return { rows: [], errors: [{ line, message: error instanceof Error ? error.message : String(error) }] };
  }
  const [header, ...body] = records.map(({ record, info }) => ({ cells: record, line: info.lines }));
  if (!header || header.cells.some((name) => name.trim() === '')) {
    return { rows: [], errors: [{ line: 1, message: 'the first line must name every column' }] };
  }
  const names = header.cells.map((name) => name.trim());
  for (const { cells, line } of body) {
    if (cells.length !== names.length) {
      result.errors.push({ line, message: `expected ${names.length} columns, found ${cells.length}` });
      continue;
    }
    result.rows.push(Object.fromEntries(names.map((name, column) => [name, cells[column]!])));
  }
  return result;
}
