import {
  describeJson,
  isBuiltInParameter,
  isFunctionCall,
  isJsonObject,
  parseExpression,
  type ExpressionContext,
} from './parse-expression.js';
import { parseResources } from './parse-resources.js';
import { maxParameterNameLength, maxTemplateBodyLength } from './resource-constraints.js';
import { childPath, IssueList, type Outcome } from './template-issues.js';
import type {
  Expression,
  MappingValue,
  Mappings,
  ParameterDeclaration,
  ParsedTemplate,
  UndeclaredParameterPolicy,
} from './template-model.js';

/**
 * The four sections AWS documents (aws-iot-spec.md 1). Conditions and Outputs are undocumented for IoT
 * and no sample uses them, so they are rejected like any other unknown section.
 */
const sections = ['Parameters', 'Mappings', 'Resources', 'DeviceConfiguration'] as const;

export interface ParseOptions {
  /**
   * OPEN in aws-iot-spec.md 1: AWS's own fragments T04 and T05 Ref names they never declare. By default
   * that is a fault (the issue lists "a Ref to nothing" as one); `from-dictionary` reads such names from
   * the parameter dictionary at evaluation instead, so those samples can still be run.
   */
  undeclaredParameters?: UndeclaredParameterPolicy;
}

/** Parses and validates a template body; returns every fault found, each with its JSON path. */
export function parseTemplate(body: string, options: ParseOptions = {}): Outcome<ParsedTemplate> {
  const issues = new IssueList();
  if (body.length > maxTemplateBodyLength) {
    issues.add(
      '',
      `the template body is ${body.length} characters long (AWS accepts at most ${maxTemplateBodyLength})`,
    );
    return { ok: false, errors: issues.issues };
  }
  let root: unknown;
  try {
    root = JSON.parse(body) as unknown;
  } catch (error) {
    issues.add('', `the template is not valid JSON (${(error as Error).message})`);
    return { ok: false, errors: issues.issues };
  }
  if (!isJsonObject(root)) {
    issues.add('', `a template is a JSON object of sections, found ${describeJson(root)}`);
    return { ok: false, errors: issues.issues };
  }
  for (const key of Object.keys(root)) {
    if (!(sections as readonly string[]).includes(key)) {
      issues.add(key, `unknown section "${key}" (AWS IoT templates have ${sections.join(', ')})`);
    }
  }
  if (!Object.hasOwn(root, 'Resources')) issues.add('Resources', 'a template needs a Resources section');

  const parameters = parseParameters(root.Parameters, issues);
  const context: ExpressionContext = {
    issues,
    parameters,
    resourceNames: new Set(isJsonObject(root.Resources) ? Object.keys(root.Resources) : []),
    mappings: parseMappings(root.Mappings, issues),
    undeclaredParameters: options.undeclaredParameters ?? 'reject',
  };
  const resources = Object.hasOwn(root, 'Resources')
    ? parseResources(root.Resources, 'Resources', context)
    : [];
  const deviceConfiguration = parseDeviceConfiguration(root.DeviceConfiguration, context);
  if (!issues.empty) return { ok: false, errors: issues.issues };
  return {
    ok: true,
    value: {
      parameters,
      mappings: context.mappings,
      resources,
      deviceConfiguration,
      undeclaredParameters: context.undeclaredParameters,
    },
  };
}

function parseParameters(node: unknown, issues: IssueList): Map<string, ParameterDeclaration> {
  const parameters = new Map<string, ParameterDeclaration>();
  if (node === undefined) return parameters;
  if (!isJsonObject(node)) {
    issues.add(
      'Parameters',
      `Parameters must be an object of name: {Type, Default}, found ${describeJson(node)}`,
    );
    return parameters;
  }
  for (const [name, declaration] of Object.entries(node)) {
    const path = childPath('Parameters', name);
    if (name.startsWith('AWS::') && !isBuiltInParameter(name)) {
      issues.add(path, `"${name}" is not a built-in parameter of AWS IoT templates`);
    }
    if (name.length === 0 || name.length > maxParameterNameLength) {
      issues.add(path, `a parameter name has 1 to ${maxParameterNameLength} characters`);
    }
    if (!isJsonObject(declaration)) {
      issues.add(path, `a parameter is an object {Type, Default}, found ${describeJson(declaration)}`);
      continue;
    }
    for (const key of Object.keys(declaration)) {
      if (key !== 'Type' && key !== 'Default') {
        issues.add(childPath(path, key), `unknown parameter key "${key}" (Type, Default)`);
      }
    }
    // String is the only type AWS IoT shows (aws-iot-spec.md 1, Parameters).
    if (declaration.Type !== 'String') {
      issues.add(
        childPath(path, 'Type'),
        `parameter Type must be "String", found ${JSON.stringify(declaration.Type) ?? 'nothing'}`,
      );
    }
    const fallback = declaration.Default;
    if (fallback !== undefined && typeof fallback !== 'string') {
      issues.add(
        childPath(path, 'Default'),
        `a Default is a literal string, found ${describeJson(fallback)}`,
      );
    }
    parameters.set(name, typeof fallback === 'string' ? { default: fallback } : {});
  }
  return parameters;
}

/** Mappings hold only literal strings or lists of strings: "no parameters or functions" (aws-iot-spec.md 1). */
function parseMappings(node: unknown, issues: IssueList): Mappings {
  const mappings: Mappings = new Map();
  if (node === undefined) return mappings;
  const level = (value: unknown, path: string, what: string): Record<string, unknown> | undefined => {
    if (isFunctionCall(value)) {
      issues.add(path, 'functions are not allowed inside Mappings');
      return undefined;
    }
    if (!isJsonObject(value)) {
      issues.add(path, `${what} must be an object, found ${describeJson(value)}`);
      return undefined;
    }
    return value;
  };
  const maps = level(node, 'Mappings', 'Mappings');
  for (const [mapName, map] of Object.entries(maps ?? {})) {
    const mapPath = childPath('Mappings', mapName);
    const topLevel = new Map<string, Map<string, MappingValue>>();
    for (const [topKey, second] of Object.entries(level(map, mapPath, 'a mapping') ?? {})) {
      const topPath = childPath(mapPath, topKey);
      const secondLevel = new Map<string, MappingValue>();
      for (const [secondKey, value] of Object.entries(level(second, topPath, 'a mapping entry') ?? {})) {
        const valuePath = childPath(topPath, secondKey);
        const literal = mappingValue(value);
        if (literal === undefined) {
          issues.add(
            valuePath,
            isFunctionCall(value)
              ? 'functions are not allowed inside Mappings'
              : `a mapping value is a string or a list of strings, found ${describeJson(value)}`,
          );
        } else {
          secondLevel.set(secondKey, literal);
        }
      }
      topLevel.set(topKey, secondLevel);
    }
    mappings.set(mapName, topLevel);
  }
  return mappings;
}

function mappingValue(value: unknown): MappingValue | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value as string[];
  return undefined;
}

/**
 * RegisterThing returns deviceConfiguration as a map of string to string, and AWS "doesn't support nested
 * JSON objects" there (aws-iot-spec.md 1), so every value must yield a string.
 */
function parseDeviceConfiguration(node: unknown, context: ExpressionContext): [string, Expression][] {
  const entries: [string, Expression][] = [];
  if (node === undefined) return entries;
  if (!isJsonObject(node) || isFunctionCall(node)) {
    context.issues.add(
      'DeviceConfiguration',
      `DeviceConfiguration must be an object, found ${describeJson(node)}`,
    );
    return entries;
  }
  for (const [key, value] of Object.entries(node)) {
    const path = childPath('DeviceConfiguration', key);
    if (isJsonObject(value) && !isFunctionCall(value)) {
      context.issues.add(path, 'DeviceConfiguration does not support nested objects');
      continue;
    }
    const expression = parseExpression(value, path, 'string', context);
    if (expression) entries.push([key, expression]);
  }
  return entries;
}
