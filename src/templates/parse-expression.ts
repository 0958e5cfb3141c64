import { certificateParameterNames } from '../api/templates.js';
import type { Expression, Mappings, SubPiece, UndeclaredParameterPolicy } from './template-model.js';
import { childPath, type IssueList } from './template-issues.js';

/**
 * Intrinsic functions as AWS IoT documents them (aws-iot-spec.md 1): Ref, Fn::Join, Fn::Select,
 * Fn::Split, Fn::FindInMap, Fn::Sub, with CloudFormation's syntax and nesting rules. Everything else
 * (Fn::If, Fn::GetAtt, Fn::Base64, ...) is undocumented for IoT and rejected.
 */
export const intrinsicFunctionNames = [
  'Ref',
  'Fn::Join',
  'Fn::Select',
  'Fn::Split',
  'Fn::FindInMap',
  'Fn::Sub',
] as const;
type FunctionName = (typeof intrinsicFunctionNames)[number];

/** What a node must yield where it stands; decides which functions may appear there. */
export type Position = 'string' | 'list' | 'index' | 'map-key' | 'any';

// CloudFormation's "supported functions" per argument (intrinsic-function-reference), cut to IoT's six.
const allowedFunctions: Record<Position, readonly FunctionName[]> = {
  string: ['Ref', 'Fn::Join', 'Fn::Select', 'Fn::Sub', 'Fn::FindInMap'],
  list: ['Fn::Split', 'Fn::FindInMap'],
  index: ['Ref', 'Fn::FindInMap'],
  'map-key': ['Ref', 'Fn::FindInMap'],
  any: intrinsicFunctionNames,
};

const positionWords: Record<Position, string> = {
  string: 'a string',
  list: 'a list of strings',
  index: 'a list index',
  'map-key': 'a mapping key',
  any: 'a value',
};

/** Deep enough for any real template, shallow enough that a hostile one cannot exhaust the stack. */
export const maxExpressionDepth = 32;

const builtInParameters: ReadonlySet<string> = new Set(certificateParameterNames);

export function isBuiltInParameter(name: string): boolean {
  return builtInParameters.has(name);
}

export interface ExpressionContext {
  readonly issues: IssueList;
  readonly parameters: ReadonlyMap<string, unknown>;
  readonly resourceNames: ReadonlySet<string>;
  readonly mappings: Mappings;
  readonly undeclaredParameters: UndeclaredParameterPolicy;
}

type JsonObject = Record<string, unknown>;

export function isJsonObject(node: unknown): node is JsonObject {
  return typeof node === 'object' && node !== null && !Array.isArray(node);
}

/** An object is a function call when any key is `Ref` or starts with `Fn::`. */
export function isFunctionCall(node: unknown): node is JsonObject {
  return isJsonObject(node) && Object.keys(node).some((key) => key === 'Ref' || key.startsWith('Fn::'));
}

export function describeJson(node: unknown): string {
  if (node === null) return 'null';
  if (Array.isArray(node)) return 'a list';
  if (typeof node === 'object') return 'an object';
  return `a ${typeof node}`;
}

export function parseExpression(
  node: unknown,
  path: string,
  position: Position,
  context: ExpressionContext,
  depth = 0,
): Expression | undefined {
  if (depth > maxExpressionDepth) {
    context.issues.add(path, `nested more than ${maxExpressionDepth} levels deep`);
    return undefined;
  }
  if (isFunctionCall(node)) return parseFunctionCall(node, path, position, context, depth);
  return parseLiteral(node, path, position, context, depth);
}

function parseLiteral(
  node: unknown,
  path: string,
  position: Position,
  context: ExpressionContext,
  depth: number,
): Expression | undefined {
  if (typeof node === 'string' && position !== 'list') return { kind: 'text', path, value: node };
  if (typeof node === 'number' && position === 'index') {
    if (Number.isInteger(node) && node >= 0) return { kind: 'number', path, value: node };
    context.issues.add(path, `a list index must be a whole number of 0 or more, found ${node}`);
    return undefined;
  }
  if (Array.isArray(node) && (position === 'list' || position === 'any')) {
    const items = node.map((item, index) =>
      parseExpression(item, childPath(path, index), 'string', context, depth + 1),
    );
    if (items.some((item) => item === undefined)) return undefined;
    return { kind: 'list', path, items: items as Expression[] };
  }
  const extra = isJsonObject(node) ? ' or an intrinsic function' : '';
  context.issues.add(path, `expected ${positionWords[position]}${extra}, found ${describeJson(node)}`);
  return undefined;
}

function parseFunctionCall(
  node: JsonObject,
  path: string,
  position: Position,
  context: ExpressionContext,
  depth: number,
): Expression | undefined {
  const keys = Object.keys(node);
  if (keys.length !== 1) {
    context.issues.add(path, `a function call holds exactly one key, found ${keys.join(', ')}`);
    return undefined;
  }
  const name = keys[0] as string;
  const argument = node[name];
  const argumentPath = childPath(path, name);
  if (!(intrinsicFunctionNames as readonly string[]).includes(name)) {
    context.issues.add(
      path,
      `${name} is not supported in AWS IoT provisioning templates (only ${intrinsicFunctionNames.join(', ')})`,
    );
    return undefined;
  }
  const fn = name as FunctionName;
  if (!allowedFunctions[position].includes(fn)) {
    context.issues.add(
      path,
      `${fn} cannot stand where ${positionWords[position]} is expected (allowed: ${allowedFunctions[position].join(', ')})`,
    );
    return undefined;
  }
  const next = depth + 1;
  switch (fn) {
    case 'Ref':
      return parseRef(argument, path, context);
    case 'Fn::Join': {
      const args = argumentList(fn, argument, 2, '[delimiter, [values]]', path, context);
      if (!args) return undefined;
      const delimiter = literalString(fn, 'delimiter', args[0], childPath(argumentPath, 0), context);
      const list = parseExpression(args[1], childPath(argumentPath, 1), 'list', context, next);
      if (delimiter === undefined || !list) return undefined;
      return { kind: 'join', path, delimiter, list };
    }
    case 'Fn::Select': {
      const args = argumentList(fn, argument, 2, '[index, list]', path, context);
      if (!args) return undefined;
      const index = parseExpression(args[0], childPath(argumentPath, 0), 'index', context, next);
      const list = parseExpression(args[1], childPath(argumentPath, 1), 'list', context, next);
      if (!index || !list) return undefined;
      return checkLiteralSelect({ kind: 'select', path, index, list }, context);
    }
    case 'Fn::Split': {
      const args = argumentList(fn, argument, 2, '[delimiter, string]', path, context);
      if (!args) return undefined;
      const delimiter = literalString(fn, 'delimiter', args[0], childPath(argumentPath, 0), context);
      const source = parseExpression(args[1], childPath(argumentPath, 1), 'string', context, next);
      if (delimiter === '') context.issues.add(childPath(argumentPath, 0), 'Fn::Split delimiter is empty');
      if (!delimiter || !source) return undefined;
      return { kind: 'split', path, delimiter, source };
    }
    case 'Fn::FindInMap':
      return parseFindInMap(argument, path, context, next);
    case 'Fn::Sub':
      return parseSub(argument, path, context, next);
  }
}

function argumentList(
  fn: FunctionName,
  argument: unknown,
  count: number,
  shape: string,
  path: string,
  context: ExpressionContext,
): unknown[] | undefined {
  if (!Array.isArray(argument)) {
    context.issues.add(path, `${fn} takes a list ${shape}, found ${describeJson(argument)}`);
    return undefined;
  }
  if (argument.length !== count) {
    context.issues.add(path, `${fn} takes ${count} arguments ${shape}, found ${argument.length}`);
    return undefined;
  }
  return argument;
}

function literalString(
  fn: FunctionName,
  what: string,
  node: unknown,
  path: string,
  context: ExpressionContext,
): string | undefined {
  if (typeof node === 'string') return node;
  context.issues.add(path, `${fn} ${what} must be a literal string, found ${describeJson(node)}`);
  return undefined;
}

function parseRef(argument: unknown, path: string, context: ExpressionContext): Expression | undefined {
  if (typeof argument !== 'string') {
    context.issues.add(path, `Ref takes a parameter name, found ${describeJson(argument)}`);
    return undefined;
  }
  if (!checkParameterName(argument, `Ref "${argument}"`, path, context)) return undefined;
  return { kind: 'ref', path, name: argument };
}

/**
 * Which names a Ref or `${}` may use. Built-ins need no declaration: AWS's working samples T05 and T10
 * Ref AWS::IoT::Certificate::Id undeclared (aws-iot-spec.md 1, "Built-in parameters").
 */
function checkParameterName(name: string, what: string, path: string, context: ExpressionContext): boolean {
  if (context.parameters.has(name) || isBuiltInParameter(name)) return true;
  if (name.startsWith('AWS::')) {
    context.issues.add(path, `${what} is not a built-in parameter of AWS IoT templates`);
    return false;
  }
  if (context.resourceNames.has(name)) {
    context.issues.add(path, `${what} names a resource; in AWS IoT templates Ref names a parameter`);
    return false;
  }
  if (context.undeclaredParameters === 'reject') {
    context.issues.add(path, `${what} names no parameter declared in Parameters`);
    return false;
  }
  return true;
}

function checkLiteralSelect(
  select: Extract<Expression, { kind: 'select' }>,
  context: ExpressionContext,
): Expression | undefined {
  const { index, list } = select;
  if (index.kind === 'text' && !/^\d+$/.test(index.value)) {
    context.issues.add(index.path, `Fn::Select index "${index.value}" is not a whole number`);
    return undefined;
  }
  const position = index.kind === 'number' ? index.value : index.kind === 'text' ? Number(index.value) : -1;
  if (list.kind === 'list' && position >= list.items.length) {
    context.issues.add(
      select.path,
      `Fn::Select index ${position} out of range (list has ${list.items.length})`,
    );
    return undefined;
  }
  return select;
}

function parseFindInMap(
  argument: unknown,
  path: string,
  context: ExpressionContext,
  depth: number,
): Expression | undefined {
  const args = argumentList('Fn::FindInMap', argument, 3, '[map, top key, second key]', path, context);
  if (!args) return undefined;
  const argumentPath = childPath(path, 'Fn::FindInMap');
  const [mapName, topKey, secondKey] = args.map((arg, index) =>
    parseExpression(arg, childPath(argumentPath, index), 'map-key', context, depth),
  );
  if (!mapName || !topKey || !secondKey) return undefined;
  // Literal keys are checked now; keys that come from parameters can only be checked at evaluation.
  if (mapName.kind === 'text') {
    const map = context.mappings.get(mapName.value);
    if (!map) {
      context.issues.add(mapName.path, `Fn::FindInMap: no mapping named "${mapName.value}" in Mappings`);
      return undefined;
    }
    if (topKey.kind === 'text') {
      const second = map.get(topKey.value);
      if (!second) {
        context.issues.add(
          topKey.path,
          `Fn::FindInMap: mapping "${mapName.value}" has no key "${topKey.value}"`,
        );
        return undefined;
      }
      if (secondKey.kind === 'text' && !second.has(secondKey.value)) {
        context.issues.add(
          secondKey.path,
          `Fn::FindInMap: mapping "${mapName.value}.${topKey.value}" has no key "${secondKey.value}"`,
        );
        return undefined;
      }
    }
  }
  return { kind: 'find-in-map', path, mapName, topKey, secondKey };
}

function parseSub(
  argument: unknown,
  path: string,
  context: ExpressionContext,
  depth: number,
): Expression | undefined {
  const argumentPath = childPath(path, 'Fn::Sub');
  let text: unknown = argument;
  let variableNodes: unknown = {};
  if (Array.isArray(argument)) {
    const args = argumentList('Fn::Sub', argument, 2, '[string, {name: value}]', path, context);
    if (!args) return undefined;
    [text, variableNodes] = args;
    if (!isJsonObject(variableNodes) || isFunctionCall(variableNodes)) {
      context.issues.add(
        childPath(argumentPath, 1),
        `Fn::Sub variables must be an object of name: value, found ${describeJson(variableNodes)}`,
      );
      return undefined;
    }
  }
  const textPath = Array.isArray(argument) ? childPath(argumentPath, 0) : argumentPath;
  if (typeof text !== 'string') {
    context.issues.add(textPath, `Fn::Sub takes a literal string, found ${describeJson(text)}`);
    return undefined;
  }
  const variables = new Map<string, Expression>();
  let failed = false;
  for (const [name, node] of Object.entries(variableNodes as JsonObject)) {
    const variablePath = childPath(childPath(argumentPath, 1), name);
    const expression = parseExpression(node, variablePath, 'string', context, depth);
    if (expression) variables.set(name, expression);
    else failed = true;
  }
  const pieces = splitSubText(text);
  for (const piece of pieces) {
    if (piece.kind !== 'variable' || variables.has(piece.name)) continue;
    if (piece.name === '') {
      context.issues.add(textPath, 'Fn::Sub has an empty ${} placeholder');
      failed = true;
    } else if (piece.name.includes('.')) {
      context.issues.add(
        textPath,
        `Fn::Sub \${${piece.name}} reads a resource attribute (Fn::GetAtt), which AWS IoT templates do not support`,
      );
      failed = true;
    } else if (!checkParameterName(piece.name, `Fn::Sub \${${piece.name}}`, textPath, context)) {
      failed = true;
    }
  }
  return failed ? undefined : { kind: 'sub', path, pieces, variables };
}

/** `${Name}` is a variable, `${!Name}` the literal text `${Name}`; a `${` never closed is plain text. */
export function splitSubText(text: string): SubPiece[] {
  const pieces: SubPiece[] = [];
  let literal = '';
  let at = 0;
  while (at < text.length) {
    const open = text.indexOf('${', at);
    const close = open < 0 ? -1 : text.indexOf('}', open + 2);
    if (open < 0 || close < 0) {
      literal += text.slice(at);
      break;
    }
    literal += text.slice(at, open);
    const content = text.slice(open + 2, close);
    if (content.startsWith('!')) {
      literal += `\${${content.slice(1)}}`;
    } else {
      if (literal !== '') pieces.push({ kind: 'text', text: literal });
      literal = '';
      pieces.push({ kind: 'variable', name: content });
    }
    at = close + 1;
  }
  if (literal !== '') pieces.push({ kind: 'text', text: literal });
  return pieces;
}
