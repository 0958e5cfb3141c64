import { z } from 'zod';

/**
 * IoT policies: the document shape, the authorization request and context, and the answer in the shape of
 * AWS TestAuthorization (aws-iot-spec.md section 4).
 */

/** CreatePolicy's name rule: 1-128 characters of `[\w+=,.@-]` (aws-iot-spec.md 4, Limits). */
export const policyNameSchema = z
  .string()
  .min(1, 'a policy name needs at least 1 character')
  .max(128, 'a policy name has at most 128 characters')
  .regex(/^[\w+=,.@-]+$/, 'a policy name uses only letters, digits and _ + = , . @ -');

/** A condition value as JSON allows it in IAM grammar; numbers and booleans compare as their text. */
export const conditionValueSchema = z.union([z.string(), z.number(), z.boolean()]);
export type ConditionValue = z.infer<typeof conditionValueSchema>;

/** `{"StringEquals": {"iot:ClientId": ["a", "b"]}}`: operator -> condition key -> value or values. */
export const conditionBlockSchema = z.record(
  z.string(),
  z.record(z.string(), z.union([conditionValueSchema, z.array(conditionValueSchema)])),
);
export type ConditionBlock = z.infer<typeof conditionBlockSchema>;

const stringOrList = z.union([z.string(), z.array(z.string())]);

/** One statement as written: the engine's validator checks the rules the shape cannot say. */
export const policyStatementSchema = z.object({
  Sid: z.string().optional(),
  Effect: z.enum(['Allow', 'Deny']),
  Action: stringOrList.optional(),
  NotAction: stringOrList.optional(),
  Resource: stringOrList.optional(),
  NotResource: stringOrList.optional(),
  Condition: conditionBlockSchema.optional(),
});
export type PolicyStatement = z.infer<typeof policyStatementSchema>;

/** A policy document as AWS stores it: Statement may be one object or a list. */
export const policyDocumentSchema = z.object({
  Version: z.string().optional(),
  Id: z.string().optional(),
  Statement: z.union([policyStatementSchema, z.array(policyStatementSchema)]),
});
export type PolicyDocument = z.infer<typeof policyDocumentSchema>;

/** A fault in a policy document; `path` is like `Statement[1].Condition.StringEquals` ('' = the whole document). */
export const policyIssueSchema = z.object({ path: z.string(), message: z.string() });
export type PolicyIssue = z.infer<typeof policyIssueSchema>;

/**
 * The resource type AWS checks each data-plane action against (aws-iot-spec.md 4, Actions and Resource ARNs;
 * DG:iot-action-resources); `*` for the actions that have no resource. The spec writes the jobs actions iot:,
 * the current DG iotjobsdata:, so both are known.
 */
const jobsActions = [
  'DescribeJobExecution',
  'GetPendingJobExecutions',
  'UpdateJobExecution',
  'StartNextPendingJobExecution',
];
const policyActionResourceTypes: Readonly<Record<string, string>> = {
  'iot:Connect': 'client',
  'iot:Publish': 'topic',
  'iot:Receive': 'topic',
  'iot:RetainPublish': 'topic',
  'iot:GetRetainedMessage': 'topic',
  'iot:Subscribe': 'topicfilter',
  'iot:ListRetainedMessages': '*',
  'iot:GetThingShadow': 'thing',
  'iot:UpdateThingShadow': 'thing',
  'iot:DeleteThingShadow': 'thing',
  'iot:ListNamedShadowsForThing': '*',
  ...Object.fromEntries(
    jobsActions.flatMap((name) => [`iot:${name}`, `iotjobsdata:${name}`].map((action) => [action, 'thing'])),
  ),
  'iot:AssumeRoleWithCertificate': 'rolealias',
};

/** Action names compare case-insensitively, as IAM compares them; the canonical spelling is for messages. */
const knownActions = new Map(
  Object.keys(policyActionResourceTypes).map((action) => [action.toLowerCase(), action]),
);

/** `arn:<partition>:iot:<region>:<account>:<type>/<name>`: the only resources AWS checks IoT actions against. */
const iotResourceArn = /^arn:aws(?:-[a-z]+)*:iot:[^:]+:[^:]+:([^/:]+)\/./s;

/**
 * A request AWS can actually make: a known action on the resource type AWS checks it against. Anything else
 * would be decided against policies no device is ever held to (Subscribe on topic/ is never asked).
 */
function refuseImpossibleRequests(
  request: { action: string; resource: string },
  context: z.RefinementCtx,
): void {
  const action = knownActions.get(request.action.toLowerCase());
  if (action === undefined) {
    context.addIssue({
      code: 'custom',
      path: ['action'],
      message: `"${request.action}" is not an AWS IoT policy action; use one of ${Object.keys(policyActionResourceTypes).join(', ')}`,
    });
    return;
  }
  const expected = policyActionResourceTypes[action] as string;
  if (expected === '*') {
    if (request.resource !== '*') {
      context.addIssue({
        code: 'custom',
        path: ['resource'],
        message: `AWS checks ${action} against the resource *, never against a particular one; give "*"`,
      });
    }
    return;
  }
  const example = `arn:aws:iot:<region>:<account>:${expected}/<name>`;
  const type = iotResourceArn.exec(request.resource)?.[1];
  if (type === undefined) {
    context.addIssue({
      code: 'custom',
      path: ['resource'],
      message: `"${request.resource}" is not an AWS IoT resource ARN; AWS checks ${action} against ${expected}/ ARNs like ${example}`,
    });
  } else if (type !== expected) {
    context.addIssue({
      code: 'custom',
      path: ['resource'],
      message: `AWS checks ${action} against ${expected}/ ARNs, never ${type}/; give one like ${example}`,
    });
  }
}

export const authorizationRequestSchema = z
  .strictObject({
    /** `iot:Connect`, `iot:Publish`, ... (policyActionResourceTypes). */
    action: z.string(),
    /** `arn:aws:iot:<region>:<account>:<type>/<name>`, or `*` for actions without a resource. */
    resource: z.string().min(1).max(8192),
  })
  .superRefine(refuseImpossibleRequests);
export type AuthorizationRequest = z.infer<typeof authorizationRequestSchema>;

/** Distinguished-name fields by their AWS variable names (CommonName, Organization, ...); one value or several. */
const certificateFieldsSchema = z.record(z.string(), z.union([z.string(), z.array(z.string())]));

/**
 * Who is asking and how: the shape the reference cases in shared/reference/aws/policies use, plus the other
 * keys the policy variables read (aws-iot-spec.md 4, Variables and Conditions).
 */
export const authorizationContextSchema = z.strictObject({
  clientId: z.string().optional(),
  /** Things the certificate is attached to (AttachThingPrincipal); thing variables need clientId among them. */
  principalAttachedThings: z.array(z.string()).optional(),
  thingTypeName: z.string().optional(),
  thingAttributes: z.record(z.string(), z.string()).optional(),
  certificate: z
    .strictObject({
      subject: certificateFieldsSchema.optional(),
      issuer: certificateFieldsSchema.optional(),
      /** RFC822Name, DNSName, DirectoryName, UniformResourceIdentifier, IPAddress. */
      subjectAlternativeName: certificateFieldsSchema.optional(),
      issuerAlternativeName: certificateFieldsSchema.optional(),
      serialNumber: z.string().optional(),
    })
    .optional(),
  /** MQTT CONNECT attributes: `PersistentConnect`, `LastWill` (iot:ConnectAttributes). */
  connectAttributes: z.array(z.string()).optional(),
  lastWillTopic: z.string().optional(),
  sourceIp: z.string().optional(),
  domainName: z.string().optional(),
});
export type AuthorizationContext = z.infer<typeof authorizationContextSchema>;

export const authorizationDecisionSchema = z.enum(['ALLOWED', 'EXPLICIT_DENY', 'IMPLICIT_DENY']);
export type AuthorizationDecision = z.infer<typeof authorizationDecisionSchema>;

/** TestAuthorization's AuthResult, flattened: the decision and the policies that made it. */
export const authorizationResultSchema = z.object({
  decision: authorizationDecisionSchema,
  /** Policies with an Allow statement that matched. */
  allowedBy: z.array(z.string()),
  /** Policies with a Deny statement that matched; any one of them decides. */
  explicitDenyBy: z.array(z.string()),
  /** When nothing allowed: every policy that was consulted. */
  implicitDenyBy: z.array(z.string()),
  /** Variables and condition keys the statements needed but the context lacked. */
  missingContextValues: z.array(z.string()),
});
export type AuthorizationResult = z.infer<typeof authorizationResultSchema>;
