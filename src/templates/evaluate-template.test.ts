import { describe, expect, it } from 'vitest';
import { isStationError } from '../api/errors.js';
import { resourcePlanSchema, type CertificateFacts } from '../api/templates.js';
import { evaluateTemplate, loadTemplate, planResources, policyNameForDocument } from './index.js';

const template = (resources: Record<string, unknown>, parameters: Record<string, unknown> = {}) =>
  loadTemplate(JSON.stringify({ Parameters: parameters, Resources: resources }));

const stringParameters = (...names: string[]) =>
  Object.fromEntries(names.map((name) => [name, { Type: 'String' }]));

function faults(
  parsed: ReturnType<typeof template>,
  parameters: Record<string, unknown>,
  certificate?: CertificateFacts,
) {
  const outcome = evaluateTemplate(parsed, { parameters, certificate });
  return outcome.ok ? [] : outcome.errors.map((issue) => `${issue.path}: ${issue.message}`);
}

describe('evaluateTemplate: things', () => {
  const thing = template(
    {
      thing: {
        Type: 'AWS::IoT::Thing',
        Properties: {
          ThingName: { Ref: 'Name' },
          AttributePayload: { serial: { Ref: 'Serial' } },
          ThingGroups: ['WA', { Ref: 'Group' }],
        },
        OverrideSettings: { ThingGroups: 'MERGE' },
      },
    },
    stringParameters('Name', 'Serial', 'Group'),
  );

  it('holds resolved values to the AWS patterns, naming the property', () => {
    expect(faults(thing, { Name: 'lamp 1', Serial: 'S N', Group: '' })).toEqual([
      'Resources.thing.Properties.ThingName: thing name "lamp 1" may contain only letters, digits, ":", "_" and "-"',
      'Resources.thing.Properties.AttributePayload.serial: attribute value "S N" may contain only letters, digits and "_.,@/:#=[]-"',
      'Resources.thing.Properties.ThingGroups[1]: thing group name must not be empty',
    ]);
  });

  it('counts a group named twice once, and keeps the declared overrides', () => {
    const plan = planResources(thing, { parameters: { Name: 'lamp-1', Serial: 'S1', Group: 'WA' } });
    expect(plan.thing).toEqual({
      logicalName: 'thing',
      thingName: 'lamp-1',
      attributes: { serial: 'S1' },
      thingGroups: ['WA'],
      overrideSettings: { ThingGroups: 'MERGE' },
    });
    expect(plan.parameters).toEqual({ Name: 'lamp-1', Serial: 'S1', Group: 'WA' });
  });

  it('throws one StationError carrying every fault from planResources', () => {
    try {
      planResources(thing, { parameters: {} });
      expect.unreachable();
    } catch (error) {
      expect(isStationError(error) && error.code).toBe('template.evaluation_failed');
      expect(isStationError(error) && (error.details?.errors as unknown[]).length).toBe(3);
    }
  });
});

describe('evaluateTemplate: the parameter dictionary', () => {
  const named = template(
    { thing: { Type: 'AWS::IoT::Thing', Properties: { ThingName: { Ref: 'N' } } } },
    stringParameters('N'),
  );

  it('reports a value it refuses once, not again as a parameter with no value', () => {
    expect(faults(named, { N: 5 })).toEqual([
      'parameters.N: a parameter value must be a string, found number',
    ]);
    expect(faults(named, { N: 'x'.repeat(4097) })).toEqual([
      'parameters.N: a parameter value has at most 4096 characters, found 4097',
    ]);
    expect(faults(named, {})).toEqual([
      'Resources.thing.Properties.ThingName: parameter "N" has no value and no Default',
    ]);
  });
});

describe('evaluateTemplate: certificates', () => {
  it('normalises Status case and certificate ids, defaulting Status to ACTIVE', () => {
    const parsed = template(
      {
        c: {
          Type: 'AWS::IoT::Certificate',
          Properties: { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' }, Status: { Ref: 'Status' } },
        },
      },
      stringParameters('Status'),
    );
    const facts: CertificateFacts = { id: 'AB'.repeat(32), subject: {} };
    const plan = planResources(parsed, { parameters: { Status: 'Inactive' }, certificate: facts });
    expect(plan.certificate).toEqual({
      logicalName: 'c',
      source: 'id',
      certificateId: 'ab'.repeat(32),
      status: 'INACTIVE',
      overrideSettings: {},
    });
    expect(faults(parsed, { Status: 'revoked' }, facts)).toEqual([
      'Resources.c.Properties.Status: certificate Status "revoked" is not ACTIVE or INACTIVE',
    ]);
  });

  it('plans a PEM registration with its CA', () => {
    const parsed = template({
      c: { Type: 'AWS::IoT::Certificate', Properties: { CertificatePem: 'pem', CACertificatePem: 'ca' } },
    });
    expect(planResources(parsed, { parameters: {} }).certificate).toEqual({
      logicalName: 'c',
      source: 'pem',
      certificatePem: 'pem',
      caCertificatePem: 'ca',
      status: 'ACTIVE',
      overrideSettings: {},
    });
  });

  it('takes built-ins from the certificate, never from the dictionary, when a certificate is given', () => {
    const parsed = template(
      {
        t: {
          Type: 'AWS::IoT::Thing',
          Properties: { ThingName: { Ref: 'AWS::IoT::Certificate::CommonName' } },
        },
      },
      { 'AWS::IoT::Certificate::CommonName': { Type: 'String' } },
    );
    const certificate: CertificateFacts = { id: 'ab'.repeat(32), subject: { commonName: 'from-cert' } };
    const parameters = { 'AWS::IoT::Certificate::CommonName': 'spoofed' };
    expect(planResources(parsed, { parameters, certificate }).thing?.thingName).toBe('from-cert');
    expect(planResources(parsed, { parameters }).thing?.thingName).toBe('spoofed');
  });
});

describe('evaluateTemplate: policies', () => {
  const document = {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: 'iot:Publish',
        Resource: { 'Fn::Sub': 'arn:aws:iot:eu-west-1:111122223333:topic/dt/${Serial}/${!iot:ClientId}' },
      },
    ],
  };

  it('evaluates functions inside a document object and names the policy by the hash of the result', () => {
    const parsed = template(
      { p: { Type: 'AWS::IoT::Policy', Properties: { PolicyDocument: document } } },
      stringParameters('Serial'),
    );
    const plan = planResources(parsed, { parameters: { Serial: 'SN1' } });
    const expected = {
      ...document,
      Statement: [
        {
          ...document.Statement[0],
          Resource: 'arn:aws:iot:eu-west-1:111122223333:topic/dt/SN1/${iot:ClientId}',
        },
      ],
    };
    expect(plan.policies).toEqual([
      { kind: 'new', logicalName: 'p', policyName: policyNameForDocument(expected), document: expected },
    ]);
  });

  it('gives the same name to the same document written as text or as an object', () => {
    const literal = {
      Version: '2012-10-17',
      Statement: { Effect: 'Allow', Action: 'iot:Connect', Resource: '*' },
    };
    const asText = template({
      p: { Type: 'AWS::IoT::Policy', Properties: { PolicyDocument: JSON.stringify(literal, null, 4) } },
    });
    const asObject = template({ p: { Type: 'AWS::IoT::Policy', Properties: { PolicyDocument: literal } } });
    const name = (parsed: ReturnType<typeof template>) =>
      planResources(parsed, { parameters: {} }).policies[0]?.policyName;
    expect(name(asText)).toMatch(/^[0-9A-F]{40}$/);
    expect(name(asText)).toBe(name(asObject));
  });

  it('checks a document built at evaluation with the policy engine', () => {
    const parsed = template(
      {
        p: {
          Type: 'AWS::IoT::Policy',
          Properties: {
            PolicyDocument: {
              'Fn::Sub':
                '{"Version":"2012-10-17","Statement":{"Effect":"${Effect}","Action":"iot:*","Resource":"*"}}',
            },
          },
        },
      },
      stringParameters('Effect'),
    );
    expect(planResources(parsed, { parameters: { Effect: 'Deny' } }).policies[0]?.kind).toBe('new');
    expect(faults(parsed, { Effect: 'Perhaps' })).toEqual([
      'Resources.p.Properties.PolicyDocument.Statement.Effect: must be "Allow" or "Deny"',
    ]);
  });

  it('produces plans that satisfy the contract schema', () => {
    const parsed = template(
      { p: { Type: 'AWS::IoT::Policy', Properties: { PolicyDocument: document } } },
      stringParameters('Serial'),
    );
    expect(() =>
      resourcePlanSchema.parse(planResources(parsed, { parameters: { Serial: 'x' } })),
    ).not.toThrow();
  });
});

describe('policyNameForDocument', () => {
  it('ignores key order and whitespace', () => {
    expect(policyNameForDocument({ a: 1, b: [1, { d: 2, c: 3 }] })).toBe(
      policyNameForDocument({ b: [1, { c: 3, d: 2 }], a: 1 }),
    );
    expect(policyNameForDocument({ a: 1 })).not.toBe(policyNameForDocument({ a: 2 }));
  });
});
