// AWS's own templates (../shared/reference/aws/templates, read in place) against templates-cases.json:
// which are accepted, and what the accepted ones evaluate to with the parameters the cases give.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { resourcePlanSchema, type CertificateFacts, type ResourcePlan } from '../../../src/api/templates.js';
import {
  evaluateTemplate,
  parseTemplate,
  readBulkInput,
  type EvaluationInput,
  type ParseOptions,
} from '../../../src/templates/index.js';

const repoRoot = path.resolve(fileURLToPath(import.meta.url), '../../../..');
const referenceDir = path.join(repoRoot, '../shared/reference/aws');

interface TemplateCase {
  id: string;
  file: string;
  parameters: unknown[];
}
const cases = (
  JSON.parse(readFileSync(path.join(referenceDir, 'templates-cases.json'), 'utf8')) as {
    cases: TemplateCase[];
  }
).cases;

function referenceCase(id: string): TemplateCase {
  const found = cases.find((entry) => entry.id === id);
  if (!found) throw new Error(`templates-cases.json has no case ${id}`);
  return found;
}

function body(id: string): string {
  return readFileSync(path.join(referenceDir, referenceCase(id).file), 'utf8');
}

/** The case's first parameter dictionary without its `_note`-style annotations. */
function caseParameters(id: string, index = 0): Record<string, string> {
  const entry = referenceCase(id).parameters[index] as Record<string, unknown>;
  return Object.fromEntries(
    Object.entries(entry).filter(([key, value]) => !key.startsWith('_') && typeof value === 'string'),
  ) as Record<string, string>;
}

/** The fleet-provisioning certificate: only its id matters (aws-iot-spec.md 1, built-ins). */
const claimedCertificate: CertificateFacts = { id: 'ab'.repeat(32), subject: {} };

/** `CN=lightbulb-0001, serialNumber=SN0001, C=US` as the caller would extract it from the X.509 subject. */
function subjectFacts(subject: string): CertificateFacts {
  const keys: Record<string, keyof CertificateFacts['subject']> = {
    CN: 'commonName',
    C: 'country',
    O: 'organization',
    OU: 'organizationalUnit',
    dnQualifier: 'distinguishedNameQualifier',
    ST: 'stateName',
    serialNumber: 'serialNumber',
  };
  const facts: CertificateFacts = { id: 'cd'.repeat(32), subject: {} };
  for (const part of subject.split(',')) {
    const [key, value] = part.trim().split('=') as [string, string];
    const field = keys[key];
    if (field) facts.subject[field] = value;
  }
  return facts;
}

function plan(id: string, input: EvaluationInput, options: ParseOptions = {}): ResourcePlan {
  const parsed = parseTemplate(body(id), options);
  if (!parsed.ok) throw new Error(`${id} rejected: ${JSON.stringify(parsed.errors)}`);
  const evaluated = evaluateTemplate(parsed.value, input);
  if (!evaluated.ok) throw new Error(`${id} failed: ${JSON.stringify(evaluated.errors)}`);
  return resourcePlanSchema.parse(evaluated.value);
}

function evaluationErrors(id: string, input: EvaluationInput, options: ParseOptions = {}) {
  const parsed = parseTemplate(body(id), options);
  if (!parsed.ok) throw new Error(`${id} rejected: ${JSON.stringify(parsed.errors)}`);
  const evaluated = evaluateTemplate(parsed.value, input);
  return evaluated.ok ? [] : evaluated.errors;
}

describe('reference templates: acceptance', () => {
  const accepted = ['T01', 'T02', 'T03', 'T06', 'T07', 'T08', 'T09', 'T10', 'T13'];

  it('covers every template in the reference set', () => {
    expect(cases.map((entry) => entry.id).sort()).toEqual([...accepted, 'T04', 'T05', 'T11', 'T12'].sort());
  });

  it.each(accepted)('accepts %s', (id) => {
    const outcome = parseTemplate(body(id));
    expect(outcome.ok ? [] : outcome.errors).toEqual([]);
  });

  it('rejects the T04 fragment: its Refs name parameters it never declares (OPEN, strict by default)', () => {
    const outcome = parseTemplate(body('T04'));
    expect(outcome.ok).toBe(false);
    expect(outcome.ok ? [] : outcome.errors.map((error) => error.path)).toEqual([
      'Resources.thing.Properties.ThingName',
      'Resources.thing.Properties.AttributePayload.serialNumber',
      'Resources.thing.Properties.ThingGroups[1]',
      'Resources.certificate.Properties.CertificateSigningRequest',
    ]);
  });

  it('rejects T05, which Refs SerialNumber without declaring it, naming both places', () => {
    const outcome = parseTemplate(body('T05'));
    expect(outcome.ok ? [] : outcome.errors).toEqual([
      {
        path: 'Resources.thing.Properties.ThingName.Fn::Join[1][1]',
        message: 'Ref "SerialNumber" names no parameter declared in Parameters',
      },
      {
        path: 'Resources.thing.Properties.ThingTypeName.Fn::Join[1][1]',
        message: 'Ref "SerialNumber" names no parameter declared in Parameters',
      },
    ]);
  });

  it.each(['T11', 'T12'])('rejects %s as published: its PolicyName "" is a placeholder', (id) => {
    const outcome = parseTemplate(body(id));
    expect(outcome.ok ? [] : outcome.errors).toEqual([
      { path: 'Resources.policy.Properties.PolicyName', message: 'policy name must not be empty' },
    ]);
  });
});

describe('reference templates: evaluation', () => {
  it('T01: thing foo with the Location default WA, a CSR certificate and a policy named by its hash', () => {
    const result = plan('T01', { parameters: caseParameters('T01') });
    expect(result.thing).toEqual({
      logicalName: 'thing',
      thingName: 'foo',
      attributes: { version: 'v1', serialNumber: '123' },
      thingTypeName: 'lightBulb-versionA',
      thingGroups: ['v1-lightbulbs', 'WA'],
      overrideSettings: {},
    });
    expect(result.certificate).toMatchObject({
      source: 'csr',
      certificateSigningRequest: 'csr1',
      status: 'ACTIVE',
    });
    expect(result.policies).toHaveLength(1);
    expect(result.policies[0]).toMatchObject({ kind: 'new', logicalName: 'policy' });
    expect(result.policies[0]?.policyName).toMatch(/^[0-9A-F]{40}$/);
    expect(result.policies[0]).toHaveProperty('document.Statement.0.Action', ['iot:Publish']);
  });

  it('T01: the second documented line gives thing bar', () => {
    expect(plan('T01', { parameters: caseParameters('T01', 1) }).thing?.thingName).toBe('bar');
  });

  it('T02: JITP fills the built-ins from the certificate subject', () => {
    const certificate = subjectFacts('CN=lightbulb-0001, serialNumber=SN0001, C=US');
    const result = plan('T02', { parameters: {}, certificate });
    expect(result.thing).toEqual({
      logicalName: 'thing',
      thingName: 'lightbulb-0001',
      attributes: { version: 'v1', serialNumber: 'SN0001' },
      thingTypeName: 'lightBulb-versionA',
      thingGroups: ['v1-lightbulbs', 'US'],
      overrideSettings: { AttributePayload: 'MERGE', ThingTypeName: 'REPLACE', ThingGroups: 'DO_NOTHING' },
    });
    expect(result.certificate).toEqual({
      logicalName: 'certificate',
      source: 'id',
      certificateId: certificate.id,
      status: 'ACTIVE',
      overrideSettings: { Status: 'DO_NOTHING' },
    });
  });

  it('T02: a certificate without a Country fails, naming the parameter', () => {
    const errors = evaluationErrors('T02', {
      parameters: {},
      certificate: subjectFacts('CN=lightbulb-0001, serialNumber=SN0001'),
    });
    expect(errors).toEqual([
      {
        path: 'Resources.thing.Properties.ThingGroups[1]',
        message:
          'the certificate has no value for AWS::IoT::Certificate::Country and the parameter has no Default',
      },
    ]);
  });

  it('T03: Fn::Join type name, billing group, literal attributes and the mapped LocationUrl', () => {
    const result = plan('T03', { parameters: caseParameters('T03'), certificate: claimedCertificate });
    expect(result.thing).toMatchObject({
      thingName: 'lamp-1',
      thingTypeName: 'ThingPrefix_1',
      thingGroups: ['v1-lightbulbs', 'WA'],
      billingGroup: 'LightBulbBillingGroup',
      attributes: { version: 'v1', serialNumber: 'serialNumber' },
    });
    expect(result.deviceConfiguration).toEqual({
      FallbackUrl: 'https://www.example.com/test-site',
      LocationUrl: 'https://example.aws',
    });
    expect(result.certificate).toMatchObject({ source: 'id', status: 'ACTIVE' });
  });

  it('T03: a DeviceLocation missing from LocationTable is a provisioning error', () => {
    const errors = evaluationErrors('T03', {
      parameters: { ...caseParameters('T03'), DeviceLocation: 'Berlin' },
      certificate: claimedCertificate,
    });
    expect(errors).toEqual([
      {
        path: 'DeviceConfiguration.LocationUrl',
        message: 'Fn::FindInMap: mapping "LocationTable" has no key "Berlin"',
      },
    ]);
  });

  it('T04 and T05 run when undeclared Refs are read from the dictionary (the documented hook flow)', () => {
    const options: ParseOptions = { undeclaredParameters: 'from-dictionary' };
    // T04 declares nothing, so no Default either: the dictionary must hold Location.
    const t04 = plan('T04', { parameters: { ...caseParameters('T01'), Location: 'WA' } }, options);
    expect(t04.thing).toMatchObject({ thingName: 'foo', thingGroups: ['v1-lightbulbs', 'WA'] });

    const t05Case = referenceCase('T05').parameters[0] as {
      _hookResponse: { parameterOverrides: Record<string, string> };
    };
    // "parameterOverrides values will be added to parameters" (pre-provisioning hook).
    const parameters = { ...caseParameters('T05'), ...t05Case._hookResponse.parameterOverrides };
    const t05 = plan('T05', { parameters, certificate: claimedCertificate }, options);
    expect(t05.thing).toMatchObject({
      thingName: 'ThingPrefix_123',
      thingTypeName: 'ThingTypePrefix_123',
      thingGroups: ['widgets', 'WA'],
      billingGroup: 'BillingGroup',
    });
    expect(t05.deviceConfiguration.LocationUrl).toBe('https://example.aws');
  });

  it('T06: thing ThingPrefix_1, device configuration, a new policy and Status REPLACE', () => {
    const result = plan('T06', { parameters: caseParameters('T06'), certificate: claimedCertificate });
    expect(result.thing?.thingName).toBe('ThingPrefix_1');
    expect(result.deviceConfiguration).toEqual({
      FallbackUrl: 'https://www.example.com/test-site',
      LocationUrl: 'https://example.aws',
    });
    expect(result.policies).toMatchObject([{ kind: 'new' }]);
    expect(result.certificate).toMatchObject({ status: 'ACTIVE', overrideSettings: { Status: 'REPLACE' } });
  });

  it('T07: thing group from a parameter, the existing Greengrass policy, empty attributes to REPLACE', () => {
    const result = plan('T07', { parameters: caseParameters('T07'), certificate: claimedCertificate });
    expect(result.thing).toMatchObject({
      logicalName: 'MyThing',
      thingName: 'MyGreengrassCore',
      thingGroups: ['MyGreengrassCoreGroup'],
      attributes: {},
      overrideSettings: { AttributePayload: 'REPLACE', ThingGroups: 'REPLACE', ThingTypeName: 'REPLACE' },
    });
    expect(result.policies).toEqual([
      { kind: 'existing', logicalName: 'MyPolicy', policyName: 'GreengrassV2IoTThingPolicy' },
    ]);
  });

  describe('T08 (the deep-dive parameters.json line, rebuilt from the case text)', () => {
    const line = {
      ThingName: 'ThingTypeD_eea9ae4efd1b4e41b9cc3b33dba1aa39',
      SerialNumber: 'eea9ae4efd1b4e41b9cc3b33dba1aa39',
      ThingTypeName: 'ThingTypeD',
      licenseType: 'basic',
      businessUnitMaker: 'AnyCompany',
      hardwareVersion: '100',
      softwareVersion: '200',
      CSR: '-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n',
    };

    it('gives 7 attributes (softwareVersion copies hardwareVersion, a source bug kept) and pre-existing names', () => {
      const result = plan('T08', { parameters: line });
      expect(result.thing).toMatchObject({
        thingName: line.ThingName,
        thingTypeName: 'ThingTypeD',
        billingGroup: 'AnyCompany',
        thingGroups: ['unclaimed'],
        attributes: {
          hardwareVersion: '100',
          softwareVersion: '100',
          serialNumber: line.SerialNumber,
          countryOrigin: 'US',
          businessUnitMaker: 'AnyCompany',
          licenseType: 'basic',
          provisioning: 'bulkRegistration',
        },
      });
      expect(result.policies).toEqual([
        { kind: 'existing', logicalName: 'policy', policyName: 'AnyTypeThing-policy' },
      ]);
    });

    it('takes an explicit ThingGroup "" as the value, not the Default, and so rejects it (OPEN)', () => {
      expect(evaluationErrors('T08', { parameters: { ...line, ThingGroup: '' } })).toEqual([
        { path: 'Resources.thing.Properties.ThingGroups[0]', message: 'thing group name must not be empty' },
      ]);
    });
  });

  describe('T09 (JITP with a Default on a built-in)', () => {
    it('uses the OU Default "unclaimed" when the certificate has no OU', () => {
      const certificate = subjectFacts('O=AnyCompany, CN=HW-100, dnQualifier=ThingTypeA, serialNumber=SN77');
      const result = plan('T09', { parameters: {}, certificate });
      expect(result.thing).toMatchObject({
        thingName: 'SN77',
        thingTypeName: 'ThingTypeA',
        billingGroup: 'AnyCompany',
        thingGroups: ['unclaimed'],
        attributes: { hardwareVersion: 'HW-100', serialNumber: 'SN77', provisioning: 'JITP' },
      });
    });

    it('fails when the subject has no serialNumber, which has no Default (SerialNumber = subject field)', () => {
      const certificate = subjectFacts('O=AnyCompany, CN=HW-100, dnQualifier=ThingTypeA');
      expect(evaluationErrors('T09', { parameters: {}, certificate }).map((error) => error.message)).toEqual([
        'the certificate has no value for AWS::IoT::Certificate::SerialNumber and the parameter has no Default',
      ]);
    });
  });

  it('T10: Berlin maps to https://www.berlin.de; the undeclared certificate id is a built-in', () => {
    const result = plan('T10', { parameters: caseParameters('T10'), certificate: claimedCertificate });
    expect(result.thing).toMatchObject({
      thingName: 'device-123',
      attributes: { version: 'v1', serialNumber: '123' },
      thingGroups: ['fleet-provisioning-group'],
    });
    expect(result.deviceConfiguration.LocationUrl).toBe('https://www.berlin.de');
    expect(result.certificate).toMatchObject({ certificateId: claimedCertificate.id });
  });

  it.each(['T11', 'T12'])('%s works once the PolicyName placeholder is filled, as app.py does', (id) => {
    const template = JSON.parse(body(id)) as {
      Resources: { policy: { Properties: { PolicyName: string } } };
    };
    template.Resources.policy.Properties.PolicyName = 'fleet_prod_policy';
    const parsed = parseTemplate(JSON.stringify(template));
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    const evaluated = evaluateTemplate(parsed.value, {
      parameters: { DeviceSerial: 'SN123', CertDate: '2021-02-11' },
      certificate: claimedCertificate,
    });
    expect(evaluated.ok && evaluated.value.thing).toMatchObject({
      thingName: 'SN123',
      attributes: { cert_issuance: '2021-02-11' },
      thingGroups: [],
    });
    expect(evaluated.ok && evaluated.value.policies).toEqual([
      { kind: 'existing', logicalName: 'policy', policyName: 'fleet_prod_policy' },
    ]);
  });

  it('T13: bulk lines as mk-bulk.sh writes them; a bad line is reported and the rest go on', async () => {
    const csr = '-----BEGIN CERTIFICATE REQUEST-----\\nMIIB\\n-----END CERTIFICATE REQUEST-----\\n';
    const input = [
      `{"ThingName": "bulk1", "SerialNumber": "1", "CSR": "${csr}"}`,
      '{"ThingName": "bulk2", "SerialNumber": 2}',
      `{"ThingName": "bulk3", "SerialNumber": "3", "CSR": "${csr}"}`,
    ].join('\n');
    const parsed = parseTemplate(body('T13'));
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    const outcomes: string[] = [];
    for await (const line of readBulkInput(chunks(input, 7))) {
      if ('errors' in line) {
        outcomes.push(`${line.line}: ${line.errors[0]?.message}`);
        continue;
      }
      const evaluated = evaluateTemplate(parsed.value, { parameters: line.parameters });
      outcomes.push(
        evaluated.ok ? `${line.line}: ${evaluated.value.thing?.thingName}` : `${line.line}: failed`,
      );
      if (evaluated.ok) {
        expect(evaluated.value.thing).toMatchObject({
          thingTypeName: 'bulk-type',
          thingGroups: ['bulk-group'],
        });
        expect(evaluated.value.policies[0]).toHaveProperty('document.Statement.0.Action', ['iot:*']);
        expect(evaluated.value.certificate).toMatchObject({ source: 'csr' });
      }
    }
    expect(outcomes).toEqual(['1: bulk1', '2: a parameter value must be a string, found number', '3: bulk3']);
  });
});

async function* chunks(text: string, size: number): AsyncGenerator<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  for (let at = 0; at < bytes.length; at += size) yield bytes.slice(at, at + size);
}
