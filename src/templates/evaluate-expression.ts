import type { Expression, Mappings } from './template-model.js';
import type { IssueList } from './template-issues.js';

export type Value = string | string[];

/**
 * No value AWS IoT takes is longer than a 64 KiB certificate PEM (API model). Capping every intermediate
 * string keeps a hostile template (an Fn::Sub repeating a long variable) from exhausting memory.
 */
export const maxValueLength = 65_536;

export interface EvaluationScope {
  readonly issues: IssueList;
  readonly mappings: Mappings;
  /** The parameter's value, or undefined after recording why it has none. */
  resolveParameter(name: string, path: string): string | undefined;
}

export function evaluateExpression(expression: Expression, scope: EvaluationScope): Value | undefined {
  switch (expression.kind) {
    case 'text':
      return expression.value;
    case 'number':
      return String(expression.value);
    case 'list': {
      const items = expression.items.map((item) => evaluateString(item, scope));
      return items.every((item) => item !== undefined) ? (items as string[]) : undefined;
    }
    case 'ref':
      return scope.resolveParameter(expression.name, expression.path);
    case 'join': {
      const list = evaluateList(expression.list, scope);
      return list && bounded(list.join(expression.delimiter), expression.path, 'Fn::Join', scope);
    }
    case 'select':
      return evaluateSelect(expression, scope);
    case 'split': {
      const source = evaluateString(expression.source, scope);
      return source?.split(expression.delimiter);
    }
    case 'find-in-map':
      return evaluateFindInMap(expression, scope);
    case 'sub':
      return evaluateSub(expression, scope);
  }
}

/** Evaluates where a string is needed; a list there is a fault. */
export function evaluateString(expression: Expression, scope: EvaluationScope): string | undefined {
  const value = evaluateExpression(expression, scope);
  if (Array.isArray(value)) {
    scope.issues.add(expression.path, `yields a list of ${value.length} where a string is needed`);
    return undefined;
  }
  return value;
}

/** Evaluates where a list is needed; a string there is a fault. */
export function evaluateList(expression: Expression, scope: EvaluationScope): string[] | undefined {
  const value = evaluateExpression(expression, scope);
  if (typeof value === 'string') {
    scope.issues.add(expression.path, 'yields a string where a list is needed');
    return undefined;
  }
  return value;
}

function bounded(value: string, path: string, what: string, scope: EvaluationScope): string | undefined {
  if (value.length <= maxValueLength) return value;
  scope.issues.add(path, `${what} yields more than ${maxValueLength} characters`);
  return undefined;
}

function evaluateSelect(
  expression: Extract<Expression, { kind: 'select' }>,
  scope: EvaluationScope,
): string | undefined {
  const index = evaluateString(expression.index, scope);
  const list = evaluateList(expression.list, scope);
  if (index === undefined || list === undefined) return undefined;
  // AWS does not check the index itself: "Both conditions result in a provisioning error" (aws-iot-spec.md 1).
  if (!/^\d+$/.test(index)) {
    scope.issues.add(expression.path, `Fn::Select index "${index}" is not a whole number`);
    return undefined;
  }
  const position = Number(index);
  if (position >= list.length) {
    scope.issues.add(expression.path, `Fn::Select index ${position} out of range (list has ${list.length})`);
    return undefined;
  }
  return list[position];
}

function evaluateFindInMap(
  expression: Extract<Expression, { kind: 'find-in-map' }>,
  scope: EvaluationScope,
): Value | undefined {
  const mapName = evaluateString(expression.mapName, scope);
  const topKey = evaluateString(expression.topKey, scope);
  const secondKey = evaluateString(expression.secondKey, scope);
  if (mapName === undefined || topKey === undefined || secondKey === undefined) return undefined;
  const map = scope.mappings.get(mapName);
  // A missing key is an error, as in CloudFormation (aws-iot-spec.md 1; T03 "Berlin" case).
  if (!map) {
    scope.issues.add(expression.path, `Fn::FindInMap: no mapping named "${mapName}"`);
    return undefined;
  }
  const second = map.get(topKey);
  if (!second) {
    scope.issues.add(expression.path, `Fn::FindInMap: mapping "${mapName}" has no key "${topKey}"`);
    return undefined;
  }
  const value = second.get(secondKey);
  if (value === undefined) {
    scope.issues.add(
      expression.path,
      `Fn::FindInMap: mapping "${mapName}.${topKey}" has no key "${secondKey}"`,
    );
  }
  return value;
}

function evaluateSub(
  expression: Extract<Expression, { kind: 'sub' }>,
  scope: EvaluationScope,
): string | undefined {
  const variables = new Map<string, string | undefined>();
  let text = '';
  let failed = false;
  for (const piece of expression.pieces) {
    if (piece.kind === 'text') {
      text += piece.text;
    } else {
      if (!variables.has(piece.name)) {
        const local = expression.variables.get(piece.name);
        variables.set(
          piece.name,
          local ? evaluateString(local, scope) : scope.resolveParameter(piece.name, expression.path),
        );
      }
      const value = variables.get(piece.name);
      if (value === undefined) failed = true;
      else text += value;
    }
    if (text.length > maxValueLength) return bounded(text, expression.path, 'Fn::Sub', scope);
  }
  return failed ? undefined : text;
}
