import { StationError } from '../api/errors.js';
import type { TemplateIssue } from '../api/templates.js';

/** Path of a child node: `Resources.thing` for keys, `ThingGroups[1]` for list items. */
export function childPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return parent === '' ? key : `${parent}.${key}`;
}

/** Collects every fault instead of stopping at the first, so a technician fixes a template in one pass. */
export class IssueList {
  readonly issues: TemplateIssue[] = [];

  add(path: string, message: string): void {
    this.issues.push({ path, message });
  }

  get empty(): boolean {
    return this.issues.length === 0;
  }
}

export function formatIssue(issue: TemplateIssue): string {
  return issue.path === '' ? issue.message : `${issue.path}: ${issue.message}`;
}

/** One StationError for a list of faults; the list travels in `details.errors`. */
export function templateError(
  code: 'template.invalid' | 'template.evaluation_failed',
  issues: readonly TemplateIssue[],
): StationError {
  const first = issues[0] === undefined ? 'no detail' : formatIssue(issues[0]);
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  const what = code === 'template.invalid' ? 'The template is invalid' : 'The template cannot be evaluated';
  return new StationError(code, `${what}: ${first}${more}.`, {
    field: issues[0]?.path,
    details: { errors: issues },
  });
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; errors: TemplateIssue[] };
