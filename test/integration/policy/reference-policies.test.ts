import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { authorizationContextSchema, authorizationRequestSchema } from '../../../src/api/policies.js';
import {
  evaluateAuthorization,
  readPolicySource,
  validatePolicyDocument,
} from '../../../src/policy/index.js';

// AWS's own examples with expected decisions, read in place (aws-iot-spec.md 6).
const repoRoot = path.resolve(fileURLToPath(import.meta.url), '../../../..');
const policiesDir = path.join(repoRoot, '..', 'shared', 'reference', 'aws', 'policies');

interface ReferenceCase {
  name: string;
  request: Record<string, unknown>;
  context?: unknown;
  expected: string;
}

const files = readdirSync(policiesDir)
  .filter((file) => file.endsWith('.json'))
  .sort()
  .map((file) => {
    const fileText = readFileSync(path.join(policiesDir, file), 'utf8');
    const cases = (JSON.parse(fileText) as { cases: ReferenceCase[] }).cases;
    return { file, source: readPolicySource(fileText, file), cases };
  });

describe('the AWS reference policies', () => {
  it('hold 21 policies and 75 cases', () => {
    expect(files).toHaveLength(21);
    expect(files.reduce((sum, file) => sum + file.cases.length, 0)).toBe(75);
  });

  for (const { file, source, cases } of files) {
    describe(file, () => {
      for (const referenceCase of cases) {
        if (referenceCase.expected === 'MalformedPolicyException') {
          it(`rejects the document: ${referenceCase.name}`, () => {
            const validation = validatePolicyDocument(source.text);
            expect(validation.ok).toBe(false);
          });
          continue;
        }
        it(`decides ${referenceCase.expected}: ${referenceCase.name}`, () => {
          const validation = validatePolicyDocument(source.text);
          if (!validation.ok) throw new Error(JSON.stringify(validation.errors));
          const request = authorizationRequestSchema.parse(referenceCase.request);
          const context = authorizationContextSchema.parse(referenceCase.context ?? {});
          const result = evaluateAuthorization(request, context, [
            { name: source.name, document: validation.document },
          ]);
          expect(result.decision).toBe(referenceCase.expected);
          const deciders = {
            ALLOWED: result.allowedBy,
            EXPLICIT_DENY: result.explicitDenyBy,
            IMPLICIT_DENY: result.implicitDenyBy,
          }[result.decision];
          expect(deciders).toEqual([source.name]);
        });
      }
    });
  }
});
