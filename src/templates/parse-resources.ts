import { overrideActions, type OverrideAction } from '../api/templates.js';
import {
  describeJson,
  isFunctionCall,
  isJsonObject,
  maxExpressionDepth,
  parseExpression,
  type ExpressionContext,
  type Position,
} from './parse-expression.js';
import {
  checkAttributeName,
  checkAttributeValue,
  checkBillingGroupName,
  checkCertificateId,
  checkCertificateStatus,
  checkNotEmpty,
  checkPolicyName,
  checkThingGroupName,
  checkThingName,
  checkThingTypeName,
  maxAttributesWithoutType,
  maxAttributesWithType,
  maxThingGroups,
  type ValueCheck,
} from './resource-constraints.js';
import { readPolicyDocument } from './policy-document.js';
import { childPath } from './template-issues.js';
import type {
  CertificateResource,
  DocumentNode,
  Expression,
  PolicyResource,
  TemplateResource,
  ThingResource,
} from './template-model.js';

/** The three resource types of AWS IoT templates and their properties (aws-iot-spec.md 1, Resources). */
const resourceProperties = {
  'AWS::IoT::Thing': ['ThingName', 'AttributePayload', 'ThingTypeName', 'ThingGroups', 'BillingGroup'],
  'AWS::IoT::Certificate': [
    'CertificateSigningRequest',
    'CertificateId',
    'CertificatePem',
    'CACertificatePem',
    'Status',
  ],
  'AWS::IoT::Policy': ['PolicyName', 'PolicyDocument'],
} as const;
type ResourceType = keyof typeof resourceProperties;
const resourceTypes = Object.keys(resourceProperties) as ResourceType[];

type JsonObject = Record<string, unknown>;

export function parseResources(node: unknown, path: string, context: ExpressionContext): TemplateResource[] {
  if (!isJsonObject(node)) {
    context.issues.add(
      path,
      `Resources must be an object of logical name: resource, found ${describeJson(node)}`,
    );
    return [];
  }
  const resources: TemplateResource[] = [];
  for (const [logicalName, resource] of Object.entries(node)) {
    const parsed = parseResource(logicalName, resource, childPath(path, logicalName), context);
    if (parsed) resources.push(parsed);
  }
  if (Object.keys(node).length === 0) context.issues.add(path, 'Resources is empty');
  // RegisterThing creates at most one thing and one certificate per call (aws-iot-spec.md 1).
  for (const type of ['AWS::IoT::Thing', 'AWS::IoT::Certificate'] as const) {
    const ofType = resources.filter((resource) => resource.type === type);
    for (const extra of ofType.slice(1)) {
      context.issues.add(
        extra.path,
        `a template holds at most one ${type} (already "${ofType[0]?.logicalName}")`,
      );
    }
  }
  return resources;
}

function parseResource(
  logicalName: string,
  node: unknown,
  path: string,
  context: ExpressionContext,
): TemplateResource | undefined {
  if (!isJsonObject(node)) {
    context.issues.add(
      path,
      `a resource must be an object with Type and Properties, found ${describeJson(node)}`,
    );
    return undefined;
  }
  for (const key of Object.keys(node)) {
    if (!['Type', 'Properties', 'OverrideSettings'].includes(key)) {
      context.issues.add(
        childPath(path, key),
        `unknown resource key "${key}" (Type, Properties, OverrideSettings)`,
      );
    }
  }
  const type = node.Type;
  if (typeof type !== 'string' || !(resourceTypes as string[]).includes(type)) {
    context.issues.add(
      childPath(path, 'Type'),
      `unknown resource type ${typeof type === 'string' ? `"${type}"` : describeJson(type)} (${resourceTypes.join(', ')})`,
    );
    return undefined;
  }
  const propertiesPath = childPath(path, 'Properties');
  const properties = node.Properties ?? {};
  if (!isJsonObject(properties) || isFunctionCall(properties)) {
    context.issues.add(propertiesPath, `Properties must be an object, found ${describeJson(properties)}`);
    return undefined;
  }
  const known: readonly string[] = resourceProperties[type as ResourceType];
  for (const key of Object.keys(properties)) {
    if (!known.includes(key)) {
      context.issues.add(childPath(propertiesPath, key), `unknown property of ${type} (${known.join(', ')})`);
    }
  }
  const resource = { logicalName, path, properties, propertiesPath, context };
  const overridePath = childPath(path, 'OverrideSettings');
  switch (type as ResourceType) {
    case 'AWS::IoT::Thing':
      return parseThing(
        resource,
        parseOverrides(node.OverrideSettings, overridePath, thingOverrides, context),
      );
    case 'AWS::IoT::Certificate':
      return parseCertificate(
        resource,
        parseOverrides(node.OverrideSettings, overridePath, certificateOverrides, context),
      );
    case 'AWS::IoT::Policy':
      parseOverrides(node.OverrideSettings, overridePath, {}, context);
      return parsePolicy(resource);
  }
}

interface ResourceInput {
  logicalName: string;
  path: string;
  properties: JsonObject;
  propertiesPath: string;
  context: ExpressionContext;
}

/**
 * OverrideSettings keys per type (aws-iot-spec.md 1): the examples use property names, the prose spells
 * ATTRIBUTE_PAYLOAD and so on; both are read. MERGE only applies to a thing's groups and attributes.
 */
interface OverrideKey {
  property: string;
  mergeable: boolean;
}
const thingOverrides: Record<string, OverrideKey> = {
  AttributePayload: { property: 'AttributePayload', mergeable: true },
  ATTRIBUTE_PAYLOAD: { property: 'AttributePayload', mergeable: true },
  ThingTypeName: { property: 'ThingTypeName', mergeable: false },
  THING_TYPE_NAME: { property: 'ThingTypeName', mergeable: false },
  ThingGroups: { property: 'ThingGroups', mergeable: true },
  THING_GROUPS: { property: 'ThingGroups', mergeable: true },
};
const certificateOverrides: Record<string, OverrideKey> = {
  Status: { property: 'Status', mergeable: false },
  STATUS: { property: 'Status', mergeable: false },
};

function parseOverrides(
  node: unknown,
  path: string,
  keys: Record<string, OverrideKey>,
  context: ExpressionContext,
): Record<string, OverrideAction> {
  const settings: Record<string, OverrideAction> = {};
  if (node === undefined) return settings;
  if (!isJsonObject(node)) {
    context.issues.add(path, `OverrideSettings must be an object, found ${describeJson(node)}`);
    return settings;
  }
  const names = [...new Set(Object.values(keys).map((key) => key.property))];
  // Which key set each property: with both spellings given, which one AWS reads is undocumented.
  const setBy = new Map<string, string>();
  for (const [name, value] of Object.entries(node)) {
    const key = Object.hasOwn(keys, name) ? keys[name] : undefined;
    const valuePath = childPath(path, name);
    if (!key) {
      context.issues.add(
        valuePath,
        names.length === 0
          ? 'policies take no OverrideSettings'
          : `unknown override "${name}" (${names.join(', ')})`,
      );
      continue;
    }
    const earlier = setBy.get(key.property);
    setBy.set(key.property, earlier ?? name);
    if (earlier !== undefined) {
      context.issues.add(
        valuePath,
        `"${name}" overrides ${key.property} again (already given as "${earlier}"); give each property once`,
      );
    } else if (typeof value !== 'string' || !(overrideActions as readonly string[]).includes(value)) {
      context.issues.add(
        valuePath,
        `override must be one of ${overrideActions.join(', ')}, found ${JSON.stringify(value)}`,
      );
    } else if (value === 'MERGE' && !key.mergeable) {
      context.issues.add(valuePath, "MERGE applies only to a thing's AttributePayload and ThingGroups");
    } else {
      settings[key.property] = value as OverrideAction;
    }
  }
  return settings;
}

/** Parses one property; literal values are checked against AWS's limits right away. */
function property(
  resource: ResourceInput,
  name: string,
  position: Position,
  check?: ValueCheck,
): Expression | undefined {
  if (!Object.hasOwn(resource.properties, name)) return undefined;
  const expression = parseExpression(
    resource.properties[name],
    childPath(resource.propertiesPath, name),
    position,
    resource.context,
  );
  if (expression && check) checkLiterals(expression, check, resource.context);
  return expression;
}

function checkLiterals(expression: Expression, check: ValueCheck, context: ExpressionContext): void {
  const literals = expression.kind === 'list' ? expression.items : [expression];
  for (const literal of literals) {
    if (literal.kind !== 'text') continue;
    const problem = check(literal.value);
    if (problem) context.issues.add(literal.path, problem);
  }
}

function parseThing(
  resource: ResourceInput,
  overrideSettings: ThingResource['overrideSettings'],
): ThingResource {
  const { context, propertiesPath } = resource;
  const thingName = property(resource, 'ThingName', 'string', checkThingName);
  if (!Object.hasOwn(resource.properties, 'ThingName')) {
    context.issues.add(childPath(propertiesPath, 'ThingName'), 'a thing needs a ThingName');
  }
  const attributesPath = childPath(propertiesPath, 'AttributePayload');
  const hasThingType = Object.hasOwn(resource.properties, 'ThingTypeName');
  const attributes = parseAttributes(
    resource.properties.AttributePayload,
    attributesPath,
    hasThingType,
    context,
  );
  const thingTypeName = property(resource, 'ThingTypeName', 'string', checkThingTypeName);
  const thingGroups = property(resource, 'ThingGroups', 'list', checkThingGroupName);
  if (thingGroups?.kind === 'list' && thingGroups.items.length > maxThingGroups) {
    context.issues.add(
      thingGroups.path,
      `a thing belongs to at most ${maxThingGroups} groups, found ${thingGroups.items.length}`,
    );
  }
  return {
    type: 'AWS::IoT::Thing',
    logicalName: resource.logicalName,
    path: resource.path,
    thingName,
    attributes,
    attributesPath,
    thingTypeName,
    thingGroups,
    billingGroup: property(resource, 'BillingGroup', 'string', checkBillingGroupName),
    overrideSettings,
  };
}

function parseAttributes(
  node: unknown,
  path: string,
  hasThingType: boolean,
  context: ExpressionContext,
): [string, Expression][] | undefined {
  if (node === undefined) return undefined;
  if (!isJsonObject(node) || isFunctionCall(node)) {
    context.issues.add(
      path,
      `AttributePayload must be an object of name: value, found ${describeJson(node)}`,
    );
    return undefined;
  }
  const attributes: [string, Expression][] = [];
  for (const [name, value] of Object.entries(node)) {
    const valuePath = childPath(path, name);
    const nameProblem = checkAttributeName(name);
    if (nameProblem) context.issues.add(valuePath, nameProblem);
    const expression = parseExpression(value, valuePath, 'string', context);
    if (expression) {
      checkLiterals(expression, checkAttributeValue, context);
      attributes.push([name, expression]);
    }
  }
  const limit = hasThingType ? maxAttributesWithType : maxAttributesWithoutType;
  if (Object.keys(node).length > limit) {
    context.issues.add(path, attributeLimitMessage(Object.keys(node).length, hasThingType));
  }
  return attributes;
}

export function attributeLimitMessage(count: number, hasThingType: boolean): string {
  return hasThingType
    ? `a thing has at most ${maxAttributesWithType} attributes, found ${count}`
    : `a thing without a thing type has at most ${maxAttributesWithoutType} attributes, found ${count}`;
}

function parseCertificate(
  resource: ResourceInput,
  overrideSettings: CertificateResource['overrideSettings'],
): CertificateResource | undefined {
  const { context, properties, propertiesPath } = resource;
  const sources = ['CertificateSigningRequest', 'CertificateId', 'CertificatePem'].filter((name) =>
    Object.hasOwn(properties, name),
  );
  const status = property(resource, 'Status', 'string', checkCertificateStatus);
  const csr = property(
    resource,
    'CertificateSigningRequest',
    'string',
    checkNotEmpty('CertificateSigningRequest'),
  );
  const certificateId = property(resource, 'CertificateId', 'string', checkCertificateId);
  const certificatePem = property(resource, 'CertificatePem', 'string', checkNotEmpty('CertificatePem'));
  const caCertificatePem = property(
    resource,
    'CACertificatePem',
    'string',
    checkNotEmpty('CACertificatePem'),
  );
  if (sources.length !== 1) {
    context.issues.add(
      propertiesPath,
      `a certificate needs exactly one of CertificateSigningRequest, CertificateId, CertificatePem, found ${sources.length === 0 ? 'none' : sources.join(', ')}`,
    );
    return undefined;
  }
  if (caCertificatePem && !certificatePem) {
    context.issues.add(caCertificatePem.path, 'CACertificatePem goes only with CertificatePem');
    return undefined;
  }
  const base = {
    type: 'AWS::IoT::Certificate',
    logicalName: resource.logicalName,
    path: resource.path,
    status,
    overrideSettings,
  } as const;
  if (csr) return { ...base, source: { kind: 'csr', csr } };
  if (certificateId) return { ...base, source: { kind: 'id', certificateId } };
  if (certificatePem) return { ...base, source: { kind: 'pem', certificatePem, caCertificatePem } };
  return undefined;
}

function parsePolicy(resource: ResourceInput): PolicyResource | undefined {
  const { context, properties, propertiesPath } = resource;
  const hasName = Object.hasOwn(properties, 'PolicyName');
  const hasDocument = Object.hasOwn(properties, 'PolicyDocument');
  if (hasName === hasDocument) {
    context.issues.add(
      propertiesPath,
      'a policy needs either PolicyName (an existing policy) or PolicyDocument, not both or neither',
    );
    return undefined;
  }
  const base = { type: 'AWS::IoT::Policy', logicalName: resource.logicalName, path: resource.path } as const;
  if (hasName) {
    const policyName = property(resource, 'PolicyName', 'string', checkPolicyName);
    return policyName ? { ...base, policy: { kind: 'name', policyName } } : undefined;
  }
  const path = childPath(propertiesPath, 'PolicyDocument');
  const node = properties.PolicyDocument;
  if (typeof node === 'string' || isFunctionCall(node)) {
    const text = parseExpression(node, path, 'string', context);
    if (text?.kind === 'text') checkStaticDocument(text.value, path, context);
    return text ? { ...base, policy: { kind: 'document-text', text, path } } : undefined;
  }
  if (!isJsonObject(node)) {
    context.issues.add(path, `PolicyDocument must be an object or JSON text, found ${describeJson(node)}`);
    return undefined;
  }
  const document = parseDocumentNode(node, path, context, 0);
  if (document && !containsExpression(document)) checkStaticDocument(node, path, context);
  return document ? { ...base, policy: { kind: 'document-object', document, path } } : undefined;
}

function checkStaticDocument(value: unknown, path: string, context: ExpressionContext): void {
  readPolicyDocument(value, path, context.issues);
}

function parseDocumentNode(
  node: unknown,
  path: string,
  context: ExpressionContext,
  depth: number,
): DocumentNode | undefined {
  if (depth > maxExpressionDepth) {
    context.issues.add(path, `nested more than ${maxExpressionDepth} levels deep`);
    return undefined;
  }
  if (isFunctionCall(node)) {
    const expression = parseExpression(node, path, 'any', context, depth);
    return expression && { kind: 'expression', expression };
  }
  if (Array.isArray(node)) {
    const items = node.map((item, index) =>
      parseDocumentNode(item, childPath(path, index), context, depth + 1),
    );
    return items.every((item) => item !== undefined)
      ? { kind: 'array', items: items as DocumentNode[] }
      : undefined;
  }
  if (isJsonObject(node)) {
    const entries = Object.entries(node).map(
      ([key, value]) => [key, parseDocumentNode(value, childPath(path, key), context, depth + 1)] as const,
    );
    return entries.every(([, value]) => value !== undefined)
      ? { kind: 'object', entries: entries as [string, DocumentNode][] }
      : undefined;
  }
  return { kind: 'scalar', value: node as string | number | boolean | null };
}

function containsExpression(node: DocumentNode): boolean {
  switch (node.kind) {
    case 'expression':
      return true;
    case 'scalar':
      return false;
    case 'array':
      return node.items.some(containsExpression);
    case 'object':
      return node.entries.some(([, value]) => containsExpression(value));
  }
}
