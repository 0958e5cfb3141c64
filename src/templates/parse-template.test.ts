import { describe, expect, it } from 'vitest';
import { parseTemplate, validateTemplate } from './index.js';

/** A minimal valid template with the given thing properties (and extra sections). */
function withThing(properties: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    Parameters: { Name: { Type: 'String' }, Location: { Type: 'String', Default: 'WA' } },
    Resources: { thing: { Type: 'AWS::IoT::Thing', Properties: { ThingName: 'lamp-1', ...properties } } },
    ...extra,
  });
}

function faults(body: string): string[] {
  return validateTemplate(body).map((issue) => `${issue.path}: ${issue.message}`);
}

describe('parseTemplate: the body', () => {
  it('refuses a body over 10,240 characters before parsing it', () => {
    const body = withThing({}, { DeviceConfiguration: { Pad: 'x'.repeat(10_240) } });
    expect(faults(body)).toEqual([
      `: the template body is ${body.length} characters long (AWS accepts at most 10240)`,
    ]);
  });

  it('refuses text that is not JSON, and JSON that is not an object', () => {
    expect(faults('{"Resources": ')[0]).toMatch(/^: the template is not valid JSON/);
    expect(faults('[]')).toEqual([': a template is a JSON object of sections, found a list']);
  });

  it('names unknown sections, such as Conditions and Outputs, and a missing Resources', () => {
    expect(faults('{"Conditions": {}, "Outputs": {}}')).toEqual([
      'Conditions: unknown section "Conditions" (AWS IoT templates have Parameters, Mappings, Resources, DeviceConfiguration)',
      'Outputs: unknown section "Outputs" (AWS IoT templates have Parameters, Mappings, Resources, DeviceConfiguration)',
      'Resources: a template needs a Resources section',
    ]);
  });

  it('returns every fault, not only the first', () => {
    const body = withThing({ ThingName: 'has space', ThingTypeName: { 'Fn::If': [] }, BillingGroup: 7 });
    expect(faults(body)).toHaveLength(3);
  });
});

describe('parseTemplate: Parameters and Mappings', () => {
  it('accepts only Type String with an optional string Default', () => {
    const body = JSON.stringify({
      Parameters: {
        A: { Type: 'Number' },
        B: { Type: 'String', Default: 3 },
        C: { Type: 'String', Description: 'x' },
        D: 'String',
      },
      Resources: { p: { Type: 'AWS::IoT::Policy', Properties: { PolicyName: 'p' } } },
    });
    expect(faults(body)).toEqual([
      'Parameters.A.Type: parameter Type must be "String", found "Number"',
      'Parameters.B.Default: a Default is a literal string, found a number',
      'Parameters.C.Description: unknown parameter key "Description" (Type, Default)',
      'Parameters.D: a parameter is an object {Type, Default}, found a string',
    ]);
  });

  it('refuses an AWS:: parameter that is not one of the certificate built-ins', () => {
    const body = JSON.stringify({
      Parameters: { 'AWS::Region': { Type: 'String' }, 'AWS::IoT::Certificate::Country': { Type: 'String' } },
      Resources: { p: { Type: 'AWS::IoT::Policy', Properties: { PolicyName: 'p' } } },
    });
    expect(faults(body)).toEqual([
      'Parameters.AWS::Region: "AWS::Region" is not a built-in parameter of AWS IoT templates',
    ]);
  });

  it('refuses functions and nested objects inside Mappings', () => {
    const body = withThing(
      {},
      { Mappings: { Table: { Seattle: { Url: { Ref: 'Name' }, List: ['a', 'b'], Deep: { x: 'y' } } } } },
    );
    expect(faults(body)).toEqual([
      'Mappings.Table.Seattle.Url: functions are not allowed inside Mappings',
      'Mappings.Table.Seattle.Deep: a mapping value is a string or a list of strings, found an object',
    ]);
  });
});

describe('parseTemplate: resources', () => {
  it('names an unknown resource type, resource key and property', () => {
    const body = JSON.stringify({
      Resources: {
        role: { Type: 'AWS::IAM::Role', Properties: {} },
        thing: {
          Type: 'AWS::IoT::Thing',
          Properties: { ThingName: 'a', PackageVersions: {} },
          Condition: 'x',
        },
      },
    });
    expect(faults(body)).toEqual([
      'Resources.role.Type: unknown resource type "AWS::IAM::Role" (AWS::IoT::Thing, AWS::IoT::Certificate, AWS::IoT::Policy)',
      'Resources.thing.Condition: unknown resource key "Condition" (Type, Properties, OverrideSettings)',
      'Resources.thing.Properties.PackageVersions: unknown property of AWS::IoT::Thing (ThingName, AttributePayload, ThingTypeName, ThingGroups, BillingGroup)',
    ]);
  });

  it('holds literal names to the AWS patterns and limits', () => {
    const body = withThing({
      ThingName: 'lamp 1',
      AttributePayload: { 'bad name': 'v', a: 'has space', b: 'x', c: 'y' },
      ThingGroups: Array.from({ length: 11 }, (_, i) => `g${i}`),
    });
    expect(faults(body)).toEqual([
      'Resources.thing.Properties.ThingName: thing name "lamp 1" may contain only letters, digits, ":", "_" and "-"',
      'Resources.thing.Properties.AttributePayload.bad name: attribute name "bad name" may contain only letters, digits and "_.,@/:#-"',
      'Resources.thing.Properties.AttributePayload.a: attribute value "has space" may contain only letters, digits and "_.,@/:#=[]-"',
      'Resources.thing.Properties.AttributePayload: a thing without a thing type has at most 3 attributes, found 4',
      'Resources.thing.Properties.ThingGroups: a thing belongs to at most 10 groups, found 11',
    ]);
  });

  it('allows 50 attributes once the thing has a type', () => {
    const attributes = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`a${i}`, 'v']));
    expect(faults(withThing({ ThingTypeName: 'lamp', AttributePayload: attributes }))).toEqual([]);
    expect(
      faults(withThing({ ThingTypeName: 'lamp', AttributePayload: { ...attributes, a50: 'v' } })),
    ).toEqual(['Resources.thing.Properties.AttributePayload: a thing has at most 50 attributes, found 51']);
  });

  it('requires a ThingName and at most one thing and one certificate', () => {
    const body = JSON.stringify({
      Resources: {
        a: { Type: 'AWS::IoT::Thing', Properties: {} },
        b: { Type: 'AWS::IoT::Thing', Properties: { ThingName: 'b' } },
      },
    });
    expect(faults(body)).toEqual([
      'Resources.a.Properties.ThingName: a thing needs a ThingName',
      'Resources.b: a template holds at most one AWS::IoT::Thing (already "a")',
    ]);
  });

  it('takes exactly one certificate source, and a CA certificate only with a PEM', () => {
    const certificate = (properties: Record<string, unknown>) =>
      faults(JSON.stringify({ Resources: { c: { Type: 'AWS::IoT::Certificate', Properties: properties } } }));
    expect(certificate({ CertificateId: 'ab'.repeat(32), CertificateSigningRequest: 'csr' })).toEqual([
      'Resources.c.Properties: a certificate needs exactly one of CertificateSigningRequest, CertificateId, CertificatePem, found CertificateSigningRequest, CertificateId',
    ]);
    expect(certificate({ Status: 'ACTIVE' })[0]).toMatch(/found none$/);
    expect(certificate({ CertificateSigningRequest: 'csr', CACertificatePem: 'ca' })).toEqual([
      'Resources.c.Properties.CACertificatePem: CACertificatePem goes only with CertificatePem',
    ]);
    expect(certificate({ CertificatePem: 'pem', CACertificatePem: 'ca', Status: 'inactive' })).toEqual([]);
    expect(certificate({ CertificateId: 'not-hex' })).toEqual([
      'Resources.c.Properties.CertificateId: certificate id "not-hex" is not 64 hex digits',
    ]);
    expect(certificate({ CertificateSigningRequest: 'csr', Status: 'REVOKED' })).toEqual([
      'Resources.c.Properties.Status: certificate Status "REVOKED" is not ACTIVE or INACTIVE',
    ]);
  });

  it('takes PolicyName xor PolicyDocument and checks documents with the policy engine', () => {
    const policy = (properties: Record<string, unknown>) =>
      faults(JSON.stringify({ Resources: { p: { Type: 'AWS::IoT::Policy', Properties: properties } } }));
    expect(policy({})[0]).toMatch(/either PolicyName .* or PolicyDocument/);
    expect(policy({ PolicyName: 'a', PolicyDocument: {} })[0]).toMatch(/not both or neither/);
    expect(policy({ PolicyName: 'has space' })[0]).toMatch(/^Resources.p.Properties.PolicyName: policy name/);
    expect(policy({ PolicyDocument: '{not json' })[0]).toMatch(
      /^Resources.p.Properties.PolicyDocument: .*not valid JSON/,
    );
    expect(
      policy({
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [{ Effect: 'Maybe', Action: 'iot:*', Resource: '*' }],
        },
      }),
    ).toEqual(['Resources.p.Properties.PolicyDocument.Statement[0].Effect: must be "Allow" or "Deny"']);
  });
});

describe('parseTemplate: OverrideSettings', () => {
  const thing = (overrides: unknown) =>
    faults(
      JSON.stringify({
        Resources: {
          t: { Type: 'AWS::IoT::Thing', Properties: { ThingName: 't' }, OverrideSettings: overrides },
        },
      }),
    );

  it('allows MERGE only for AttributePayload and ThingGroups', () => {
    expect(thing({ AttributePayload: 'MERGE', ThingGroups: 'MERGE', ThingTypeName: 'FAIL' })).toEqual([]);
    expect(thing({ ThingTypeName: 'MERGE' })).toEqual([
      "Resources.t.OverrideSettings.ThingTypeName: MERGE applies only to a thing's AttributePayload and ThingGroups",
    ]);
  });

  it('reads the prose spelling ATTRIBUTE_PAYLOAD as the property name', () => {
    const parsed = parseTemplate(
      JSON.stringify({
        Resources: {
          t: {
            Type: 'AWS::IoT::Thing',
            Properties: { ThingName: 't' },
            OverrideSettings: { ATTRIBUTE_PAYLOAD: 'REPLACE' },
          },
        },
      }),
    );
    expect(parsed.ok && parsed.value.resources[0]).toMatchObject({
      overrideSettings: { AttributePayload: 'REPLACE' },
    });
  });

  it('refuses one property overridden under both spellings, whichever comes first', () => {
    expect(thing({ ThingGroups: 'FAIL', THING_GROUPS: 'REPLACE' })).toEqual([
      'Resources.t.OverrideSettings.THING_GROUPS: "THING_GROUPS" overrides ThingGroups again (already given as "ThingGroups"); give each property once',
    ]);
    expect(thing({ ATTRIBUTE_PAYLOAD: 'MERGE', AttributePayload: 'MERGE' })).toEqual([
      'Resources.t.OverrideSettings.AttributePayload: "AttributePayload" overrides AttributePayload again (already given as "ATTRIBUTE_PAYLOAD"); give each property once',
    ]);
    const certificate = faults(
      JSON.stringify({
        Resources: {
          c: {
            Type: 'AWS::IoT::Certificate',
            Properties: { CertificateId: 'a'.repeat(64) },
            OverrideSettings: { STATUS: 'DO_NOTHING', Status: 'REPLACE' },
          },
        },
      }),
    );
    expect(certificate).toEqual([
      'Resources.c.OverrideSettings.Status: "Status" overrides Status again (already given as "STATUS"); give each property once',
    ]);
  });

  it('names unknown keys and actions, and overrides on a policy', () => {
    expect(thing({ BillingGroup: 'REPLACE', ThingGroups: 'replace' })).toEqual([
      'Resources.t.OverrideSettings.BillingGroup: unknown override "BillingGroup" (AttributePayload, ThingTypeName, ThingGroups)',
      'Resources.t.OverrideSettings.ThingGroups: override must be one of DO_NOTHING, REPLACE, FAIL, MERGE, found "replace"',
    ]);
    const policy = faults(
      JSON.stringify({
        Resources: {
          p: { Type: 'AWS::IoT::Policy', Properties: { PolicyName: 'p' }, OverrideSettings: { X: 'FAIL' } },
        },
      }),
    );
    expect(policy).toEqual(['Resources.p.OverrideSettings.X: policies take no OverrideSettings']);
  });
});

describe('parseTemplate: DeviceConfiguration', () => {
  it('refuses nested objects and non-string values, as RegisterThing returns a flat string map', () => {
    const body = withThing(
      {},
      { DeviceConfiguration: { Nested: { a: 'b' }, Count: 3, Url: { Ref: 'Location' } } },
    );
    expect(faults(body)).toEqual([
      'DeviceConfiguration.Nested: DeviceConfiguration does not support nested objects',
      'DeviceConfiguration.Count: expected a string, found a number',
    ]);
  });
});
