import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  authorizationResultSchema,
  type AuthorizationContext,
  type AuthorizationRequest,
} from '../api/policies.js';
import { evaluateAuthorization } from './authorization.js';
import { validatePolicyDocument } from './document-validation.js';
import { readPolicySource } from './policy-source.js';
import { buildGlob, matchGlob, parsePattern } from './wildcard-pattern.js';

// Random and mutated policies and requests: the engine answers with a result or a list of faults, never throws.
const repoRoot = path.resolve(fileURLToPath(import.meta.url), '../../..');
const referenceDir = path.join(repoRoot, '..', 'shared', 'reference', 'aws', 'policies');
const referenceTexts = readdirSync(referenceDir)
  .filter((file) => file.endsWith('.json'))
  .map((file) => readPolicySource(readFileSync(path.join(referenceDir, file), 'utf8'), file).text);

const fragment = fc.constantFrom(
  'a',
  'b',
  '/',
  '*',
  '?',
  '+',
  '#',
  '$',
  '{',
  '}',
  '(',
  ')',
  ':',
  '${iot:ClientId}',
);
const topicish = fc.array(fragment, { maxLength: 12 }).map((parts) => parts.join(''));
const variableName = fc.constantFrom(
  'iot:ClientId',
  'iot:Connection.Thing.ThingName',
  'iot:Connection.Thing.Attributes[a]',
  'iot:Connection.Thing.IsAttached',
  'iot:Certificate.Subject.CommonName.List',
  'iot:ConnectAttributes',
  'aws:SourceIp',
  'no:Such',
);
const operatorName = fc.constantFrom(
  'StringEquals',
  'StringLike',
  'StringNotEquals',
  'ForAllValues:StringEquals',
  'ForAnyValue:StringLike',
  'Bool',
  'Null',
  'IpAddress',
  'NumericLessThan',
  'ArnLike',
  'StringEqualsIfExists',
  'Bogus',
);
const conditionValue = fc.oneof(
  topicish,
  fc.constantFrom('true', '10.0.0.0/8', '5', 'arn:aws:iot:r:1:thing/*'),
  fc.boolean(),
);
const statement = fc.record(
  {
    Effect: fc.constantFrom('Allow', 'Deny', 'Maybe'),
    Action: fc.oneof(
      fc.constantFrom('iot:*', '*', 'iot:Publish', 'iot:Conn?ct'),
      fc.array(fc.constantFrom('iot:Receive', 'iot:Sub*')),
    ),
    Resource: fc.oneof(
      fc.constant('*'),
      topicish.map((topic) => `arn:aws:iot:r:1:topic/${topic}`),
      fc.array(
        topicish.map((topic) => `arn:aws:iot:r:1:topicfilter/${topic}`),
        { minLength: 1, maxLength: 3 },
      ),
    ),
    Condition: fc.dictionary(
      operatorName,
      fc.dictionary(variableName, fc.oneof(conditionValue, fc.array(conditionValue))),
      {
        maxKeys: 2,
      },
    ),
  },
  { requiredKeys: ['Effect', 'Action', 'Resource'] },
);
const policyDocument = fc.record({
  Version: fc.constantFrom('2012-10-17', '2008-10-17'),
  Statement: fc.oneof(statement, fc.array(statement, { maxLength: 4 })),
});
const request: fc.Arbitrary<AuthorizationRequest> = fc.record({
  action: fc.constantFrom('iot:Publish', 'iot:Subscribe', 'iot:Receive', 'iot:Connect'),
  resource: fc.oneof(
    topicish.map((topic) => `arn:aws:iot:r:1:topic/${topic}`),
    topicish.map((topic) => `arn:aws:iot:r:1:topicfilter/${topic}`),
    fc.string(),
  ),
});
const context: fc.Arbitrary<AuthorizationContext> = fc.record(
  {
    clientId: topicish,
    principalAttachedThings: fc.array(topicish, { maxLength: 2 }),
    thingAttributes: fc.dictionary(fc.constantFrom('a', 'b'), topicish),
    connectAttributes: fc.array(fc.constantFrom('LastWill', 'PersistentConnect')),
    sourceIp: fc.oneof(fc.ipV4(), fc.ipV6(), fc.string()),
    certificate: fc.record({ subject: fc.dictionary(fc.constantFrom('CommonName'), fc.array(topicish)) }),
  },
  { requiredKeys: [] },
);

function expectAnswer(
  input: unknown,
  requests: AuthorizationRequest[],
  contexts: AuthorizationContext[],
): void {
  const validation = validatePolicyDocument(input as object);
  if (!validation.ok) {
    expect(validation.errors.length).toBeGreaterThan(0);
    for (const error of validation.errors) expect(typeof error.path).toBe('string');
    return;
  }
  for (const [i, req] of requests.entries()) {
    const result = evaluateAuthorization(req, contexts[i % contexts.length] ?? {}, [
      { name: 'fuzz', document: validation.document },
    ]);
    expect(authorizationResultSchema.safeParse(result).success).toBe(true);
  }
}

describe('the policy engine under random input', () => {
  it('answers arbitrary JSON values with faults, never a throw', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expectAnswer(value, [], []);
        expectAnswer(JSON.stringify(value) ?? '', [], []);
      }),
      { numRuns: 300 },
    );
  });

  it('answers arbitrary text with faults, never a throw', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => expectAnswer(text, [], [])),
      { numRuns: 300 },
    );
  });

  it('validates random policy-shaped documents and decides random requests against the valid ones', () => {
    fc.assert(
      fc.property(
        policyDocument,
        fc.array(request, { minLength: 1, maxLength: 4 }),
        fc.array(context, { minLength: 1, maxLength: 2 }),
        (doc, requests, contexts) => expectAnswer(doc, requests, contexts),
      ),
      { numRuns: 500 },
    );
  });

  it('copes with mutated reference policies', () => {
    const mutation = fc.record({
      index: fc.nat(),
      text: fc.string({ maxLength: 3 }),
      deleteCount: fc.nat({ max: 3 }),
    });
    fc.assert(
      fc.property(
        fc.constantFrom(...referenceTexts),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        request,
        context,
        (text, mutations, req, ctx) => {
          const mutated = mutations.reduce((current, { index, text: inserted, deleteCount }) => {
            const at = current.length === 0 ? 0 : index % current.length;
            return current.slice(0, at) + inserted + current.slice(at + deleteCount);
          }, text);
          expectAnswer(mutated, [req], [ctx]);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('matches globs exactly as a regular-expression reading of * and ? would', () => {
    const globText = fc
      .array(fc.constantFrom('a', 'b', '/', '*', '?'), { maxLength: 8 })
      .map((parts) => parts.join(''));
    const subject = fc
      .array(fc.constantFrom('a', 'b', '/'), { maxLength: 10 })
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(globText, subject, (pattern, text) => {
        const oracle = new RegExp(`^${pattern.replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
        const glob = buildGlob(parsePattern(pattern, { wildcards: true, variables: false }), () => undefined);
        expect(glob !== undefined && matchGlob(glob, text)).toBe(oracle.test(text));
      }),
      { numRuns: 1000 },
    );
  });
});
