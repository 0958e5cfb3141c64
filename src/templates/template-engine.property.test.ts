// Property-based: random and mutated templates, random parameter dictionaries. The engine must answer
// with a result or a list of faults, never throw, and never take unbounded time (fast-check's own
// interruptAfterTimeLimit would hide a hang, so the bounded inputs and limits carry that guarantee).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resourcePlanSchema, templateIssueSchema } from '../api/templates.js';
import { evaluateTemplate, parseTemplate, readBulkInput } from './index.js';

const repoRoot = path.resolve(fileURLToPath(import.meta.url), '../../..');
const templatesDir = path.join(repoRoot, '../shared/reference/aws/templates');
const references = readdirSync(templatesDir)
  .filter((file) => file.endsWith('.json'))
  .map((file) => JSON.parse(readFileSync(path.join(templatesDir, file), 'utf8')) as unknown);

const issuesSchema = templateIssueSchema.array().min(1);

/** Parses, then evaluates when valid; checks every answer against the contract. */
function exercise(body: string, parameters: Record<string, unknown>, undeclared = false): void {
  const parsed = parseTemplate(body, { undeclaredParameters: undeclared ? 'from-dictionary' : 'reject' });
  if (!parsed.ok) {
    issuesSchema.parse(parsed.errors);
    return;
  }
  const evaluated = evaluateTemplate(parsed.value, {
    parameters,
    certificate: { id: 'ab'.repeat(32), subject: { commonName: 'cn', country: 'US' } },
  });
  if (evaluated.ok) resourcePlanSchema.parse(evaluated.value);
  else issuesSchema.parse(evaluated.errors);
}

const functionNames = [
  'Ref',
  'Fn::Join',
  'Fn::Select',
  'Fn::Split',
  'Fn::FindInMap',
  'Fn::Sub',
  'Fn::If',
  'Fn::GetAtt',
];
const names = fc.constantFrom(
  'Serial',
  'Location',
  'AWS::IoT::Certificate::Id',
  'Missing',
  'thing',
  'Table',
  '',
  '__proto__',
);

/** Expressions built from the intrinsic functions, well- and ill-formed, nested a few levels. */
const expression: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string({ maxLength: 12 }),
    fc.integer({ min: -2, max: 5 }),
    names,
    fc.array(tie('node'), { maxLength: 4 }),
    fc.record({ Ref: names }),
    fc
      .tuple(fc.constantFrom(...functionNames), fc.array(tie('node'), { maxLength: 4 }))
      .map(([name, args]) => ({
        [name]: args,
      })),
    fc
      .tuple(
        fc.constantFrom('${Serial}', '${!x}', '${', 'a${Location}b${Missing}', '${a.b}'),
        fc.option(fc.dictionary(names, tie('node'), { maxKeys: 2 })),
      )
      .map(([text, variables]) => ({ 'Fn::Sub': variables ? [text, variables] : text })),
  ),
})).node;

const dictionary = fc.dictionary(
  fc.oneof(names, fc.string({ maxLength: 8 })),
  fc.oneof(
    fc.string({ maxLength: 20 }),
    fc.constantFrom('Seattle', 'a,b,c', '', 'x'.repeat(5000)),
    fc.integer(),
  ),
  { maxKeys: 6 },
);

function templateWith(value: unknown): string {
  return JSON.stringify({
    Parameters: { Serial: { Type: 'String' }, Location: { Type: 'String', Default: 'Seattle' } },
    Mappings: { Table: { Seattle: { Url: 'https://example.aws', List: ['a', 'b'] } } },
    Resources: {
      thing: {
        Type: 'AWS::IoT::Thing',
        Properties: { ThingName: value, ThingGroups: [value], AttributePayload: { a: value } },
      },
      policy: {
        Type: 'AWS::IoT::Policy',
        Properties: {
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: { Effect: 'Allow', Action: 'iot:*', Resource: value },
          },
        },
      },
    },
    DeviceConfiguration: { Value: value },
  });
}

/** Replaces the node at a random place in a JSON tree (a mutation of a real template). */
function mutate(tree: unknown, choose: () => number, replacement: unknown): unknown {
  if (Array.isArray(tree)) {
    if (tree.length === 0 || choose() < 0.2) return replacement;
    const index = Math.floor(choose() * tree.length);
    return tree.map((item, at) => (at === index ? mutate(item, choose, replacement) : item));
  }
  if (typeof tree === 'object' && tree !== null) {
    const keys = Object.keys(tree);
    if (keys.length === 0 || choose() < 0.2) return replacement;
    const key = keys[Math.floor(choose() * keys.length)] as string;
    return { ...tree, [key]: mutate((tree as Record<string, unknown>)[key], choose, replacement) };
  }
  return replacement;
}

describe('template engine under random input', () => {
  it('answers arbitrary text with faults, never an exception', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.json({ maxDepth: 6 })), (body) => {
        exercise(body, {});
      }),
      { numRuns: 400 },
    );
  });

  it('answers random intrinsic-function trees with a plan or faults', () => {
    fc.assert(
      fc.property(expression, dictionary, fc.boolean(), (value, parameters, undeclared) => {
        exercise(templateWith(value), parameters, undeclared);
      }),
      { numRuns: 600 },
    );
  });

  it('answers mutated reference templates with a plan or faults', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...references),
        fc.array(fc.double({ min: 0, max: 0.999, noNaN: true }), { minLength: 12, maxLength: 12 }),
        fc.oneof(expression, fc.jsonValue({ maxDepth: 3 })),
        dictionary,
        (reference, randoms, replacement, parameters) => {
          let at = 0;
          const choose = () => randoms[at++ % randoms.length] as number;
          exercise(JSON.stringify(mutate(reference, choose, replacement)), parameters, true);
        },
      ),
      { numRuns: 600 },
    );
  });

  it('reads any byte stream as bulk input without throwing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), async (chunks) => {
        async function* source() {
          for (const chunk of chunks) yield chunk;
        }
        let count = 0;
        for await (const line of readBulkInput(source())) {
          expect(line.line).toBeGreaterThan(count);
          count = line.line;
        }
      }),
      { numRuns: 300 },
    );
  });
});
