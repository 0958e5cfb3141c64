// `npm run bench -- templates [--seconds S]`: plans per second for each AWS reference template evaluated with
// its example parameters (../shared/reference/aws, read in place), and decisions per second for the reference
// policies. Baselines measured in the same run: JSON.parse of the same template body / policy text, so the
// ratios say how many JSON.parse calls one plan or one decision costs.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../helpers/repo-root.js';
import { authorizationContextSchema, authorizationRequestSchema } from '../../src/api/policies.js';
import type { CertificateFacts } from '../../src/api/templates.js';
import { evaluateAuthorization, readPolicySource, validatePolicyDocument } from '../../src/policy/index.js';
import {
  evaluateTemplate,
  parseTemplate,
  type EvaluationInput,
  type ParseOptions,
} from '../../src/templates/index.js';

const referenceDir = path.resolve(repoRoot, '../shared/reference/aws');

function option(args: string[], name: string, fallback: number): number {
  const index = args.indexOf(`--${name}`);
  const value = index >= 0 ? Number(args[index + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} needs a positive number`);
  return value;
}

function ratePerSecond(seconds: number, operation: () => void): number {
  for (let i = 0; i < 200; i++) operation();
  const start = process.hrtime.bigint();
  let count = 0;
  while (Number(process.hrtime.bigint() - start) < seconds * 1e9) {
    for (let i = 0; i < 100; i++) operation();
    count += 100;
  }
  return (count * 1e9) / Number(process.hrtime.bigint() - start);
}

const fleetCertificate: CertificateFacts = { id: 'ab'.repeat(32), subject: {} };

/** The example input of each reference case (templates-cases.json), made runnable where the case is prose. */
interface BenchCase {
  id: string;
  body: string;
  input: EvaluationInput;
  options?: ParseOptions;
}

function templateCases(): BenchCase[] {
  const file = JSON.parse(readFileSync(path.join(referenceDir, 'templates-cases.json'), 'utf8')) as {
    cases: { id: string; file: string; parameters: unknown[] }[];
  };
  const cleaned = (entry: unknown): Record<string, string> =>
    Object.fromEntries(
      Object.entries(typeof entry === 'object' && entry !== null ? entry : {}).filter(
        ([key, value]) => !key.startsWith('_') && typeof value === 'string',
      ),
    );
  const special: Record<string, Partial<BenchCase>> = {
    T02: {
      input: {
        parameters: {},
        certificate: {
          id: 'cd'.repeat(32),
          subject: { commonName: 'lightbulb-0001', serialNumber: 'SN0001', country: 'US' },
        },
      },
    },
    T04: {
      input: { parameters: { ThingName: 'foo', SerialNumber: '1', Location: 'WA', CSR: 'csr' } },
      options: { undeclaredParameters: 'from-dictionary' },
    },
    T05: {
      input: {
        parameters: { SerialNumber: '123', DeviceLocation: 'Seattle' },
        certificate: fleetCertificate,
      },
      options: { undeclaredParameters: 'from-dictionary' },
    },
    T08: {
      input: {
        parameters: {
          ThingName: 'ThingTypeD_1',
          SerialNumber: '1',
          ThingTypeName: 'ThingTypeD',
          licenseType: 'basic',
          businessUnitMaker: 'AnyCompany',
          hardwareVersion: '100',
          softwareVersion: '100',
          CSR: 'csr',
        },
      },
    },
    T09: {
      input: {
        parameters: {},
        certificate: {
          id: 'ef'.repeat(32),
          subject: {
            organization: 'AnyCompany',
            commonName: 'HW-100',
            distinguishedNameQualifier: 'ThingTypeA',
            serialNumber: 'SN77',
          },
        },
      },
    },
    T13: { input: { parameters: { ThingName: 'bulk1', SerialNumber: '1', CSR: 'csr' } } },
  };
  return file.cases.map((entry) => {
    let body = readFileSync(path.join(referenceDir, entry.file), 'utf8');
    if (entry.id === 'T11' || entry.id === 'T12') {
      // The published PolicyName "" is a placeholder its app fills before upload; fill it the same way.
      body = body.replace('"PolicyName": ""', '"PolicyName": "fleet_prod_policy"');
      return {
        id: entry.id,
        body,
        input: {
          parameters: { DeviceSerial: 'SN123', CertDate: '2021-02-11' },
          certificate: fleetCertificate,
        },
      };
    }
    return {
      id: entry.id,
      body,
      input: { parameters: cleaned(entry.parameters[0]), certificate: fleetCertificate },
      ...special[entry.id],
    };
  });
}

function benchTemplates(seconds: number): void {
  console.log('templates: plans/s with the example parameters (baseline: JSON.parse of the same body)');
  console.log('id    chars  JSON.parse/s  validate/s  evaluate/s  parse+evaluate/s  ratio (baseline/plan)');
  let totalRatio = 0;
  const cases = templateCases();
  // Warm every code path first, so the first template measured does not pay for the JIT.
  for (let round = 0; round < 500; round++) {
    for (const benchCase of cases) {
      const outcome = parseTemplate(benchCase.body, benchCase.options);
      if (outcome.ok) evaluateTemplate(outcome.value, benchCase.input);
    }
  }
  for (const benchCase of cases) {
    const parsed = parseTemplate(benchCase.body, benchCase.options);
    if (!parsed.ok) throw new Error(`${benchCase.id} does not validate: ${JSON.stringify(parsed.errors)}`);
    const check = evaluateTemplate(parsed.value, benchCase.input);
    if (!check.ok) throw new Error(`${benchCase.id} does not evaluate: ${JSON.stringify(check.errors)}`);
    const baseline = ratePerSecond(seconds, () => JSON.parse(benchCase.body));
    const validate = ratePerSecond(seconds, () => parseTemplate(benchCase.body, benchCase.options));
    const evaluate = ratePerSecond(seconds, () => evaluateTemplate(parsed.value, benchCase.input));
    const full = ratePerSecond(seconds, () => {
      const outcome = parseTemplate(benchCase.body, benchCase.options);
      if (outcome.ok) evaluateTemplate(outcome.value, benchCase.input);
    });
    totalRatio += baseline / full;
    console.log(
      [
        benchCase.id.padEnd(4),
        String(benchCase.body.length).padStart(6),
        fmt(baseline).padStart(13),
        fmt(validate).padStart(11),
        fmt(evaluate).padStart(11),
        fmt(full).padStart(17),
        `${(baseline / full).toFixed(1)}x`.padStart(9),
      ].join(' '),
    );
  }
  console.log(
    `mean: one parse+evaluate costs ${(totalRatio / cases.length).toFixed(1)} JSON.parse calls of its body`,
  );
}

function benchPolicies(seconds: number): void {
  const dir = path.join(referenceDir, 'policies');
  console.log("\npolicies: decisions/s over each file's cases (baseline: JSON.parse of the policy text)");
  console.log('file  cases  JSON.parse/s  decisions/s  validate+decide/s  ratio (baseline/decision)');
  let decided = 0;
  for (const file of readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .sort()) {
    const fileText = readFileSync(path.join(dir, file), 'utf8');
    const source = readPolicySource(fileText, file);
    const validation = validatePolicyDocument(source.text);
    if (!validation.ok) continue; // the malformed reference policy has no decisions to measure
    const policies = [{ name: source.name, document: validation.document }];
    const cases = (JSON.parse(fileText) as { cases: { request: unknown; context?: unknown }[] }).cases.map(
      (entry) => ({
        request: authorizationRequestSchema.parse(entry.request),
        context: authorizationContextSchema.parse(entry.context ?? {}),
      }),
    );
    decided += cases.length;
    let next = 0;
    const pick = () => cases[next++ % cases.length]!;
    const baseline = ratePerSecond(seconds, () => JSON.parse(source.text));
    const decide = ratePerSecond(seconds, () => {
      const { request, context } = pick();
      evaluateAuthorization(request, context, policies);
    });
    // A fresh document each time defeats the engine's per-document compile cache: the cold path.
    const cold = ratePerSecond(seconds, () => {
      const fresh = validatePolicyDocument(source.text);
      const { request, context } = pick();
      if (fresh.ok)
        evaluateAuthorization(request, context, [{ name: source.name, document: fresh.document }]);
    });
    console.log(
      [
        file.slice(0, 3).padEnd(4),
        String(cases.length).padStart(6),
        fmt(baseline).padStart(13),
        fmt(decide).padStart(12),
        fmt(cold).padStart(18),
        `${(baseline / decide).toFixed(2)}x`.padStart(9),
      ].join(' '),
    );
  }
  console.log(`${decided} reference requests measured`);
}

function fmt(rate: number): string {
  return Math.round(rate).toLocaleString('en-US');
}

export default async function templatesBench(args: string[]): Promise<void> {
  const seconds = option(args, 'seconds', 0.3);
  benchTemplates(seconds);
  benchPolicies(seconds);
}
