import type { OverrideAction, UndeclaredParameterPolicy } from '../api/templates.js';

export type { UndeclaredParameterPolicy } from '../api/templates.js';

/**
 * A template after validation: every value is an expression tree whose nodes remember their JSON path, so
 * evaluation faults name the node at fault just as validation faults do.
 */
export type Expression =
  | { kind: 'text'; path: string; value: string }
  /** Only as an Fn::Select index, where CloudFormation syntax allows a JSON number. */
  | { kind: 'number'; path: string; value: number }
  | { kind: 'list'; path: string; items: Expression[] }
  | { kind: 'ref'; path: string; name: string }
  | { kind: 'join'; path: string; delimiter: string; list: Expression }
  | { kind: 'select'; path: string; index: Expression; list: Expression }
  | { kind: 'split'; path: string; delimiter: string; source: Expression }
  | { kind: 'find-in-map'; path: string; mapName: Expression; topKey: Expression; secondKey: Expression }
  | { kind: 'sub'; path: string; pieces: SubPiece[]; variables: Map<string, Expression> };

export type SubPiece = { kind: 'text'; text: string } | { kind: 'variable'; name: string };

/** A JSON tree that may hold intrinsic functions at any node (a PolicyDocument given as an object). */
export type DocumentNode =
  | { kind: 'scalar'; value: string | number | boolean | null }
  | { kind: 'object'; entries: [string, DocumentNode][] }
  | { kind: 'array'; items: DocumentNode[] }
  | { kind: 'expression'; expression: Expression };

export type MappingValue = string | string[];
export type Mappings = Map<string, Map<string, Map<string, MappingValue>>>;

export interface ParameterDeclaration {
  default?: string;
}

export interface ThingResource {
  type: 'AWS::IoT::Thing';
  logicalName: string;
  path: string;
  thingName?: Expression;
  /** Attribute name -> value; absent when the template sets no AttributePayload. */
  attributes?: [string, Expression][];
  attributesPath: string;
  thingTypeName?: Expression;
  thingGroups?: Expression;
  billingGroup?: Expression;
  overrideSettings: Partial<Record<'AttributePayload' | 'ThingTypeName' | 'ThingGroups', OverrideAction>>;
}

export interface CertificateResource {
  type: 'AWS::IoT::Certificate';
  logicalName: string;
  path: string;
  source:
    | { kind: 'csr'; csr: Expression }
    | { kind: 'id'; certificateId: Expression }
    | { kind: 'pem'; certificatePem: Expression; caCertificatePem?: Expression };
  status?: Expression;
  overrideSettings: Partial<Record<'Status', OverrideAction>>;
}

export interface PolicyResource {
  type: 'AWS::IoT::Policy';
  logicalName: string;
  path: string;
  policy:
    | { kind: 'name'; policyName: Expression }
    /** The escaped-string form of bulk and JITP samples: the expression yields JSON text. */
    | { kind: 'document-text'; text: Expression; path: string }
    /** The object form of fleet samples. */
    | { kind: 'document-object'; document: DocumentNode; path: string };
}

export type TemplateResource = ThingResource | CertificateResource | PolicyResource;

export interface ParsedTemplate {
  parameters: Map<string, ParameterDeclaration>;
  mappings: Mappings;
  resources: TemplateResource[];
  deviceConfiguration: [string, Expression][];
  /** How a Ref to an undeclared, non-built-in name was treated when the template was validated. */
  undeclaredParameters: UndeclaredParameterPolicy;
}
